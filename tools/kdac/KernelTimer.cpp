//===- KernelTimer.cpp - Timing JIT kernels the way the benchmarks compare -===//
//
// See KernelTimer.h: an L2-evicting memset in front of every timed launch
// hides the host's launch work and leaves the kernel a cold L2, as
// triton.testing.do_bench does for FLA.
//
//===----------------------------------------------------------------------===//
#include "KernelTimer.h"

#include "kdac/runtime/CudaDriver.h"

#include <algorithm>

namespace kdac::cli {

static llvm::Error timerError(const std::string &message) {
  return llvm::createStringError("timing: " + message);
}

llvm::Expected<std::vector<double>> timeLaunches(KdaKernel &kernel,
                                                 const KdaLaunchArgs &args,
                                                 int warmup, int iterations) {
  rt::Expected<rt::Stream> stream = rt::Stream::create();
  if (!stream)
    return timerError(stream.error());
  rt::Expected<rt::Event> begin = rt::Event::create(), end = rt::Event::create();
  if (!begin || !end)
    return timerError(begin ? end.error() : begin.error());
  // do_bench's cache-clearing buffer: 256 MB, over five times the H100's L2.
  rt::Expected<rt::DeviceBuffer> flush =
      rt::DeviceBuffer::allocate(size_t(256) << 20);
  if (!flush)
    return timerError(flush.error());
  for (int i = 0; i < warmup; ++i)
    if (llvm::Error e = kernel.launch(stream->get(), args))
      return std::move(e);
  std::vector<double> times;
  for (int i = 0; i < std::max(iterations, 1); ++i) {
    if (rt::Status s = flush->fillAsync(uint8_t(i), stream->get()); !s)
      return timerError(s.error());
    if (rt::Status s = begin->record(stream->get()); !s)
      return timerError(s.error());
    if (llvm::Error e = kernel.launch(stream->get(), args))
      return std::move(e);
    if (rt::Status s = end->record(stream->get()); !s)
      return timerError(s.error());
    if (rt::Status s = end->synchronize(); !s)
      return timerError(s.error());
    rt::Expected<float> ms = rt::Event::elapsedMilliseconds(*begin, *end);
    if (!ms)
      return timerError(ms.error());
    times.push_back(*ms);
  }
  std::sort(times.begin(), times.end());
  return times;
}

llvm::Error attachTimingCotangents(const KernelSpec &backward,
                                   const KdaCase &loaded, DeviceCase &device) {
  KdaCotangents cot = loaded.cotangents
                          ? *loaded.cotangents
                          : makeRandomCotangents(backward, loaded.inputs, 7);
  return device.attachCotangents(backward, cot);
}

} // namespace kdac::cli
