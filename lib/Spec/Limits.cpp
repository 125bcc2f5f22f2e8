//===- Limits.cpp - Checks of the sizes kdac accepts ----------------------===//
//
// The one-line messages every entry point prints for an out-of-range
// compilation choice; see Limits.h for why each bound is what it is.
//
//===----------------------------------------------------------------------===//
#include "kdac/Spec/Limits.h"

#include <limits>

namespace kdac::limits {

std::optional<int64_t> checkedMul(int64_t a, int64_t b) {
  if (a < 0 || b < 0)
    return std::nullopt;
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a)
    return std::nullopt;
  return a * b;
}

std::optional<int64_t> checkedAdd(int64_t a, int64_t b) {
  if (a < 0 || b < 0 || a > std::numeric_limits<int64_t>::max() - b)
    return std::nullopt;
  return a + b;
}

std::string checkIRChunkSize(int64_t chunkSize, const std::string &what) {
  if (isPowerOfTwo(chunkSize) && chunkSize <= kMaxChunkSize)
    return "";
  return what + " must be a power of two in [1, " +
         std::to_string(kMaxChunkSize) + "], got " + std::to_string(chunkSize);
}

std::string checkKernelChunkSize(int64_t chunkSize, const std::string &what) {
  if (isPowerOfTwo(chunkSize) && chunkSize >= kMinKernelChunkSize &&
      chunkSize <= kMaxChunkSize)
    return "";
  return what + " must be 16, 32, 64 or 128 for kernels, got " +
         std::to_string(chunkSize);
}

std::string checkBlockThreads(int64_t threads, const std::string &what) {
  if (threads >= kWarpSize && threads <= kMaxBlockThreads &&
      threads % kWarpSize == 0)
    return "";
  return what + " must be a multiple of 32 in [32, 1024], got " +
         std::to_string(threads);
}

std::string checkAnchorBlock(int64_t block, int64_t chunkSize,
                             const std::string &what) {
  if (block == 0 || (block > 0 && block <= chunkSize && chunkSize % block == 0))
    return "";
  return what + " must be 0 (direct) or divide the chunk size " +
         std::to_string(chunkSize) + ", got " + std::to_string(block);
}

std::string checkValueTile(int64_t tile, const std::string &what) {
  if (tile >= 0 && tile <= kMaxHeadDim)
    return "";
  return what + " must be 0 (all of V) or a tile of at most " +
         std::to_string(kMaxHeadDim) + " columns, got " + std::to_string(tile);
}

std::string checkBlocksPerSM(int64_t blocks, int64_t threads,
                             const std::string &what) {
  int64_t most = threads > 0 ? kMaxThreadsPerSM / threads : 0;
  if (blocks >= 0 && blocks <= most)
    return "";
  return what + " must be in [0, " + std::to_string(most) + "] for " +
         std::to_string(threads) + "-thread blocks (" +
         std::to_string(kMaxThreadsPerSM) + " threads per SM), got " +
         std::to_string(blocks);
}

std::string checkSharedMemoryLimit(int64_t bytes, const std::string &what) {
  if (bytes > 0 && bytes <= kMaxSharedMemoryBytes)
    return "";
  return what + " must be in [1, " + std::to_string(kMaxSharedMemoryBytes) +
         "] bytes, got " + std::to_string(bytes);
}

const TargetLimits *findTarget(const std::string &arch) {
  for (const TargetLimits &target : kTargets)
    if (arch == target.arch)
      return &target;
  return nullptr;
}

std::string checkArch(const std::string &arch, const std::string &what) {
  if (findTarget(arch))
    return "";
  std::string names;
  for (const TargetLimits &target : kTargets)
    names += (names.empty() ? "" : " or ") + std::string(target.arch);
  return what + " must be " + names + ", got '" + arch + "'";
}

std::string archForComputeCapability(int major, int minor, std::string &error) {
  if (major == 9 && minor == 0)
    return "sm_90a";
  if (major == 8)
    return "sm_80";
  error = "kdac generates code for compute capability 8.x (sm_80) and 9.0 "
          "(sm_90a); this device has " +
          std::to_string(major) + "." + std::to_string(minor);
  return "";
}

std::string checkTokenRecordCall(const TokenRecordCall &call) {
  const char *who = call.commit ? "a commit of token records"
                                : "token records";
  std::string problem;
  if (call.T < 1 || call.T > kMaxStaticDecodeTokens)
    problem = "a static T in [1, " + std::to_string(kMaxStaticDecodeTokens) +
              "] (the call's tokens run as one chunk)";
  else if (call.varlen)
    problem = "B sequences of T tokens (no cu_seqlens)";
  else if (call.perTokenSlots)
    problem = "one slot per sequence ([N] state_indices), not per-token states";
  else if (call.acceptedCounts != call.commit)
    problem = call.commit ? "num_accepted (the prefix each sequence keeps)"
                          : "no num_accepted (the commit takes them)";
  else if (!call.kvLayout)
    problem = "a kv state layout";
  else if (!call.commit && (!call.gated || !call.deltaRule))
    problem = "a gated delta rule";
  return problem.empty() ? ""
                         : std::string(who) + (call.commit ? " needs " : " need ") +
                               problem;
}

} // namespace kdac::limits
