//===- CubinCacheTest.cpp - Memory and disk layers of the cubin cache -----===//
//
// The disk layer is shared by every kdac process, so besides hits and misses
// these tests check that damaged entries are never returned and that
// concurrent writers (threads and forked processes) leave a valid entry.
//
//===----------------------------------------------------------------------===//
#include "kdac/runtime/CubinCache.h"
#include "kdac/runtime/Sha256.h"

#include "RuntimeTestSupport.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

using namespace kdac::rt;
using kdac::rt::test::TemporaryDirectory;

namespace {

std::string keyFor(const std::string &text) { return Sha256::hexDigest(text); }

KernelImage makeImage(size_t size, char seed) {
  std::vector<char> bytes(size);
  for (size_t i = 0; i < size; ++i)
    bytes[i] = char(seed + i * 7 + (i >> 8));
  return std::make_shared<const std::vector<char>>(std::move(bytes));
}

std::vector<char> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string &path, const std::vector<char> &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

/// Restores an environment variable when the test ends.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    if (const char *old = std::getenv(name))
      old_ = old, hadOld_ = true;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (hadOld_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

private:
  const char *name_;
  std::string old_;
  bool hadOld_ = false;
};

} // namespace

TEST(CubinCache, MissThenMemoryHitThenDiskHitInAFreshCache) {
  TemporaryDirectory dir;
  ASSERT_FALSE(dir.path().empty());
  std::string key = keyFor("kernel-a");
  KernelImage image = makeImage(5000, 1);

  CubinCache first(dir.path());
  EXPECT_FALSE(first.lookup(key).has_value());
  EXPECT_EQ(first.stats().misses, 1u);
  ASSERT_TRUE(first.store(key, image).ok());

  std::optional<CubinCache::Hit> memoryHit = first.lookup(key);
  ASSERT_TRUE(memoryHit.has_value());
  EXPECT_EQ(memoryHit->source, CacheSource::Memory);
  EXPECT_EQ(*memoryHit->image, *image);
  EXPECT_EQ(first.stats().memoryHits, 1u);

  CubinCache second(dir.path());
  std::optional<CubinCache::Hit> diskHit = second.lookup(key);
  ASSERT_TRUE(diskHit.has_value());
  EXPECT_EQ(diskHit->source, CacheSource::Disk);
  EXPECT_EQ(*diskHit->image, *image);
  // Promoted to memory.
  std::optional<CubinCache::Hit> again = second.lookup(key);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->source, CacheSource::Memory);
  EXPECT_EQ(second.stats().diskHits, 1u);
  EXPECT_EQ(second.stats().memoryHits, 1u);
}

TEST(CubinCache, MemoryOnlyCacheWritesNothing) {
  CubinCache cache("");
  std::string key = keyFor("memory-only");
  ASSERT_TRUE(cache.store(key, makeImage(10, 2)).ok());
  ASSERT_TRUE(cache.lookup(key).has_value());
  EXPECT_EQ(cache.stats().stores, 1u);
}

TEST(CubinCache, EntryRoundTripsAndEmptyPayloadIsValid) {
  std::string key = keyFor("roundtrip");
  for (size_t size : {size_t(0), size_t(1), size_t(100000)}) {
    std::vector<char> payload = *makeImage(size, 3);
    Expected<std::vector<char>> decoded =
        CubinCache::decodeEntry(key, CubinCache::encodeEntry(key, payload));
    ASSERT_TRUE(decoded.ok()) << decoded.error();
    EXPECT_EQ(*decoded, payload);
  }
}

TEST(CubinCache, DamagedEntriesAreRejected) {
  std::string key = keyFor("damaged");
  std::vector<char> good = CubinCache::encodeEntry(key, *makeImage(4096, 4));

  std::vector<char> flipped = good;
  flipped[good.size() - 100] ^= 0x01;
  EXPECT_TRUE(test::contains(CubinCache::decodeEntry(key, flipped).error(),
                             "checksum"));

  std::vector<char> truncated(good.begin(), good.end() - 1);
  EXPECT_TRUE(
      test::contains(CubinCache::decodeEntry(key, truncated).error(), "size"));

  std::vector<char> tooLong = good;
  tooLong.push_back(0);
  EXPECT_FALSE(CubinCache::decodeEntry(key, tooLong).ok());

  std::vector<char> badMagic = good;
  badMagic[0] = 'X';
  EXPECT_TRUE(
      test::contains(CubinCache::decodeEntry(key, badMagic).error(), "magic"));

  EXPECT_FALSE(CubinCache::decodeEntry(key, std::vector<char>(10, 'K')).ok());
  EXPECT_FALSE(CubinCache::decodeEntry(key, {}).ok());
  EXPECT_TRUE(test::contains(
      CubinCache::decodeEntry(keyFor("other"), good).error(), "another key"));
}

TEST(CubinCache, CorruptedFileOnDiskIsDetected) {
  TemporaryDirectory dir;
  std::string key = keyFor("corrupt-on-disk");
  KernelImage image = makeImage(20000, 5);
  ASSERT_TRUE(CubinCache(dir.path()).store(key, image).ok());
  std::string path = CubinCache(dir.path()).entryPath(key);
  std::vector<char> bytes = readFile(path);
  ASSERT_FALSE(bytes.empty());

  // A flipped payload byte, then a truncation, each seen by a fresh process.
  bytes[bytes.size() / 2] ^= 0x40;
  writeFile(path, bytes);
  CubinCache afterFlip(dir.path());
  EXPECT_FALSE(afterFlip.lookup(key).has_value());
  EXPECT_EQ(afterFlip.stats().corruptEntries, 1u);
  EXPECT_EQ(afterFlip.stats().misses, 1u);

  bytes.resize(bytes.size() / 3);
  writeFile(path, bytes);
  CubinCache afterTruncation(dir.path());
  EXPECT_FALSE(afterTruncation.lookup(key).has_value());
  EXPECT_EQ(afterTruncation.stats().corruptEntries, 1u);

  // Storing again repairs the entry.
  ASSERT_TRUE(afterTruncation.store(key, image).ok());
  std::optional<CubinCache::Hit> repaired = CubinCache(dir.path()).lookup(key);
  ASSERT_TRUE(repaired.has_value());
  EXPECT_EQ(*repaired->image, *image);
}

TEST(CubinCache, EntryRenamedToAnotherKeyIsRejected) {
  TemporaryDirectory dir;
  CubinCache cache(dir.path());
  std::string key = keyFor("original"), otherKey = keyFor("impostor");
  ASSERT_TRUE(cache.store(key, makeImage(64, 6)).ok());
  ASSERT_EQ(
      rename(cache.entryPath(key).c_str(), cache.entryPath(otherKey).c_str()),
      0);
  CubinCache fresh(dir.path());
  EXPECT_FALSE(fresh.lookup(otherKey).has_value());
  EXPECT_EQ(fresh.stats().corruptEntries, 1u);
}

TEST(CubinCache, InvalidKeysAreRefused) {
  TemporaryDirectory dir;
  CubinCache cache(dir.path());
  for (const std::string &key :
       {std::string("../../etc/passwd"), std::string("abc"),
        std::string(64, 'A'), std::string(64, 'g')}) {
    EXPECT_FALSE(CubinCache::isValidKey(key)) << key;
    EXPECT_FALSE(cache.store(key, makeImage(4, 7)).ok()) << key;
    EXPECT_FALSE(cache.lookup(key).has_value()) << key;
  }
  EXPECT_TRUE(TemporaryDirectory::list(dir.path()).empty());
}

TEST(CubinCache, UnwritableDirectoryKeepsTheMemoryEntry) {
  TemporaryDirectory dir;
  std::string blocker = dir.path() + "/not-a-directory";
  writeFile(blocker, {'x'});
  CubinCache cache(blocker + "/cache");
  std::string key = keyFor("unwritable");
  Status status = cache.store(key, makeImage(32, 8));
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(test::contains(status.error(), "cache")) << status.error();
  EXPECT_EQ(cache.stats().storeFailures, 1u);
  ASSERT_TRUE(cache.lookup(key).has_value());
}

TEST(CubinCache, CreatesNestedDirectories) {
  TemporaryDirectory dir;
  CubinCache cache(dir.path() + "/a/b/c/");
  std::string key = keyFor("nested");
  ASSERT_TRUE(cache.store(key, makeImage(16, 9)).ok());
  EXPECT_EQ(cache.directory(), dir.path() + "/a/b/c");
  EXPECT_TRUE(CubinCache(dir.path() + "/a/b/c").lookup(key).has_value());
}

TEST(CubinCache, DefaultDirectoryFollowsTheEnvironment) {
  {
    ScopedEnv explicitDir("KDAC_CACHE_DIR", "/some/where");
    EXPECT_EQ(CubinCache::defaultDirectory(), "/some/where");
  }
  ScopedEnv noExplicit("KDAC_CACHE_DIR", nullptr);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(CubinCache::defaultDirectory(), "/xdg/kdac");
  }
  ScopedEnv noXdg("XDG_CACHE_HOME", nullptr);
  {
    ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(CubinCache::defaultDirectory(), "/home/someone/.cache/kdac");
  }
  ScopedEnv noHome("HOME", nullptr);
  EXPECT_TRUE(
      test::startsWith(CubinCache::defaultDirectory(), "/tmp/kdac-cache-"));
}

TEST(CubinCache, OffDisablesTheDiskCache) {
  ScopedEnv off("KDAC_CACHE", "off");
  ScopedEnv explicitDir("KDAC_CACHE_DIR", "/some/where");
  EXPECT_EQ(CubinCache::defaultDirectory(), "");
}

TEST(CubinCache, CreatesItsDirectoryPrivate) {
  TemporaryDirectory dir;
  CubinCache cache(dir.path() + "/fresh");
  ASSERT_TRUE(cache.store(keyFor("private"), makeImage(16, 3)).ok());
  struct stat info;
  ASSERT_EQ(stat((dir.path() + "/fresh").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
}

/// An entry another user could have planted must never be served.
TEST(CubinCache, WorldWritableDirectoryIsNotUsed) {
  TemporaryDirectory dir;
  std::string key = keyFor("planted");
  std::string shared = dir.path() + "/shared";
  ASSERT_EQ(mkdir(shared.c_str(), 0700), 0);
  writeFile(shared + "/" + key + ".kcubin",
            CubinCache::encodeEntry(key, *makeImage(64, 4)));
  ASSERT_EQ(chmod(shared.c_str(), 0777), 0);
  CubinCache cache(shared);
  EXPECT_TRUE(test::contains(cache.distrust(), "writable by group or others"))
      << cache.distrust();
  EXPECT_FALSE(cache.lookup(key).has_value());
  EXPECT_EQ(cache.stats().untrustedDirectory, 1u);
  Status stored = cache.store(keyFor("other"), makeImage(8, 5));
  EXPECT_FALSE(stored.ok());
  EXPECT_TRUE(test::contains(stored.error(), "cache directory not used"))
      << stored.error();
}

TEST(CubinCache, DirectoryOrEntryOfAnotherUserIsNotUsed) {
  if (geteuid() != 0)
    GTEST_SKIP() << "needs root to give files to another user";
  TemporaryDirectory dir;
  std::string key = keyFor("foreign");
  std::vector<char> entry = CubinCache::encodeEntry(key, *makeImage(64, 6));
  // A directory of another user.
  std::string foreign = dir.path() + "/foreign";
  ASSERT_EQ(mkdir(foreign.c_str(), 0700), 0);
  writeFile(foreign + "/" + key + ".kcubin", entry);
  ASSERT_EQ(chown(foreign.c_str(), 4242, 4242), 0);
  CubinCache inForeign(foreign);
  EXPECT_TRUE(test::contains(inForeign.distrust(), "owned by uid 4242"))
      << inForeign.distrust();
  EXPECT_FALSE(inForeign.lookup(key).has_value());
  // An entry of another user in our own directory.
  std::string own = dir.path() + "/own";
  ASSERT_EQ(mkdir(own.c_str(), 0700), 0);
  std::string path = own + "/" + key + ".kcubin";
  writeFile(path, entry);
  ASSERT_EQ(chown(path.c_str(), 4242, 4242), 0);
  CubinCache inOwn(own);
  EXPECT_FALSE(inOwn.lookup(key).has_value());
  EXPECT_EQ(inOwn.stats().corruptEntries, 1u);
}

/// Entries that are not regular files, or too large, are refused without
/// blocking or reading them.
TEST(CubinCache, FifoLinkAndHugeEntriesAreRefusedUnread) {
  TemporaryDirectory dir;
  CubinCache cache(dir.path());
  std::string fifoKey = keyFor("fifo"), linkKey = keyFor("link"),
              hugeKey = keyFor("huge");
  ASSERT_EQ(mkfifo(cache.entryPath(fifoKey).c_str(), 0600), 0);
  ASSERT_EQ(symlink("/dev/zero", cache.entryPath(linkKey).c_str()), 0);
  int fd = ::open(cache.entryPath(hugeKey).c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  // Sparse: 4 GiB of size, no blocks.
  ASSERT_EQ(ftruncate(fd, off_t(4) << 30), 0);
  ::close(fd);
  for (const std::string &key : {fifoKey, linkKey, hugeKey})
    EXPECT_FALSE(cache.lookup(key).has_value()) << key;
  EXPECT_EQ(cache.stats().corruptEntries, 3u);
  // A store replaces the bad entry atomically.
  ASSERT_TRUE(cache.store(linkKey, makeImage(8, 2)).ok());
  EXPECT_TRUE(CubinCache(dir.path()).lookup(linkKey).has_value());
}

TEST(CubinCache, ConcurrentThreadsStoringOneKeyLeaveAValidEntry) {
  TemporaryDirectory dir;
  std::string key = keyFor("threads");
  KernelImage image = makeImage(1 << 20, 10);
  std::atomic<int> failures{0}, corruptReads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 15; ++i) {
        // A fresh cache each time, so every store and lookup goes to disk.
        CubinCache writer(dir.path());
        if (!writer.store(key, image).ok())
          ++failures;
        CubinCache reader(dir.path());
        std::optional<CubinCache::Hit> hit = reader.lookup(key);
        if (!hit || *hit->image != *image || reader.stats().corruptEntries != 0)
          ++corruptReads;
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(corruptReads.load(), 0);
  std::optional<CubinCache::Hit> hit = CubinCache(dir.path()).lookup(key);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit->image, *image);
  // No temporary files left behind.
  EXPECT_EQ(TemporaryDirectory::list(dir.path()).size(), 1u);
}

TEST(CubinCache, ConcurrentProcessesStoringOneKeyLeaveAValidEntry) {
  TemporaryDirectory dir;
  std::string key = keyFor("processes");
  KernelImage image = makeImage(1 << 20, 11);
  constexpr int kChildren = 4;
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0) << "fork failed";
    if (pid == 0) {
      // Child: store and re-read; report through the exit status only.
      int status = 0;
      for (int i = 0; i < 20; ++i) {
        CubinCache writer(dir.path());
        if (!writer.store(key, image).ok())
          status = 1;
        CubinCache reader(dir.path());
        std::optional<CubinCache::Hit> hit = reader.lookup(key);
        if (!hit || *hit->image != *image)
          status = 2;
      }
      _exit(status);
    }
    children.push_back(pid);
  }
  // Meanwhile the parent reads: it may miss, but must never see a bad entry.
  int parentCorrupt = 0;
  for (int i = 0; i < 40; ++i) {
    CubinCache reader(dir.path());
    std::optional<CubinCache::Hit> hit = reader.lookup(key);
    if ((hit && *hit->image != *image) || reader.stats().corruptEntries != 0)
      ++parentCorrupt;
  }
  for (pid_t pid : children) {
    int status = -1;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "child " << pid << " (1: store failed, 2: bad read)";
  }
  EXPECT_EQ(parentCorrupt, 0);
  std::optional<CubinCache::Hit> hit = CubinCache(dir.path()).lookup(key);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit->image, *image);
  EXPECT_EQ(TemporaryDirectory::list(dir.path()).size(), 1u);
}
