//===- Sha256.h - SHA-256 for cache keys and payload checksums ------------===//
//
// Cubin cache keys must not collide across the lifetime of a shared cache
// directory, and entries on disk carry a checksum of their payload; a 64-bit
// hash is too weak for either, so the runtime carries a small SHA-256
// (FIPS 180-4) instead of depending on a crypto library.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_RUNTIME_SHA256_H
#define KDAC_RUNTIME_SHA256_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kdac::rt {

class Sha256 {
public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  void update(const void *data, size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  /// Hashes the length before the bytes, so that a sequence of fields cannot
  /// collide with a different split of the same bytes ("ab","c" vs "a","bc").
  void updateField(std::string_view field);
  /// Ends the computation; the object must not be updated afterwards.
  Digest finish();

  static Digest digest(std::string_view data);
  static std::string hexDigest(std::string_view data);
  static std::string toHex(const Digest &digest);

private:
  void compressBlock(const uint8_t *block);
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t bufferSize_ = 0;
  uint64_t totalBytes_ = 0;
};

} // namespace kdac::rt

#endif // KDAC_RUNTIME_SHA256_H
