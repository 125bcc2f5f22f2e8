//===- CompileOptions.h - The compiler's own choices -------------*- C++ -*-===//
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

/// Choices the compiler owns and the autotuner sweeps.
struct ChunkedPipelineOptions {
  /// Tokens per chunk; 0 lets code generation use its default.
  int64_t chunkSize = 64;
  /// forward-substitution | neumann | blocked
  std::string utMethod = "blocked";
  /// How `blocked` inverts its 16 x 16 diagonal blocks: forward substitution
  /// (one warp, a column per lane in registers, no barrier) or neumann
  /// (log2(16) = 4 products, a barrier each). The first measured faster on
  /// the H100 (T=8192 H=64 bf16: 1.96 vs 2.12 ms).
  std::string diagMethod = "forward-substitution";
  /// Sub-chunk length of the anchored decay; 0 keeps the direct form.
  int64_t anchorBlock = 16;
  /// Kernel level: threads per block and the V columns one recurrence
  /// block owns (0: all of V).
  int64_t blockThreads = 256;
  /// Threads of the recurrence kernel, and of the decode kernel (0:
  /// blockThreads, and kDecodeBlockThreads for decode).
  int64_t recurrenceBlockThreads = 0;
  int64_t valueTile = 64;
  /// The decode kernel's V tile (0: chosen with its state fragment).
  int64_t decodeValueTile = 0;
  /// Where a decode block keeps its state slice: registers | shared | auto
  /// (shared for a 16-bit kv state of a one-token call, measured fastest).
  std::string decodeStateIn = "auto";
  /// Lower token by token (the decode kernel) instead of chunkwise; only the
  /// kernel stage differs.
  bool recurrent = false;
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

} // namespace kdac

#endif // KDAC_SPEC_COMPILEOPTIONS_H
