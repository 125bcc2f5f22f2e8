//===- GpuCase.cpp - Run a KDA case on the GPU through the JIT ------------===//
//
// Host <-> device marshalling of a KdaCase.
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/GpuCase.h"

#include <tuple>

namespace kdac {

llvm::Expected<DeviceTensor> DeviceCase::place(const Tensor &host) {
  // cuMemAlloc refuses 0 bytes; an empty tensor still gets an address.
  size_t bytes = std::max<size_t>(host.bytes.size(), 16);
  rt::Expected<rt::DeviceBuffer> buffer = rt::DeviceBuffer::allocate(bytes);
  if (!buffer)
    return llvm::createStringError("allocating device memory: " +
                                   buffer.error());
  if (!host.bytes.empty())
    if (rt::Status s = buffer->copyFromHost(host.bytes.data(), host.bytes.size());
        !s)
      return llvm::createStringError("copying to the device: " + s.error());
  buffers_.push_back(std::make_unique<rt::DeviceBuffer>(std::move(*buffer)));
  return DeviceTensor{buffers_.back()->get(), host.dtype, host.shape};
}

llvm::Expected<std::vector<double>>
DeviceCase::read(const DeviceTensor &t) const {
  Tensor host;
  host.dtype = t.dtype;
  host.shape = t.shape;
  host.bytes.resize(host.numElements() * itemSize(t.dtype));
  for (const auto &buffer : buffers_)
    if (buffer->get() == t.data) {
      if (rt::Status s = buffer->copyToHost(host.bytes.data(), host.bytes.size());
          !s)
        return llvm::createStringError("reading results: " + s.error());
      return host.toDoubles();
    }
  return llvm::createStringError("internal error: unknown device tensor");
}

llvm::Expected<std::unique_ptr<DeviceCase>>
DeviceCase::upload(const KdaCase &c) {
  std::unique_ptr<DeviceCase> d(new DeviceCase());
  KernelSpec &spec = d->spec_;
  spec = c.spec;
  spec.hasFinalState = true;
  const KdaInputs &in = c.inputs;
  const int64_t N = spec.varlen ? int64_t(in.cuSeqlens.size()) - 1 : in.B;
  std::map<std::string, TensorLayout> layouts =
      tensorLayouts(spec, in.B, in.T, N);
  KdaLaunchArgs &a = d->args_;
  const std::tuple<const char *, DeviceTensor *, const std::vector<double> *>
      inputs[] = {{"q", &a.q, &in.q},
                  {"k", &a.k, &in.k},
                  {"v", &a.v, &in.v},
                  {"g", &a.g, &in.g},
                  {"beta", &a.beta, &in.beta},
                  {"A_log", &a.aLog, &in.aLog},
                  {"dt_bias", &a.dtBias, &in.dtBias},
                  {"initial_state", &a.initialState, &in.initialState}};
  for (auto [name, slot, values] : inputs) {
    const TensorLayout &layout = layouts.at(name);
    if (!layout.present)
      continue;
    llvm::Expected<DeviceTensor> t =
        d->place(Tensor::fromDoubles(layout.dtype, layout.shape, *values));
    if (!t)
      return t.takeError();
    *slot = *t;
  }
  auto place = [&](DeviceTensor &slot, const Tensor &host) -> llvm::Error {
    llvm::Expected<DeviceTensor> t = d->place(host);
    if (!t)
      return t.takeError();
    slot = *t;
    return llvm::Error::success();
  };
  if (spec.varlen)
    if (llvm::Error e = place(a.cuSeqlens, Tensor::fromInts(TensorDType::I64,
                                                             {N + 1},
                                                             in.cuSeqlens)))
      return std::move(e);
  auto output = [&](const char *name) {
    const TensorLayout &layout = layouts.at(name);
    Tensor t;
    t.dtype = layout.dtype;
    t.shape = layout.shape;
    t.bytes.assign(t.numElements() * itemSize(t.dtype), 0xFF);
    return t;
  };
  Tensor o = output("o");
  Tensor finalState = output("final_state");
  if (llvm::Error e = place(a.o, o))
    return std::move(e);
  if (llvm::Error e = place(a.finalState, finalState))
    return std::move(e);
  if (llvm::Error e = d->poisonOutputs())
    return std::move(e);
  return d;
}

llvm::Error DeviceCase::poisonOutputs() {
  for (const auto &buffer : buffers_)
    if (buffer->get() == args_.o.data || buffer->get() == args_.finalState.data)
      if (rt::Status s = buffer->fill(0xFF); !s)
        return llvm::createStringError("poisoning outputs: " + s.error());
  return llvm::Error::success();
}

llvm::Expected<KdaOutputs> DeviceCase::download() const {
  KdaOutputs out;
  llvm::Expected<std::vector<double>> o = read(args_.o);
  if (!o)
    return o.takeError();
  llvm::Expected<std::vector<double>> finalState = read(args_.finalState);
  if (!finalState)
    return finalState.takeError();
  out.o = std::move(*o);
  out.finalState = std::move(*finalState);
  return out;
}

llvm::Expected<KdaOutputs> runCaseOnGpu(Jit &jit, const KdaCase &c) {
  KernelSpec spec = c.spec;
  spec.hasFinalState = true;
  llvm::Expected<std::shared_ptr<KdaKernel>> kernel = jit.get(spec);
  if (!kernel)
    return kernel.takeError();
  llvm::Expected<std::unique_ptr<DeviceCase>> device = DeviceCase::upload(c);
  if (!device)
    return device.takeError();
  if (llvm::Error e = (*kernel)->launch(nullptr, (*device)->args()))
    return std::move(e);
  rt::Expected<rt::Device> dev = rt::Device::open(jit.options().device);
  if (!dev)
    return llvm::createStringError(dev.error());
  if (rt::Status s = dev->synchronize(); !s)
    return llvm::createStringError("running the kernels: " + s.error());
  return (*device)->download();
}

} // namespace kdac
