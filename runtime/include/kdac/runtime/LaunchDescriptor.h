//===- LaunchDescriptor.h - How to launch an emitted kernel set -*- C++ -*-===//
//
// The contract between the CUDA emitter (which writes it next to the CUDA
// source) and the runtime (which launches from it): the kernels in launch
// order, each one's parameters by name, its grid as a formula of the run-time
// sizes, its block size and dynamic shared memory, and the workspace buffers
// that carry intermediates between kernels. Plain data, no MLIR, so the
// runtime and the JIT can use it without the compiler.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_RUNTIME_LAUNCHDESCRIPTOR_H
#define KDAC_RUNTIME_LAUNCHDESCRIPTOR_H

#include <cstdint>
#include <string>
#include <vector>

namespace kdac::rt {

/// Run-time sizes a launch depends on. N is the number of sequences (B, or
/// the number of cu_seqlens segments); chunkSlots is the number of chunk
/// slots the chunk-parallel kernels cover: B * ceil(T / C) without varlen,
/// ceil(T / C) + N with varlen (each sequence adds at most one partial chunk).
struct RuntimeSizes {
  int64_t B = 1, T = 0, N = 1;
  int64_t chunkSlots = 0;
  /// Slots per sequence of [N, S] state_indices (speculative decoding).
  int64_t S = 1;
};

/// A grid dimension: `constant + perChunkSlot * chunkSlots + perSequence * N
/// + perBatch * B`. The emitter writes exactly one of the factors non-zero.
struct GridExtent {
  int64_t constant = 1;
  int64_t perChunkSlot = 0;
  int64_t perSequence = 0;
  int64_t perBatch = 0;
  int64_t evaluate(const RuntimeSizes &s) const {
    return constant + perChunkSlot * s.chunkSlots + perSequence * s.N +
           perBatch * s.B;
  }
};

/// What one kernel parameter is bound to at launch.
enum class ParamKind {
  Tensor,    ///< a user tensor by name: q k v g beta A_log dt_bias
             ///< initial_state cu_seqlens o final_state, or a decode
             ///< pool's state_pool state_indices num_accepted
  Workspace, ///< a workspace buffer by name (see Workspace below)
  SizeT,     ///< int64 T
  SizeN,     ///< int64 N
  SizeB,     ///< int64 B
  SizeS,     ///< int64 S, the slots per sequence of [N, S] state_indices
  SizeChunkSlots, ///< int64 chunk slots (see RuntimeSizes)
};

struct KernelParam {
  ParamKind kind;
  std::string name;
};

/// A device buffer the launcher allocates: bytesPerChunkSlot * chunkSlots.
struct Workspace {
  std::string name;
  int64_t bytesPerChunkSlot = 0;
};

struct KernelLaunch {
  std::string name; ///< the extern "C" __global__ symbol
  GridExtent grid[3];
  int64_t blockThreads = 128;
  int64_t dynamicSharedBytes = 0;
  std::vector<KernelParam> params;
};

struct LaunchDescriptor {
  int64_t chunkSize = 64;
  std::vector<Workspace> workspaces;
  std::vector<KernelLaunch> kernels; ///< in launch order, one stream
};

/// chunkSlots for the given sizes (see RuntimeSizes).
inline int64_t chunkSlotsFor(int64_t B, int64_t T, int64_t N, bool varlen,
                             int64_t chunkSize) {
  int64_t perSequence = (T + chunkSize - 1) / chunkSize;
  return varlen ? perSequence + N : B * perSequence;
}

} // namespace kdac::rt

#endif // KDAC_RUNTIME_LAUNCHDESCRIPTOR_H
