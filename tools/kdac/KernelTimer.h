//===- KernelTimer.h - Timing JIT kernels the way the benchmarks compare -*- C++ -*-===//
//
// kdac bench and kdac tune time launches as triton.testing.do_bench times
// FLA's kernels, so the two sides of a benchmark are measured alike: before
// each timed launch a 256 MB memset evicts L2, and while the GPU runs it
// the host queues the start event and the launch, so the host's launch
// work stays outside the event pair.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TOOLS_KDAC_KERNELTIMER_H
#define KDAC_TOOLS_KDAC_KERNELTIMER_H

#include "kdac/Jit/Jit.h"
#include "kdac/Testing/GpuCase.h"

#include "llvm/Support/Error.h"

#include <vector>

namespace kdac::cli {

/// Milliseconds of `iterations` launches after `warmup` untimed ones,
/// sorted ascending (at least one entry).
llvm::Expected<std::vector<double>> timeLaunches(KdaKernel &kernel,
                                                 const KdaLaunchArgs &args,
                                                 int warmup, int iterations);

/// Gives `device` the cotangents a backward is timed on: the case's own,
/// or standard normal ones (seed 7) where the case has none.
llvm::Error attachTimingCotangents(const KernelSpec &backward,
                                   const KdaCase &loaded, DeviceCase &device);

} // namespace kdac::cli

#endif // KDAC_TOOLS_KDAC_KERNELTIMER_H
