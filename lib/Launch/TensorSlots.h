//===- TensorSlots.h - The launch ABI's tensors in a fixed order -*- C++ -*-===//
//
// A launch indexes the caller's tensors by slot instead of looking them up
// by name; slot i is kTensorNames[i] (KernelSpec.h).
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_LAUNCH_TENSORSLOTS_H
#define KDAC_LIB_LAUNCH_TENSORSLOTS_H

#include "kdac/Launch/LaunchArgs.h"

#include <array>
#include <iterator>

namespace kdac::launch {

enum TensorSlot : unsigned {
  kQ, kK, kV, kG, kBeta, kALog, kDtBias, kInitialState, kCuSeqlens, kO,
  kFinalState, kStatePool, kStateIndices, kNumAccepted, kDO, kDht, kDq, kDk,
  kDv, kDg, kDbeta, kDALog, kDDtBias, kDh0, kTokenRecords, kNumTensorSlots
};
static_assert(std::size(kTensorNames) == kNumTensorSlots,
              "a tensor slot per name of the launch ABI (KernelSpec.h)");

std::array<const DeviceTensor *, kNumTensorSlots>
tensorSlots(const KdaLaunchArgs &a);

/// "kdac launch: <message>".
rt::Error argError(const std::string &message);

} // namespace kdac::launch

#endif // KDAC_LIB_LAUNCH_TENSORSLOTS_H
