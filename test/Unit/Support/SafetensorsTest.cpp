//===- SafetensorsTest.cpp - Safetensors reader/writer and dtype rounding -===//
//
// Round trips for every dtype, a hand-built file in the exact on-disk
// format, one test per malformed-file error path (the message must name the
// problem), and round-to-nearest-even spot checks at the ties where double
// rounding through float would give a different answer.
//
//===----------------------------------------------------------------------===//
#include "kdac/Support/Safetensors.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace kdac;

namespace {

/// The message of an expected failure ("" and a test failure on success).
template <typename T> std::string errorOf(llvm::Expected<T> result) {
  if (result)
    return "<unexpected success>";
  return llvm::toString(result.takeError());
}

/// A whole file from a header text and a data region, as a Python writer
/// would produce it.
std::string makeFile(const std::string &header, const std::string &data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string parseError(const std::string &header, const std::string &data) {
  return errorOf(parseSafetensors(makeFile(header, data), "bad.safetensors"));
}

uint16_t bits16(const Tensor &t, int64_t i) {
  return uint16_t(t.bytes[2 * i] | (t.bytes[2 * i + 1] << 8));
}

} // namespace

TEST(Safetensors, DTypeNames) {
  for (TensorDType t : {TensorDType::F64, TensorDType::F32, TensorDType::F16,
                        TensorDType::BF16, TensorDType::I64, TensorDType::I32})
    EXPECT_EQ(parseTensorDType(toString(t)), t);
  EXPECT_FALSE(parseTensorDType("F8_E4M3").has_value());
  EXPECT_EQ(itemSize(TensorDType::BF16), 2);
  EXPECT_EQ(itemSize(TensorDType::I64), 8);
}

TEST(Safetensors, RoundTripEveryDType) {
  // Values exactly representable in every float dtype, incl. a subnormal of
  // f16 (2^-24) and negatives, so the round trip must be exact.
  std::vector<double> floats = {
      0.0, -1.5, 0.25, 3.0, 1024.0, -0.0078125, std::ldexp(1.0, -24)};
  std::vector<int64_t> ints = {0, -1, 7, 2147483647, -2147483647 - 1, 42, 3};
  SafetensorsFile file;
  for (TensorDType t : {TensorDType::F64, TensorDType::F32, TensorDType::F16,
                        TensorDType::BF16})
    file.tensors[std::string("t_") + toString(t)] =
        Tensor::fromDoubles(t, {7}, floats);
  file.tensors["t_I32"] = Tensor::fromInts(TensorDType::I32, {7}, ints);
  std::vector<int64_t> big = ints;
  big[0] = (int64_t(1) << 62) + 1; // beyond double precision
  file.tensors["t_I64"] = Tensor::fromInts(TensorDType::I64, {7, 1}, big);
  file.tensors["empty"] = Tensor::fromDoubles(TensorDType::F32, {0, 3}, {});
  file.tensors["scalar"] = Tensor::fromDoubles(TensorDType::F32, {}, {2.5});
  file.metadata["B"] = "2";
  file.metadata["scale"] = "\"0.17\"";

  std::string bytes = serializeSafetensors(file);
  llvm::Expected<SafetensorsFile> back = parseSafetensors(bytes, "mem");
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  EXPECT_EQ(back->metadata, file.metadata);
  ASSERT_EQ(back->tensors.size(), file.tensors.size());
  for (const auto &[name, t] : file.tensors) {
    const Tensor &u = back->tensors.at(name);
    EXPECT_EQ(u.dtype, t.dtype) << name;
    EXPECT_EQ(u.shape, t.shape) << name;
    EXPECT_EQ(u.bytes, t.bytes) << name;
  }
  for (TensorDType t : {TensorDType::F64, TensorDType::F32, TensorDType::F16,
                        TensorDType::BF16})
    EXPECT_EQ(back->tensors.at(std::string("t_") + toString(t)).toDoubles(),
              floats)
        << toString(t);
  EXPECT_EQ(back->tensors.at("t_I32").toInts(), ints);
  EXPECT_EQ(back->tensors.at("t_I64").toInts(), big);
  EXPECT_EQ(back->tensors.at("scalar").numElements(), 1);
  EXPECT_EQ(back->tensors.at("scalar").at(0), 2.5);
  EXPECT_EQ(back->tensors.at("empty").numElements(), 0);
}

TEST(Safetensors, WriterLayout) {
  SafetensorsFile file;
  file.tensors["b"] = Tensor::fromDoubles(TensorDType::F16, {3}, {1, 2, 3});
  file.tensors["a"] = Tensor::fromDoubles(TensorDType::F32, {1}, {1});
  std::string bytes = serializeSafetensors(file);
  uint64_t headerLen = 0;
  for (int i = 0; i < 8; ++i)
    headerLen |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  // Data 8-byte aligned, header padded with spaces, sorted contiguous data.
  EXPECT_EQ((8 + headerLen) % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + headerLen + 4 + 6);
  std::string header = bytes.substr(8, headerLen);
  EXPECT_NE(header.find("\"a\":{\"data_offsets\":[0,4]"), std::string::npos)
      << header;
  EXPECT_NE(header.find("\"b\":{\"data_offsets\":[4,10]"), std::string::npos)
      << header;
  // 1.0f little-endian right after the header, then f16 1.0 = 0x3C00.
  EXPECT_EQ(bytes.substr(8 + headerLen, 6),
            std::string("\0\0\x80\x3f\0\x3c", 6));
}

TEST(Safetensors, ParsesHandWrittenFile) {
  // Unsorted entries, out-of-order offsets and trailing header spaces, as
  // other writers may produce.
  std::string header =
      "{\"y\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [4, 20]},"
      " \"x\": {\"dtype\": \"BF16\", \"shape\": [1, 2], \"data_offsets\": "
      "[0, 4]}, \"__metadata__\": {\"k\": \"v\"}}   ";
  std::string data("\x80\x3f\x00\xc0" // bf16 1.0, -2.0
                   "\x05\0\0\0\0\0\0\0\xfe\xff\xff\xff\xff\xff\xff\xff",
                   20);
  llvm::Expected<SafetensorsFile> f =
      parseSafetensors(makeFile(header, data), "hand");
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ(f->metadata.at("k"), "v");
  EXPECT_EQ(f->tensors.at("x").toDoubles(), (std::vector<double>{1.0, -2.0}));
  EXPECT_EQ(f->tensors.at("x").shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(f->tensors.at("y").toInts(), (std::vector<int64_t>{5, -2}));
}

TEST(Safetensors, ErrorTooShort) {
  std::string msg = errorOf(parseSafetensors("abc", "short.safetensors"));
  EXPECT_NE(msg.find("short.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("too short"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorHeaderBeyondFile) {
  std::string file = makeFile("{}", "");
  file[0] = 100; // claims a 100-byte header in a 10-byte file
  std::string msg = errorOf(parseSafetensors(file, "f"));
  EXPECT_NE(msg.find("beyond the end"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorTruncatedData) {
  SafetensorsFile file;
  file.tensors["x"] = Tensor::fromDoubles(TensorDType::F32, {4}, {1, 2, 3, 4});
  std::string bytes = serializeSafetensors(file);
  bytes.resize(bytes.size() - 3);
  std::string msg = errorOf(parseSafetensors(bytes, "cut.safetensors"));
  EXPECT_NE(msg.find("cut.safetensors: tensor 'x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorBadJson) {
  std::string msg = parseError("{\"x\": {", "");
  EXPECT_NE(msg.find("bad.safetensors: header is not valid JSON"),
            std::string::npos)
      << msg;
}

TEST(Safetensors, ErrorHeaderNotObject) {
  std::string msg = parseError("[1, 2]", "");
  EXPECT_NE(msg.find("not a JSON object"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorEntryNotObject) {
  std::string msg = parseError("{\"x\": 3}", "");
  EXPECT_NE(msg.find("tensor 'x' is not a JSON object"), std::string::npos)
      << msg;
}

TEST(Safetensors, ErrorMissingDType) {
  std::string msg =
      parseError("{\"x\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", "abcd");
  EXPECT_NE(msg.find("tensor 'x' has no string 'dtype'"), std::string::npos)
      << msg;
}

TEST(Safetensors, ErrorMissingShape) {
  std::string msg = parseError(
      "{\"x\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", "abcd");
  EXPECT_NE(msg.find("tensor 'x' has no 'shape'"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorMissingOffsets) {
  std::string msg =
      parseError("{\"x\": {\"dtype\": \"F32\", \"shape\": [1]}}", "abcd");
  EXPECT_NE(msg.find("tensor 'x' has no 'data_offsets'"), std::string::npos)
      << msg;
}

TEST(Safetensors, ErrorUnknownDType) {
  std::string msg = parseError(
      "{\"x\": {\"dtype\": \"F8_E4M3\", \"shape\": [4], \"data_offsets\": "
      "[0, 4]}}",
      "abcd");
  EXPECT_NE(msg.find("unknown dtype 'F8_E4M3'"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorNegativeDim) {
  std::string msg = parseError(
      "{\"x\": {\"dtype\": \"F32\", \"shape\": [-1, 2], \"data_offsets\": "
      "[0, 4]}}",
      "abcd");
  EXPECT_NE(msg.find("negative dimension -1"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorNonIntegerShape) {
  std::string msg = parseError(
      "{\"x\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": "
      "[0, 4]}}",
      "abcd");
  EXPECT_NE(msg.find("non-integer entry in 'shape'"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorOffsetsOutOfRange) {
  std::string msg = parseError(
      "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": "
      "[0, 8]}}",
      "abcd");
  EXPECT_NE(msg.find("data_offsets [0, 8] out of range of the data (4 bytes)"),
            std::string::npos)
      << msg;
  msg = parseError("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], "
                   "\"data_offsets\": [4, 0]}}",
                   "abcd");
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorOffsetsMismatchShape) {
  std::string msg = parseError(
      "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": "
      "[0, 4]}}",
      "abcdefgh");
  EXPECT_NE(msg.find("hold 4 bytes, but dtype F32 and shape [2] need 8"),
            std::string::npos)
      << msg;
}

TEST(Safetensors, ErrorOffsetsNotPair) {
  std::string msg = parseError(
      "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}",
      "abcd");
  EXPECT_NE(msg.find("not a pair of integers"), std::string::npos) << msg;
}

TEST(Safetensors, ErrorNonStringMetadata) {
  std::string msg = parseError("{\"__metadata__\": {\"B\": 2}}", "");
  EXPECT_NE(msg.find("metadata value for 'B' is not a string"),
            std::string::npos)
      << msg;
  msg = parseError("{\"__metadata__\": [1]}", "");
  EXPECT_NE(msg.find("__metadata__ is not a JSON object"), std::string::npos)
      << msg;
}

TEST(Safetensors, FileRoundTripAndMissingFile) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("kdac-st", dir));
  llvm::SmallString<128> path(dir);
  llvm::sys::path::append(path, "x.safetensors");
  SafetensorsFile file;
  file.tensors["w"] = Tensor::fromDoubles(TensorDType::BF16, {2}, {0.5, -3});
  ASSERT_FALSE(bool(writeSafetensors(path, file)));
  llvm::Expected<SafetensorsFile> back = readSafetensors(path);
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  EXPECT_EQ(back->tensors.at("w").toDoubles(), (std::vector<double>{0.5, -3}));

  llvm::SmallString<128> missing(dir);
  llvm::sys::path::append(missing, "nope.safetensors");
  std::string msg = errorOf(readSafetensors(missing));
  EXPECT_NE(msg.find("nope.safetensors: cannot open"), std::string::npos)
      << msg;
  llvm::SmallString<128> badDir(dir);
  llvm::sys::path::append(badDir, "no/such/dir/y.safetensors");
  llvm::Error e = writeSafetensors(badDir, file);
  ASSERT_TRUE(bool(e));
  msg = llvm::toString(std::move(e));
  EXPECT_NE(msg.find("y.safetensors: cannot create a temporary file"),
            std::string::npos)
      << msg;
  llvm::sys::fs::remove(path);
  llvm::sys::fs::remove(dir);
}

TEST(Safetensors, RoundToNearestEvenBF16) {
  const double u = std::ldexp(1.0, -7);                         // bf16 ulp at 1
  EXPECT_EQ(roundToDType(1.0 + u / 2, TensorDType::BF16), 1.0); // tie -> even
  EXPECT_EQ(roundToDType(1.0 + 3 * u / 2, TensorDType::BF16), 1.0 + 2 * u);
  EXPECT_EQ(roundToDType(1.0 + u / 2 + 1e-12, TensorDType::BF16), 1.0 + u);
  // Just above a tie by less than a float ulp: rounding through float first
  // would land on the tie and then go to even (1.0); direct rounding is up.
  EXPECT_EQ(roundToDType(1.0 + u / 2 + std::ldexp(1.0, -40), TensorDType::BF16),
            1.0 + u);
  EXPECT_EQ(roundToDType(-1.0 - u / 2, TensorDType::BF16), -1.0);
  EXPECT_TRUE(std::isinf(roundToDType(1e39, TensorDType::BF16)));
  Tensor t = Tensor::fromDoubles(TensorDType::BF16, {3}, {1.0, -2.0, 1.0 + u});
  EXPECT_EQ(bits16(t, 0), 0x3F80);
  EXPECT_EQ(bits16(t, 1), 0xC000);
  EXPECT_EQ(bits16(t, 2), 0x3F81);
}

TEST(Safetensors, RoundToNearestEvenF16) {
  EXPECT_EQ(roundToDType(2049.0, TensorDType::F16), 2048.0); // tie -> even
  EXPECT_EQ(roundToDType(2051.0, TensorDType::F16), 2052.0); // tie -> even
  EXPECT_EQ(roundToDType(2049.5, TensorDType::F16), 2050.0);
  EXPECT_EQ(roundToDType(65519.0, TensorDType::F16), 65504.0);
  EXPECT_TRUE(std::isinf(roundToDType(65520.0, TensorDType::F16)));
  // Subnormals: quantum 2^-24.
  const double s = std::ldexp(1.0, -24);
  EXPECT_EQ(roundToDType(s / 2, TensorDType::F16), 0.0);
  EXPECT_EQ(roundToDType(3 * s / 2, TensorDType::F16), 2 * s);
  EXPECT_EQ(roundToDType(s * 0.51, TensorDType::F16), s);
  Tensor t =
      Tensor::fromDoubles(TensorDType::F16, {5}, {1.0, -2.0, s, 65504.0, 1e6});
  EXPECT_EQ(bits16(t, 0), 0x3C00);
  EXPECT_EQ(bits16(t, 1), 0xC000);
  EXPECT_EQ(bits16(t, 2), 0x0001);
  EXPECT_EQ(bits16(t, 3), 0x7BFF);
  EXPECT_EQ(bits16(t, 4), 0x7C00);
  EXPECT_EQ(t.at(2), s);
  EXPECT_TRUE(std::isinf(t.at(4)));
}

TEST(Safetensors, RoundToNearestEvenF32) {
  const double u = std::ldexp(1.0, -23);
  EXPECT_EQ(roundToDType(1.0 + u / 2, TensorDType::F32), 1.0);
  EXPECT_EQ(roundToDType(1.0 + 3 * u / 2, TensorDType::F32), 1.0 + 2 * u);
  EXPECT_EQ(roundToDType(0.1, TensorDType::F32), double(0.1f));
  EXPECT_EQ(roundToDType(std::ldexp(1.0, -150), TensorDType::F32), 0.0);
  EXPECT_EQ(roundToDType(0.1, TensorDType::F64), 0.1);
  EXPECT_TRUE(std::isnan(roundToDType(std::nan(""), TensorDType::BF16)));
  EXPECT_EQ(roundToDType(2.5, TensorDType::I64), 2.0);
  EXPECT_EQ(roundToDType(3.5, TensorDType::I32), 4.0);
}
