//===- GpuCase.cpp - Run a KDA case on the GPU through the JIT ------------===//
//
// Host <-> device marshalling of a KdaCase.
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/GpuCase.h"

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
  const int64_t B = in.B, T = in.T;
  const int64_t N = spec.varlen ? int64_t(in.cuSeqlens.size()) - 1 : B;
  bool kv = spec.stateLayout == StateLayout::KV;
  std::vector<int64_t> stateShape = {N, spec.HV, kv ? spec.K : spec.V,
                                     kv ? spec.V : spec.K};
  TensorDType io = toTensorDType(spec.dtype);
  TensorDType state = toTensorDType(spec.stateDType);
  std::vector<int64_t> gShape = {B, T, spec.HV};
  if (spec.gate == GateGranularity::Channel)
    gShape.push_back(spec.K);
  int64_t dtWidth =
      spec.gate == GateGranularity::Channel ? spec.HV * spec.K : spec.HV;

  struct Input {
    DeviceTensor *slot;
    bool present;
    TensorDType dtype;
    std::vector<int64_t> shape;
    const std::vector<double> *values;
  };
  KdaLaunchArgs &a = d->args_;
  const Input inputs[] = {
      {&a.q, true, io, {B, T, spec.H, spec.K}, &in.q},
      {&a.k, true, io, {B, T, spec.H, spec.K}, &in.k},
      {&a.v, true, io, {B, T, spec.HV, spec.V}, &in.v},
      {&a.g, spec.gate != GateGranularity::None,
       toTensorDType(spec.gateDType), gShape, &in.g},
      {&a.beta, true, toTensorDType(spec.betaDType), {B, T, spec.HV}, &in.beta},
      {&a.aLog, spec.hasALog, TensorDType::F32, {spec.HV}, &in.aLog},
      {&a.dtBias, spec.hasDtBias, TensorDType::F32, {dtWidth}, &in.dtBias},
      {&a.initialState, spec.hasInitialState, state, stateShape,
       &in.initialState},
  };
  for (const Input &input : inputs) {
    if (!input.present)
      continue;
    llvm::Expected<DeviceTensor> t = d->place(
        Tensor::fromDoubles(input.dtype, input.shape, *input.values));
    if (!t)
      return t.takeError();
    *input.slot = *t;
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
  auto output = [](TensorDType dtype, std::vector<int64_t> shape) {
    Tensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes.assign(t.numElements() * itemSize(dtype), 0xFF);
    return t;
  };
  Tensor o = output(io, {B, T, spec.HV, spec.V});
  Tensor finalState = output(state, stateShape);
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
