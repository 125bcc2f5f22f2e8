//===- TuningDatabase.h - Measured best configurations per spec -*- C++ -*-===//
//
// The autotuner's memory: for an architecture, a spec (everything that
// changes generated code) and a bucket of sequence lengths, the compilation
// choices that ran fastest, with their time. A readable, versioned JSON file;
// the JIT and kdac consult it and fall back to the built-in defaults.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TUNE_TUNINGDATABASE_H
#define KDAC_TUNE_TUNINGDATABASE_H

#include "kdac/Pipelines/Pipelines.h"
#include "kdac/Spec/KernelSpec.h"

#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace kdac {

/// Sequence lengths are bucketed by the next power of two, from 64 up.
int64_t sequenceBucket(int64_t T);

struct TuningEntry {
  std::string arch;
  std::string spec; ///< tuningSpecKey
  int64_t bucket = 0;
  ChunkedPipelineOptions options;
  double milliseconds = 0;
  std::string measuredOn; ///< device and date, for people
};

class TuningDatabase {
public:
  static constexpr int kFormatVersion = 1;

  /// Reads a database; one-line errors name the file and what is wrong.
  static llvm::Expected<TuningDatabase> load(llvm::StringRef path);
  static llvm::Expected<TuningDatabase> parse(llvm::StringRef text,
                                              llvm::StringRef nameForErrors);
  std::string serialize() const;
  llvm::Error save(llvm::StringRef path) const;

  /// Adds an entry, replacing one with the same arch, spec and bucket.
  void record(const TuningEntry &entry);

  /// The entry for (arch, spec) whose bucket is nearest to T's.
  std::optional<TuningEntry> lookup(const std::string &arch,
                                    const KernelSpec &spec, int64_t T) const;

  const std::vector<TuningEntry> &entries() const { return entries_; }

private:
  std::vector<TuningEntry> entries_;
};

/// The configurations a sweep tries for `spec`: chunk sizes 16, 32, 64 with
/// the inverse methods each allows, V tiles dividing V, thread counts; for
/// a backward spec the scans prepared or not and their V tiles, and the
/// map's thread count and where it reads the states.
std::vector<ChunkedPipelineOptions> tuningCandidates(const KernelSpec &spec);

/// The configuration to compile `spec` with for sequences of about T tokens:
/// the database's entry for the nearest bucket when there is one, else
/// `defaults`. `why` says which, for --emit comments and logs.
ChunkedPipelineOptions chooseOptions(const KernelSpec &spec, int64_t T,
                                     const ChunkedPipelineOptions &defaults,
                                     const TuningDatabase *db,
                                     std::string *why);

/// One line describing a configuration, for tables and --emit comments.
std::string describe(const ChunkedPipelineOptions &options);

} // namespace kdac

#endif // KDAC_TUNE_TUNINGDATABASE_H
