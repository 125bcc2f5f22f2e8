//===- LaunchArgs.h - The tensors of a KDA launch and their checks -*- C++ -*-===//
//
// What a caller passes to a kernel set: device pointers with dtypes and
// shapes (DESIGN.md section 1), and the checks that hold them to the spec a
// kernel set was compiled for. Plain C++ (no LLVM): the launch-only library
// (KDACLaunch) and the JIT share it.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LAUNCH_LAUNCHARGS_H
#define KDAC_LAUNCH_LAUNCHARGS_H

#include "kdac/Spec/KernelSpec.h"
#include "kdac/Spec/TensorDType.h"
#include "kdac/runtime/CudaDriver.h"
#include "kdac/runtime/Expected.h"
#include "kdac/runtime/LaunchDescriptor.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>

namespace kdac {

/// A tensor shape held inline (every KDA tensor has rank <= 4), so that
/// describing a launch allocates nothing.
class TensorShape {
public:
  static constexpr size_t kMaxRank = 8;
  TensorShape() = default;
  TensorShape(std::initializer_list<int64_t> dims) {
    for (int64_t d : dims)
      push_back(d);
  }
  /// Keeps the first kMaxRank dims; a caller's rank over that fails the
  /// shape checks (it cannot match any KDA tensor).
  void push_back(int64_t d) {
    if (rank_ < kMaxRank)
      dims_[rank_] = d;
    ++rank_;
  }
  template <typename It> void assign(It first, It last) {
    rank_ = 0;
    for (; first != last; ++first)
      push_back(*first);
  }
  size_t size() const { return rank_ < kMaxRank ? rank_ : kMaxRank; }
  bool overflowed() const { return rank_ > kMaxRank; }
  const int64_t *data() const { return dims_; }
  const int64_t *begin() const { return dims_; }
  const int64_t *end() const { return dims_ + size(); }
  int64_t operator[](size_t i) const { return dims_[i]; }
  int64_t &operator[](size_t i) { return dims_[i]; }
  bool operator==(const TensorShape &other) const;

private:
  int64_t dims_[kMaxRank] = {};
  size_t rank_ = 0;
};

/// A tensor in device memory, as the caller describes it. An absent tensor
/// has data == 0.
struct DeviceTensor {
  rt::DevicePtr data = 0;
  TensorDType dtype = TensorDType::F32;
  TensorShape shape;
  bool present() const { return data != 0; }
};

/// Every tensor of DESIGN.md section 1. Shapes follow FLA; cu_seqlens is
/// int64 [N + 1] and its contents are trusted (0, non-decreasing, ends at T).
/// A decode spec with a state pool takes statePool ([P, HV, K, V] or
/// [P, HV, V, K], updated in place) and int32 stateIndices ([N], or [N, S]
/// with per-token states) and numAccepted ([N]) instead of the initial and
/// final state; index contents are trusted to be < P (negative skips).
struct KdaLaunchArgs {
  DeviceTensor q, k, v, g, beta, aLog, dtBias, initialState, cuSeqlens;
  DeviceTensor o, finalState;
  DeviceTensor statePool, stateIndices, numAccepted;
  /// A backward spec takes the forward's inputs (no o, no final state), the
  /// cotangents dO ([B, T, HV, V]) and dht (the final state's shape, when
  /// the spec has one), and writes f32 gradients of every input's shape.
  DeviceTensor dO, dht, dq, dk, dv, dg, dbeta, dALog, dDtBias, dh0;
  /// A decode spec with token records writes tokenRecords ([B, T, HV,
  /// 2K + V] f32) and leaves statePool as it was; a commit spec takes only
  /// statePool, stateIndices ([N]), numAccepted ([N]) and tokenRecords
  /// ([N, T, HV, 2K + V]), and updates statePool in place.
  DeviceTensor tokenRecords;
};

/// What one tensor of DESIGN.md section 1 must be for a spec and run-time
/// sizes: whether the spec uses it, its dtype and its shape (a negative
/// extent takes any positive size: a pool's slots, S).
struct TensorLayout {
  bool present = false;
  TensorDType dtype = TensorDType::F32;
  TensorShape shape;
};

/// Every tensor's layout by name (kTensorNames), for B batch rows of T
/// tokens and N sequences.
std::map<std::string, TensorLayout> tensorLayouts(const KernelSpec &spec,
                                                  int64_t B, int64_t T,
                                                  int64_t N);

/// Checks launch arguments against the spec a kernel set was generated for
/// and returns the run-time sizes they describe (needs no GPU).
rt::Expected<rt::RuntimeSizes> checkLaunchArgs(const KernelSpec &spec,
                                               int64_t chunkSize,
                                               const KdaLaunchArgs &args);

/// "[2, 64, ?]": a shape as the messages print it (negative: any size).
std::string shapeString(const TensorShape &shape);

} // namespace kdac

#endif // KDAC_LAUNCH_LAUNCHARGS_H
