//===- Limits.h - The sizes kdac accepts, stated once ------------*- C++ -*-===//
//
// Every entry point (CLI flags, .mlir verifiers, kda-opt pass options, the
// tuning database, case files, the JIT's launch checks) bounds its inputs
// with these numbers and the check functions below, so that a size the
// kernels cannot index, a grid CUDA cannot launch or a case the oracle
// cannot allocate is refused with one line before anything is built. MLIR-
// free, so the runtime side and the readers can use it too.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_SPEC_LIMITS_H
#define KDAC_SPEC_LIMITS_H

#include <cstdint>
#include <optional>
#include <string>

namespace kdac::limits {

/// Head dims: one head's K x V state tile must fit on chip.
inline constexpr int64_t kMaxHeadDim = 256;
/// The lowerbound gate's bound lies in [kMinLowerBound, 0).
inline constexpr double kMinLowerBound = -5.0;
/// The tensor-core form of a decayed gram and of its adjoint (tensor_cores
/// on kdk.decayed_gram, kdk.decayed_gram_grad) scales the column factors of a 16-row block by up to exp(15 b), for b the
/// largest per-token log-decay: finite in f32 up to b = 5 (e^75).
inline constexpr double kMaxTensorCoreGramDecay = 5.0;
/// Query/key and value heads index grid.y, whose extent CUDA caps at 65535.
inline constexpr int64_t kMaxHeads = 65535;
/// Sequences (B, or cu_seqlens segments) index grid.z of the recurrence and
/// decode kernels: the same 65535 cap.
inline constexpr int64_t kMaxSequences = 65535;
/// Tokens of one call over all sequences (B * T): chunk slots index grid.x
/// (2^31 - 1 blocks at most), and workspace bytes (bytes per slot times
/// slots) stay far from int64 overflow.
inline constexpr int64_t kMaxTokens = (int64_t(1) << 31) - 1;
/// CUDA's grid extents.
inline constexpr int64_t kMaxGridX = (int64_t(1) << 31) - 1;
inline constexpr int64_t kMaxGridYZ = 65535;

/// Chunk sizes: the kda IR (interpreter, passes) takes any power of two up
/// to kMaxChunkSize; the kernels need whole 16-row tensor-core tiles.
inline constexpr int64_t kMaxChunkSize = 128;
inline constexpr int64_t kMinKernelChunkSize = 16;
/// Decode tokens per call that a kernel keeps static (the JIT compiles one
/// kernel per T up to it): the decode lowering prepares at most this many
/// tokens at once, and runs a static T up to it as one chunk on a shared
/// state. Eight covers the draft lengths engines verify (2-7).
inline constexpr int64_t kMaxStaticDecodeTokens = 8;
/// Threads per block: whole warps, at most CUDA's 1024.
inline constexpr int64_t kWarpSize = 32;
inline constexpr int64_t kMaxBlockThreads = 1024;
/// Dynamic shared memory one block may ask for on the largest target
/// (227 KiB on sm_90; the per-arch limit comes from the target).
inline constexpr int64_t kMaxSharedMemoryBytes = 232448;

/// What one code-generation target allows a kernel, per block. The module's
/// #kdk.target carries it into the IR, where the passes read it.
struct TargetLimits {
  const char *arch;
  int64_t maxSharedMemoryPerBlock; ///< dynamic shared memory, bytes
  int64_t maxRegistersPerThread;
};
/// The targets kdac emits for: sm_90a (H100/H200: 227 KiB) and sm_80
/// (A100: 163 KiB; its cubins also load on other 8.x parts, whose smaller
/// shared memory the driver then enforces at load).
inline constexpr TargetLimits kTargets[] = {
    {"sm_90a", 232448, 255},
    {"sm_80", 166912, 255},
};
/// The limits of `arch`, or null for a target kdac does not emit for.
const TargetLimits *findTarget(const std::string &arch);

/// The fp64 oracle and `kdac check` hold every tensor of a case as doubles:
/// at most this many elements over all of them (8 GiB).
inline constexpr int64_t kMaxCaseElements = int64_t(1) << 30;
/// Files kdac reads: a case file, a text file (.mlir, tuning database).
/// Larger ones are refused before they are read. (The runtime bounds its
/// cubin cache entries itself: CubinCache::kMaxEntryBytes.)
inline constexpr int64_t kMaxCaseFileBytes = int64_t(16) << 30;
inline constexpr int64_t kMaxTextFileBytes = int64_t(256) << 20;
/// Result numbers in .mlir text (`%x#N`): MLIR's parser sizes a table by
/// them, so a huge one would exhaust memory.
inline constexpr int64_t kMaxResultNumber = 65535;
/// JSON nesting (safetensors headers, metadata, tuning databases); the
/// parser recurses, so deeper input would overflow the stack.
inline constexpr int kMaxJsonDepth = 64;

/// x is a positive power of two (chunk sizes, fragment runs and lanes).
inline bool isPowerOfTwo(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

/// a * b, or nothing on int64 overflow or a negative operand.
std::optional<int64_t> checkedMul(int64_t a, int64_t b);
/// a + b, or nothing on int64 overflow or a negative operand.
std::optional<int64_t> checkedAdd(int64_t a, int64_t b);

// Each check returns "" when the value is accepted, else one line saying
// what is wrong and what is allowed. `what` names the value as the caller's
// user knows it (a flag, a pass option, a JSON key).

/// A chunk size of kda IR: a power of two in [1, kMaxChunkSize].
std::string checkIRChunkSize(int64_t chunkSize, const std::string &what);
/// A chunk size of the kernels: 16, 32, 64 or 128.
std::string checkKernelChunkSize(int64_t chunkSize, const std::string &what);
/// A thread count: a multiple of 32 in [32, 1024].
std::string checkBlockThreads(int64_t threads, const std::string &what);
/// Sub-chunk anchors: 0 (direct) or a divisor of the chunk size.
std::string checkAnchorBlock(int64_t block, int64_t chunkSize,
                             const std::string &what);
/// A V tile: 0 (all of V) or a positive size at most kMaxHeadDim.
std::string checkValueTile(int64_t tile, const std::string &what);
/// Whether `tile` cuts `extent` into two or more equal blocks (0, a tile
/// as wide as the extent and one that does not divide it do not).
inline bool splitsEvenly(int64_t tile, int64_t extent) {
  return tile > 0 && tile < extent && extent % tile == 0;
}
/// Threads resident on one SM on every target of kTargets.
inline constexpr int64_t kMaxThreadsPerSM = 2048;
/// Blocks of `threads` each that a kernel asks to fit on one SM at once: 0
/// (no bound) or 1 .. kMaxThreadsPerSM / threads.
std::string checkBlocksPerSM(int64_t blocks, int64_t threads,
                             const std::string &what);
/// A shared-memory limit in bytes: positive, at most kMaxSharedMemoryBytes.
std::string checkSharedMemoryLimit(int64_t bytes, const std::string &what);
/// A code-generation target: one of kTargets.
std::string checkArch(const std::string &arch, const std::string &what);
/// A decode call that writes token records instead of states, or the
/// commit of such records (KernelSpec::tokenRecords): its tokens run as one
/// chunk on a kv state (T static, 1 .. kMaxStaticDecodeTokens, no varlen),
/// from one slot per sequence, with a gated delta rule. `T` is kDynamic-
/// free here: -1 reads as "not static".
struct TokenRecordCall {
  int64_t T = -1;
  bool varlen = false, perTokenSlots = false, acceptedCounts = false;
  bool kvLayout = true, gated = true, deltaRule = true;
  bool commit = false;
};
std::string checkTokenRecordCall(const TokenRecordCall &call);
/// The target kdac generates for a device of compute capability
/// major.minor (sm_90a for 9.0, sm_80 for 8.x, whose cubins run on every
/// 8.x), or "" with `error` saying why there is none.
std::string archForComputeCapability(int major, int minor, std::string &error);

} // namespace kdac::limits

#endif // KDAC_SPEC_LIMITS_H
