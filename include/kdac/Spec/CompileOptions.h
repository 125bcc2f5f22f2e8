//===- CompileOptions.h - The compiler's own choices ------------*- C++ -*-===//
//
// What the compiler decides for a spec and the autotuner sweeps (chunk size,
// UT inverse method, anchors, tiles, threads): a plain struct, so that the
// CLI, the tuning database and the JIT can build and check it without MLIR.
// validate() applies Limits.h, the rules every entry point shares.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_SPEC_COMPILEOPTIONS_H
#define KDAC_SPEC_COMPILEOPTIONS_H

#include <cstdint>
#include <string>

namespace kdac {

/// Threads per block of the decode kernel unless recurrenceBlockThreads
/// says otherwise.
constexpr int64_t kDecodeBlockThreads = 128;

/// The chunk size when none is asked for (chunkSize == 0), at every stage.
/// Measured on an H100 (bench/RESULTS.md and bench/chunk_sweep.py,
/// 2026-11-22): 16-token chunks beat 32 on 5 of 7 shapes (T=8192 H=64
/// K=V=128: 1.80 vs 2.31 ms); 32 wins only for long single sequences at
/// K=V=64, where the recurrence's chunk count dominates. A tuning database
/// (kdac tune) overrides it per spec.
#define KDAC_DEFAULT_CHUNK_SIZE 16
constexpr int64_t kDefaultChunkSize = KDAC_DEFAULT_CHUNK_SIZE;
#define KDAC_STRINGIFY_VALUE(x) #x
#define KDAC_STRINGIFY(x) KDAC_STRINGIFY_VALUE(x)

/// Choices the compiler owns and the autotuner sweeps; the fields, their
/// defaults, flags and JSON keys are listed once, in CompileOptions.def.
struct ChunkedPipelineOptions {
#define KDAC_COMPILE_OPTION(TYPE, MEMBER, FLAG, JSON, DEFAULT, HELP)           \
  TYPE MEMBER = DEFAULT;
#include "kdac/Spec/CompileOptions.def"

  /// Lower the backward (convert-kda-grad-to-kdk) at the kernel stage: set
  /// from the spec's op, not a choice the tuner sweeps, so not in the table.
  bool backward = false;
  /// Lower a commit of token records (convert-kda-commit-to-kdk): set from
  /// the spec's op, like `backward`.
  bool commit = false;

  /// The chunk size the passes use: chunkSize, or kDefaultChunkSize for 0.
  int64_t effectiveChunkSize() const {
    return chunkSize == 0 ? kDefaultChunkSize : chunkSize;
  }
};

/// How validate() names a field in its message: as kdac's flag
/// ("--chunk-size") or as the tuning database's JSON key ("chunk_size").
enum class OptionNames { Flags, Json };

/// Checks every field against Limits.h and the combinations the passes
/// accept (a Neumann inverse needs chunks of at most 16 tokens; anchors are
/// powers of two, so they divide every chunk they are shorter than).
/// Returns "" when valid, else one line naming the field.
std::string validate(const ChunkedPipelineOptions &options,
                     OptionNames names = OptionNames::Flags);

/// Every field as "json_key=value", in table order: the options' part of
/// the JIT's cache key.
std::string optionsKey(const ChunkedPipelineOptions &options);

} // namespace kdac

#endif // KDAC_SPEC_COMPILEOPTIONS_H
