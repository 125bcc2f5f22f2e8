//===- CubinCache.cpp - In-memory and on-disk cache of compiled kernels ---===//
//
// Disk entries are "<dir>/<key>.kcubin": a fixed header (magic, format
// version, key length, payload length, payload SHA-256), the key, then the
// payload. A reader trusts nothing it has not checked: the file size must be
// exact and the checksum must match, which catches truncation by a crash and
// a writer that died before rename could not leave a partial file anyway.
//
//===----------------------------------------------------------------------===//
#include "kdac/runtime/CubinCache.h"

#include "DynamicLibrary.h"
#include "kdac/runtime/Sha256.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kdac::rt {

namespace {

constexpr char kMagic[8] = {'K', 'D', 'A', 'C', 'C', 'U', 'B', '\n'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = sizeof(kMagic) + 4 + 4 + 8 + 32;
constexpr const char *kEntrySuffix = ".kcubin";

/// Writes `value` little-endian into `out[0, bytes)`.
void putLittleEndian(char *out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out[i] = char(uint8_t(value >> (8 * i)));
}

uint64_t readLittleEndian(const char *in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value |= uint64_t(uint8_t(in[i])) << (8 * i);
  return value;
}

std::string errnoText(const std::string &what) {
  return what + ": " + std::strerror(errno);
}

/// mkdir -p with mode 0700 for what it creates (XDG asks that of ~/.cache,
/// and the cache itself must be private); EEXIST races are fine.
Status makeDirectories(const std::string &path) {
  if (path.empty())
    return makeError("empty cache directory");
  std::string prefix;
  size_t position = 0;
  while (position != std::string::npos) {
    position = path.find('/', position + 1);
    prefix = path.substr(0, position);
    if (prefix.empty())
      continue;
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
      return makeError(errnoText("cannot create cache directory " + prefix));
  }
  struct stat info;
  if (stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
    return makeError("cache path " + path + " is not a directory");
  return Status::success();
}

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", unsigned(mode & 07777));
  return text;
}

Status writeAll(int fd, const std::vector<char> &bytes,
                const std::string &path) {
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t result =
        ::write(fd, bytes.data() + written, bytes.size() - written);
    if (result < 0 && errno == EINTR)
      continue;
    if (result <= 0)
      return makeError(errnoText("cannot write " + path));
    written += size_t(result);
  }
  return Status::success();
}

/// Reads an entry that is a regular file of this user of at most
/// kMaxEntryBytes; anything else (a FIFO, a link to a device, a planted or
/// oversized file) is nothing. O_NONBLOCK keeps a FIFO from blocking the open,
/// O_NOFOLLOW refuses a symbolic link, and the checks run on the descriptor.
/// `rejected` tells a refused file from a missing one.
std::optional<std::vector<char>> readWholeFile(const std::string &path,
                                               bool &rejected) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  rejected = fd < 0 && errno != ENOENT;
  if (fd < 0)
    return std::nullopt;
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
      info.st_uid != ::geteuid() ||
      int64_t(info.st_size) > CubinCache::kMaxEntryBytes) {
    ::close(fd);
    rejected = true;
    return std::nullopt;
  }
  std::vector<char> bytes;
  bytes.reserve(size_t(info.st_size));
  char chunk[65536];
  while (true) {
    ssize_t result = ::read(fd, chunk, sizeof(chunk));
    if (result < 0 && errno == EINTR)
      continue;
    if (result <= 0)
      break;
    bytes.insert(bytes.end(), chunk, chunk + result);
    if (int64_t(bytes.size()) > CubinCache::kMaxEntryBytes)
      break; // grew while read: the size check in decodeEntry rejects it
  }
  ::close(fd);
  return bytes;
}

} // namespace

const char *toString(CacheSource source) {
  switch (source) {
  case CacheSource::Memory:
    return "memory";
  case CacheSource::Disk:
    return "disk";
  case CacheSource::Compiled:
    return "compiled";
  }
  return "unknown";
}

CubinCache::CubinCache(std::string directory)
    : directory_(std::move(directory)) {
  while (directory_.size() > 1 && directory_.back() == '/')
    directory_.pop_back();
}

std::string CubinCache::defaultDirectory() {
  if (detail::getEnv("KDAC_CACHE") == "off")
    return "";
  std::string explicitDir = detail::getEnv("KDAC_CACHE_DIR");
  if (!explicitDir.empty())
    return explicitDir;
  std::string xdg = detail::getEnv("XDG_CACHE_HOME");
  if (!xdg.empty())
    return xdg + "/kdac";
  std::string home = detail::getEnv("HOME");
  if (!home.empty())
    return home + "/.cache/kdac";
  return "/tmp/kdac-cache-" + std::to_string(getuid());
}

std::string CubinCache::distrust() const {
  struct stat info;
  if (::stat(directory_.c_str(), &info) != 0)
    return errno == ENOENT ? "" : errnoText("cannot stat " + directory_);
  if (!S_ISDIR(info.st_mode))
    return directory_ + " is not a directory";
  if (info.st_uid != ::geteuid())
    return directory_ + " is owned by uid " + std::to_string(info.st_uid) +
           ", not by this user (uid " + std::to_string(::geteuid()) + ")";
  if (info.st_mode & (S_IWGRP | S_IWOTH))
    return directory_ + " is writable by group or others (mode " +
           octal(info.st_mode) + ")";
  return "";
}

bool CubinCache::isValidKey(const std::string &key) {
  if (key.size() != 64)
    return false;
  for (char c : key)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

std::string CubinCache::entryPath(const std::string &key) const {
  return directory_ + "/" + key + kEntrySuffix;
}

std::vector<char> CubinCache::encodeEntry(const std::string &key,
                                          const std::vector<char> &payload) {
  // Sized once and filled with memcpy: simpler to audit than chained inserts.
  std::vector<char> bytes(kHeaderSize + key.size() + payload.size());
  char *cursor = bytes.data();
  std::memcpy(cursor, kMagic, sizeof(kMagic));
  putLittleEndian(cursor + 8, kFormatVersion, 4);
  putLittleEndian(cursor + 12, key.size(), 4);
  putLittleEndian(cursor + 16, payload.size(), 8);
  Sha256::Digest digest =
      Sha256::digest(std::string_view(payload.data(), payload.size()));
  std::memcpy(cursor + 24, digest.data(), digest.size());
  std::memcpy(cursor + kHeaderSize, key.data(), key.size());
  if (!payload.empty())
    std::memcpy(cursor + kHeaderSize + key.size(), payload.data(),
                payload.size());
  return bytes;
}

Expected<std::vector<char>>
CubinCache::decodeEntry(const std::string &key,
                        const std::vector<char> &bytes) {
  if (bytes.size() < kHeaderSize)
    return makeError("truncated header (" + std::to_string(bytes.size()) +
                     " bytes)");
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    return makeError("bad magic");
  const char *cursor = bytes.data() + sizeof(kMagic);
  uint64_t version = readLittleEndian(cursor, 4);
  uint64_t keyLength = readLittleEndian(cursor + 4, 4);
  uint64_t payloadLength = readLittleEndian(cursor + 8, 8);
  const char *storedDigest = cursor + 16;
  if (version != kFormatVersion)
    return makeError("format version " + std::to_string(version));
  if (keyLength != key.size() || payloadLength > bytes.size() ||
      bytes.size() != kHeaderSize + keyLength + payloadLength)
    return makeError("size mismatch (file " + std::to_string(bytes.size()) +
                     " bytes, payload " + std::to_string(payloadLength) + ")");
  const char *storedKey = bytes.data() + kHeaderSize;
  if (std::memcmp(storedKey, key.data(), key.size()) != 0)
    return makeError("entry belongs to another key");
  const char *payload = storedKey + keyLength;
  Sha256::Digest digest =
      Sha256::digest(std::string_view(payload, payloadLength));
  if (std::memcmp(digest.data(), storedDigest, digest.size()) != 0)
    return makeError("payload checksum mismatch");
  return std::vector<char>(payload, payload + payloadLength);
}

std::optional<std::vector<char>>
CubinCache::readFromDisk(const std::string &key) {
  if (directory_.empty())
    return std::nullopt;
  if (!distrust().empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.untrustedDirectory;
    return std::nullopt;
  }
  bool rejected = false;
  std::optional<std::vector<char>> bytes =
      readWholeFile(entryPath(key), rejected);
  if (!bytes && !rejected)
    return std::nullopt;
  Expected<std::vector<char>> payload =
      bytes ? decodeEntry(key, *bytes)
            : Expected<std::vector<char>>(makeError("not a regular file of "
                                                    "this user"));
  if (!payload) {
    // Not deleted: a concurrent writer may already have renamed a good entry
    // over it; the recompiled entry replaces it atomically either way.
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.corruptEntries;
    return std::nullopt;
  }
  return std::move(*payload);
}

Status CubinCache::writeToDisk(const std::string &key,
                               const std::vector<char> &payload) {
  if (std::string problem = distrust(); !problem.empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.untrustedDirectory;
    return makeError("cache directory not used: " + problem);
  }
  if (Status status = makeDirectories(directory_); !status)
    return status;
  if (std::string problem = distrust(); !problem.empty())
    return makeError("cache directory not used: " + problem);
  std::string finalPath = entryPath(key);
  // The temp file lives in the same directory so that rename is atomic.
  std::string tempPath = directory_ + "/." + key + ".tmp.XXXXXX";
  int fd = mkstemp(tempPath.data());
  if (fd < 0)
    return makeError(
        errnoText("cannot create a temporary file in " + directory_));
  fchmod(fd, 0600);
  Status status = writeAll(fd, encodeEntry(key, payload), tempPath);
  if (::close(fd) != 0 && status.ok())
    status = makeError(errnoText("cannot close " + tempPath));
  if (status.ok() && ::rename(tempPath.c_str(), finalPath.c_str()) != 0)
    status =
        makeError(errnoText("cannot rename " + tempPath + " to " + finalPath));
  if (!status.ok())
    ::unlink(tempPath.c_str());
  return status;
}

std::optional<CubinCache::Hit> CubinCache::lookup(const std::string &key) {
  if (!isValidKey(key))
    return std::nullopt;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = memory_.find(key);
    if (found != memory_.end()) {
      ++stats_.memoryHits;
      return Hit{found->second, CacheSource::Memory};
    }
  }
  std::optional<std::vector<char>> payload = readFromDisk(key);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!payload) {
    ++stats_.misses;
    return std::nullopt;
  }
  ++stats_.diskHits;
  auto image = std::make_shared<const std::vector<char>>(std::move(*payload));
  memory_.emplace(key, image);
  return Hit{image, CacheSource::Disk};
}

Status CubinCache::store(const std::string &key, KernelImage image) {
  if (!isValidKey(key))
    return makeError("invalid cubin cache key '" + key +
                     "' (expected 64 lowercase hex digits)");
  if (!image)
    return makeError("null kernel image for cache key " + key);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    memory_[key] = image;
    if (directory_.empty()) {
      ++stats_.stores;
      return Status::success();
    }
  }
  Status status = writeToDisk(key, *image);
  std::lock_guard<std::mutex> lock(mutex_);
  ++(status.ok() ? stats_.stores : stats_.storeFailures);
  return status;
}

CubinCacheStats CubinCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

} // namespace kdac::rt
