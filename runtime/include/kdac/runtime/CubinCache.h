//===- CubinCache.h - In-memory and on-disk cache of compiled kernels -----===//
//
// NVRTC takes 100 ms to seconds per kernel, so compiled images are kept in a
// process-wide map and in a directory shared by every kdac process. Entries
// on disk are written atomically (unique temp file + rename) and carry their
// length and SHA-256, so concurrent writers are safe and a truncated or
// corrupted file is detected and recompiled instead of loaded. Only a
// directory of the current user that no one else can write is used, and only
// regular files of that user in it are read.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_RUNTIME_CUBINCACHE_H
#define KDAC_RUNTIME_CUBINCACHE_H

#include "kdac/runtime/Expected.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kdac::rt {

/// An immutable compiled image (CUBIN, or NUL-terminated PTX), shared between
/// the cache and its users without copies.
using KernelImage = std::shared_ptr<const std::vector<char>>;

enum class CacheSource { Memory, Disk, Compiled };
const char *toString(CacheSource source);

struct CubinCacheStats {
  uint64_t memoryHits = 0;
  uint64_t diskHits = 0;
  uint64_t misses = 0;
  /// Disk entries rejected (not a regular file of ours, too large, bad
  /// magic, size, key or checksum).
  uint64_t corruptEntries = 0;
  /// Disk accesses skipped because the directory is not trusted (owned by
  /// another user, or writable by group or others).
  uint64_t untrustedDirectory = 0;
  uint64_t stores = 0;
  uint64_t storeFailures = 0;
};

class CubinCache {
public:
  /// An empty `directory` keeps the cache in memory only.
  explicit CubinCache(std::string directory);

  /// The largest entry read back: a bigger file is rejected unread.
  static constexpr int64_t kMaxEntryBytes = int64_t(256) << 20;

  /// $KDAC_CACHE_DIR, else $XDG_CACHE_HOME/kdac, else $HOME/.cache/kdac, else
  /// /tmp/kdac-cache-<uid>; "" (memory only) when $KDAC_CACHE is "off".
  static std::string defaultDirectory();

  /// Why the directory must not be used, or "" when it may: it must be a
  /// directory owned by this user and writable by no one else (an entry
  /// planted by another user would be loaded as a kernel). A directory that
  /// does not exist yet is fine: it is created with mode 0700.
  std::string distrust() const;
  /// Keys are lowercase hex SHA-256 digests (64 characters); anything else is
  /// refused so that a key can never name a path outside the directory.
  static bool isValidKey(const std::string &key);

  const std::string &directory() const { return directory_; }
  std::string entryPath(const std::string &key) const;

  struct Hit {
    KernelImage image;
    CacheSource source;
  };
  /// Memory first, then disk (a disk hit is promoted to memory).
  std::optional<Hit> lookup(const std::string &key);
  /// Stores in memory and, atomically, on disk. A disk failure is returned
  /// but the memory entry is kept, so callers may treat it as a warning.
  Status store(const std::string &key, KernelImage image);

  CubinCacheStats stats() const;

  /// The on-disk encoding, exposed for tests: header, key, payload.
  static std::vector<char> encodeEntry(const std::string &key,
                                       const std::vector<char> &payload);
  /// Returns the payload, or an error saying why the entry is invalid.
  static Expected<std::vector<char>>
  decodeEntry(const std::string &key, const std::vector<char> &bytes);

private:
  std::optional<std::vector<char>> readFromDisk(const std::string &key);
  Status writeToDisk(const std::string &key, const std::vector<char> &payload);

  std::string directory_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, KernelImage> memory_;
  CubinCacheStats stats_;
};

} // namespace kdac::rt

#endif // KDAC_RUNTIME_CUBINCACHE_H
