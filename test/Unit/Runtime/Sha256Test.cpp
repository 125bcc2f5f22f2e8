//===- Sha256Test.cpp - SHA-256 against the FIPS 180-4 test vectors -------===//
//
// Cache keys and entry checksums rely on this implementation; the standard
// vectors cover padding at and across block boundaries.
//
//===----------------------------------------------------------------------===//
#include "kdac/runtime/Sha256.h"

#include <gtest/gtest.h>

using kdac::rt::Sha256;

TEST(Sha256, EmptyInput) {
  EXPECT_EQ(Sha256::hexDigest(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, Abc) {
  EXPECT_EQ(Sha256::hexDigest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, TwoBlockMessage) {
  EXPECT_EQ(Sha256::hexDigest(
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, MillionAs) {
  EXPECT_EQ(Sha256::hexDigest(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesMatchOneShot) {
  std::string text;
  for (int i = 0; i < 1000; ++i)
    text += char('a' + i % 26);
  for (size_t split : {size_t(0), size_t(1), size_t(55), size_t(56), size_t(63),
                       size_t(64), size_t(65), size_t(999)}) {
    Sha256 hasher;
    hasher.update(std::string_view(text).substr(0, split));
    hasher.update(std::string_view(text).substr(split));
    EXPECT_EQ(Sha256::toHex(hasher.finish()), Sha256::hexDigest(text))
        << "split at " << split;
  }
}

TEST(Sha256, FieldsAreLengthDelimited) {
  Sha256 first, second;
  first.updateField("ab");
  first.updateField("c");
  second.updateField("a");
  second.updateField("bc");
  EXPECT_NE(first.finish(), second.finish());
}
