//===- FileIO.cpp - Bounded reads and atomic writes of files --------------===//
//
// The type and size checks run on the opened descriptor (fstat), not on the
// path, so a file swapped between the check and the read cannot slip past
// them; O_NONBLOCK makes opening a FIFO return at once instead of waiting
// for a writer.
//
//===----------------------------------------------------------------------===//
#include "kdac/Support/FileIO.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace kdac;
using llvm::StringRef;
using llvm::Twine;

static llvm::Error fail(StringRef path, const Twine &message) {
  return llvm::createStringError(path + ": " + message);
}

static const char *fileTypeName(mode_t mode) {
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISCHR(mode))
    return "a character device";
  if (S_ISBLK(mode))
    return "a block device";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a regular file";
}

static llvm::Error tooLarge(StringRef path, int64_t bytes, int64_t maxBytes) {
  return fail(path, "is " + Twine(bytes) + " bytes, over the limit of " +
                        Twine(maxBytes) + " bytes for this kind of file");
}

/// Standard input has no size to check up front: read at most maxBytes + 1.
static llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
readStandardInput(int64_t maxBytes) {
  std::string bytes;
  char chunk[65536];
  while (true) {
    ssize_t got = ::read(STDIN_FILENO, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return fail("<stdin>", Twine("cannot read: ") + std::strerror(errno));
    if (got == 0)
      break;
    bytes.append(chunk, size_t(got));
    if (int64_t(bytes.size()) > maxBytes)
      return fail("<stdin>", "holds more than " + Twine(maxBytes) +
                                 " bytes, the limit for this kind of input");
  }
  return llvm::MemoryBuffer::getMemBufferCopy(bytes, "<stdin>");
}

llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
kdac::readRegularFile(StringRef path, int64_t maxBytes) {
  if (path == "-")
    return readStandardInput(maxBytes);
  std::string name = path.str();
  int fd = ::open(name.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return fail(path, Twine("cannot open: ") + std::strerror(errno));
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    int error = errno;
    ::close(fd);
    return fail(path, Twine("cannot stat: ") + std::strerror(error));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return fail(path, Twine("is ") + fileTypeName(info.st_mode) +
                          ", not a regular file");
  }
  if (int64_t(info.st_size) > maxBytes) {
    ::close(fd);
    return tooLarge(path, int64_t(info.st_size), maxBytes);
  }
  // Regular files never block; clear the flag so reads behave normally.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getOpenFile(fd, path, uint64_t(info.st_size));
  ::close(fd);
  if (!buffer)
    return fail(path, "cannot read: " + buffer.getError().message());
  return std::move(*buffer);
}

/// Writes to an already-open stream and reports its error, if any, once.
static llvm::Error writeStream(llvm::raw_fd_ostream &os, StringRef path,
                               StringRef bytes) {
  os << bytes;
  os.flush();
  if (!os.has_error())
    return llvm::Error::success();
  std::string message = os.error().message();
  os.clear_error();
  return fail(path, "write failed: " + message);
}

llvm::Error kdac::writeFileAtomically(StringRef path, StringRef bytes) {
  if (path == "-")
    return writeStream(llvm::outs(), "<stdout>", bytes);
  // Devices and FIFOs (/dev/null, /dev/stdout) are written in place: a
  // rename would replace the device node itself.
  llvm::sys::fs::file_status status;
  if (!llvm::sys::fs::status(path, status) &&
      llvm::sys::fs::exists(status) && !llvm::sys::fs::is_regular_file(status)) {
    if (llvm::sys::fs::is_directory(status))
      return fail(path, "is a directory");
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
    if (ec)
      return fail(path, "cannot open for writing: " + ec.message());
    return writeStream(os, path, bytes);
  }

  llvm::SmallString<256> model(llvm::sys::path::parent_path(path));
  llvm::sys::path::append(model, "." + llvm::sys::path::filename(path) +
                                     ".tmp-%%%%%%%%");
  int fd;
  llvm::SmallString<256> temporary;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, fd, temporary))
    return fail(path, "cannot create a temporary file beside it: " +
                          ec.message());
  std::string problem;
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << bytes;
    os.close(); // flushes; a full disk shows up here
    if (os.has_error()) {
      problem = "write failed: " + os.error().message();
      os.clear_error();
    }
  }
  if (problem.empty())
    if (std::error_code ec = llvm::sys::fs::rename(temporary, path))
      problem = "cannot rename the temporary file into place: " + ec.message();
  if (problem.empty())
    return llvm::Error::success();
  llvm::sys::fs::remove(temporary);
  return fail(path, problem);
}
