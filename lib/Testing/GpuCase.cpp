//===- GpuCase.cpp - Run a KDA case on the GPU through the JIT ------------===//
//
// Host <-> device marshalling of a KdaCase.
//
//===----------------------------------------------------------------------===//
#include "kdac/Testing/GpuCase.h"

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
  DeviceTensor t;
  t.data = buffers_.back()->get();
  t.dtype = host.dtype;
  t.shape.assign(host.shape.begin(), host.shape.end());
  return t;
}

llvm::Expected<std::vector<double>>
DeviceCase::read(const DeviceTensor &t) const {
  Tensor host;
  host.dtype = t.dtype;
  host.shape.assign(t.shape.begin(), t.shape.end());
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
  spec.hasFinalState = !spec.statePool;
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
        d->place(Tensor::fromDoubles(
            layout.dtype,
            std::vector<int64_t>(layout.shape.begin(), layout.shape.end()),
            *values));
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
    t.shape.assign(layout.shape.begin(), layout.shape.end());
    t.bytes.assign(t.numElements() * itemSize(t.dtype), 0xFF);
    return t;
  };
  if (llvm::Error e = place(a.o, output("o")))
    return std::move(e);
  if (spec.hasFinalState)
    if (llvm::Error e = place(a.finalState, output("final_state")))
      return std::move(e);
  if (llvm::Error e = d->poisonOutputs())
    return std::move(e);
  return d;
}

llvm::Error DeviceCase::poisonOutputs() {
  for (const auto &buffer : buffers_)
    if (buffer->get() == args_.o.data ||
        buffer->get() == args_.finalState.data ||
        buffer->get() == args_.tokenRecords.data)
      if (rt::Status s = buffer->fill(0xFF); !s)
        return llvm::createStringError("poisoning outputs: " + s.error());
  return llvm::Error::success();
}

llvm::Expected<KdaOutputs> DeviceCase::download() const {
  KdaOutputs out;
  llvm::Expected<std::vector<double>> o = read(args_.o);
  if (!o)
    return o.takeError();
  out.o = std::move(*o);
  if (!args_.finalState.present())
    return out;
  llvm::Expected<std::vector<double>> finalState = read(args_.finalState);
  if (!finalState)
    return finalState.takeError();
  out.finalState = std::move(*finalState);
  return out;
}

llvm::Error DeviceCase::attachPool(const StatePool &pool) {
  if (!spec_.statePool)
    return llvm::createStringError("the case's spec has no state pool");
  bool kv = spec_.stateLayout == StateLayout::KV;
  std::vector<int64_t> poolShape = {pool.slots, spec_.HV, kv ? spec_.K : spec_.V,
                                    kv ? spec_.V : spec_.K};
  int64_t N = int64_t(pool.indices.size()) / pool.slotsPerSequence;
  std::vector<int64_t> indexShape = {N};
  if (spec_.perTokenStates)
    indexShape.push_back(pool.slotsPerSequence);
  auto ints = [](const std::vector<int32_t> &values) {
    return std::vector<int64_t>(values.begin(), values.end());
  };
  llvm::Expected<DeviceTensor> states = place(Tensor::fromDoubles(
      toTensorDType(spec_.stateDType), poolShape, pool.states));
  if (!states)
    return states.takeError();
  args_.statePool = *states;
  llvm::Expected<DeviceTensor> indices = place(
      Tensor::fromInts(TensorDType::I32, indexShape, ints(pool.indices)));
  if (!indices)
    return indices.takeError();
  args_.stateIndices = *indices;
  if (spec_.acceptedCounts) {
    llvm::Expected<DeviceTensor> accepted = place(
        Tensor::fromInts(TensorDType::I32, {N}, ints(pool.accepted)));
    if (!accepted)
      return accepted.takeError();
    args_.numAccepted = *accepted;
  }
  if (spec_.tokenRecords) {
    const int64_t B = args_.q.shape[0], T = args_.q.shape[1];
    Tensor records;
    records.dtype = TensorDType::F32;
    records.shape = {B, T, spec_.HV, spec_.recordWidth()};
    records.bytes.assign(records.numElements() * itemSize(records.dtype),
                         0xFF); // NaN
    llvm::Expected<DeviceTensor> placed = place(records);
    if (!placed)
      return placed.takeError();
    args_.tokenRecords = *placed;
  }
  return llvm::Error::success();
}

llvm::Expected<std::vector<double>> DeviceCase::readPool() const {
  return read(args_.statePool);
}

llvm::Expected<std::vector<double>> DeviceCase::readRecords() const {
  return read(args_.tokenRecords);
}

/// Launches `kernel` once on `args` and waits for it.
static llvm::Error launchAndWait(Jit &jit, KdaKernel &kernel,
                                 const KdaLaunchArgs &args) {
  if (llvm::Error e = kernel.launch(nullptr, args))
    return e;
  rt::Expected<rt::Device> dev = rt::Device::open(jit.options().device);
  if (!dev)
    return llvm::createStringError(dev.error());
  if (rt::Status s = dev->synchronize(); !s)
    return llvm::createStringError("running the kernels: " + s.error());
  return llvm::Error::success();
}

/// Uploads `c` (and `pool`, if given) and launches its kernels once.
static llvm::Expected<std::unique_ptr<DeviceCase>>
uploadAndRun(Jit &jit, const KdaCase &c, const StatePool *pool) {
  KernelSpec spec = c.spec;
  spec.hasFinalState = !spec.statePool;
  // Compile first: a missing driver or a refused spec is the error to show.
  llvm::Expected<std::shared_ptr<KdaKernel>> kernel = jit.get(spec);
  if (!kernel)
    return kernel.takeError();
  llvm::Expected<std::unique_ptr<DeviceCase>> device = DeviceCase::upload(c);
  if (!device)
    return device.takeError();
  if (pool)
    if (llvm::Error e = (*device)->attachPool(*pool))
      return std::move(e);
  if (llvm::Error e = launchAndWait(jit, **kernel, (*device)->args()))
    return std::move(e);
  return device;
}

/// Uploads `c` (and `pool`, if given), launches once and downloads.
static llvm::Expected<KdaOutputs> runOnGpu(Jit &jit, const KdaCase &c,
                                           const StatePool *pool) {
  llvm::Expected<std::unique_ptr<DeviceCase>> device =
      uploadAndRun(jit, c, pool);
  if (!device)
    return device.takeError();
  llvm::Expected<KdaOutputs> out = (*device)->download();
  if (!out || !pool)
    return out;
  llvm::Expected<std::vector<double>> states = (*device)->readPool();
  if (!states)
    return states.takeError();
  out->finalState = std::move(*states);
  return out;
}

KernelSpec commitSpecFor(const KernelSpec &decode) {
  KernelSpec commit = decode;
  commit.op = KernelOp::Commit;
  commit.acceptedCounts = true;
  commit.hasInitialState = commit.hasFinalState = false;
  return commit;
}

llvm::Expected<KdaLaunchArgs>
DeviceCase::commitArgs(const std::vector<int32_t> &accepted) {
  if (!spec_.tokenRecords || !args_.tokenRecords.present())
    return llvm::createStringError("the case has no token records to commit");
  int64_t N = args_.stateIndices.shape[0];
  llvm::Expected<DeviceTensor> counts = place(Tensor::fromInts(
      TensorDType::I32, {N},
      std::vector<int64_t>(accepted.begin(), accepted.end())));
  if (!counts)
    return counts.takeError();
  KdaLaunchArgs args;
  args.statePool = args_.statePool;
  args.stateIndices = args_.stateIndices;
  args.numAccepted = *counts;
  args.tokenRecords = args_.tokenRecords;
  return args;
}

llvm::Error DeviceCase::commitRecords(Jit &jit,
                                      const std::vector<int32_t> &accepted) {
  llvm::Expected<std::shared_ptr<KdaKernel>> kernel =
      jit.get(commitSpecFor(spec_));
  if (!kernel)
    return kernel.takeError();
  llvm::Expected<KdaLaunchArgs> args = commitArgs(accepted);
  if (!args)
    return args.takeError();
  return launchAndWait(jit, **kernel, *args);
}

llvm::Expected<RecordsRun>
runRecordsAndCommitOnGpu(Jit &jit, const KdaCase &c, const StatePool &pool,
                         const std::vector<int32_t> &accepted) {
  llvm::Expected<std::unique_ptr<DeviceCase>> device =
      uploadAndRun(jit, c, &pool);
  if (!device)
    return device.takeError();
  DeviceCase &d = **device;
  RecordsRun run;
  llvm::Expected<KdaOutputs> out = d.download();
  if (!out)
    return out.takeError();
  run.decode = std::move(*out);
  llvm::Expected<std::vector<double>> records = d.readRecords();
  if (!records)
    return records.takeError();
  run.records = std::move(*records);
  llvm::Expected<std::vector<double>> decoded = d.readPool();
  if (!decoded)
    return decoded.takeError();
  run.poolAfterDecode = std::move(*decoded);
  if (llvm::Error e = d.commitRecords(jit, accepted))
    return std::move(e);
  llvm::Expected<std::vector<double>> committed = d.readPool();
  if (!committed)
    return committed.takeError();
  run.poolAfterCommit = std::move(*committed);
  return run;
}

llvm::Error DeviceCase::attachCotangents(const KernelSpec &backward,
                                         const KdaCotangents &cot) {
  spec_ = backward; // upload() gave the forward a final state
  const int64_t B = args_.q.shape[0], T = args_.q.shape[1];
  const int64_t N =
      spec_.varlen ? int64_t(args_.cuSeqlens.shape[0]) - 1 : B;
  std::map<std::string, TensorLayout> layouts = tensorLayouts(spec_, B, T, N);
  args_.o = args_.finalState = DeviceTensor();
  auto upload = [&](const char *name, DeviceTensor &slot,
                    const std::vector<double> &values) -> llvm::Error {
    const TensorLayout &layout = layouts.at(name);
    if (!layout.present)
      return llvm::Error::success();
    std::vector<int64_t> shape(layout.shape.begin(), layout.shape.end());
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    std::vector<double> data = values; // empty dht: zero
    data.resize(count, 0.0);
    llvm::Expected<DeviceTensor> t =
        place(Tensor::fromDoubles(layout.dtype, shape, data));
    if (!t)
      return t.takeError();
    slot = *t;
    return llvm::Error::success();
  };
  if (llvm::Error e = upload("do", args_.dO, cot.dO))
    return e;
  if (llvm::Error e = upload("dht", args_.dht, cot.dFinalState))
    return e;
  const std::pair<const char *, DeviceTensor *> grads[] = {
      {"dq", &args_.dq},     {"dk", &args_.dk},       {"dv", &args_.dv},
      {"dg", &args_.dg},     {"dbeta", &args_.dbeta}, {"dA_log", &args_.dALog},
      {"ddt_bias", &args_.dDtBias}, {"dh0", &args_.dh0}};
  for (auto [name, slot] : grads) {
    const TensorLayout &layout = layouts.at(name);
    if (!layout.present)
      continue;
    Tensor t;
    t.dtype = layout.dtype;
    t.shape.assign(layout.shape.begin(), layout.shape.end());
    t.bytes.assign(t.numElements() * itemSize(t.dtype), 0xFF); // NaN
    llvm::Expected<DeviceTensor> placed = place(t);
    if (!placed)
      return placed.takeError();
    *slot = *placed;
  }
  return llvm::Error::success();
}

llvm::Expected<KdaGradients> DeviceCase::downloadGradients() const {
  KdaGradients g;
  const std::pair<const DeviceTensor *, std::vector<double> *> grads[] = {
      {&args_.dq, &g.dq},       {&args_.dk, &g.dk},
      {&args_.dv, &g.dv},       {&args_.dg, &g.dg},
      {&args_.dbeta, &g.dbeta}, {&args_.dALog, &g.dALog},
      {&args_.dDtBias, &g.dDtBias}, {&args_.dh0, &g.dInitialState}};
  for (auto [tensor, values] : grads) {
    if (!tensor->present())
      continue;
    llvm::Expected<std::vector<double>> read = this->read(*tensor);
    if (!read)
      return read.takeError();
    *values = std::move(*read);
  }
  return g;
}

llvm::Expected<KdaGradients> runBackwardOnGpu(Jit &jit, const KdaCase &c,
                                              const KdaCotangents &cot) {
  llvm::Expected<std::shared_ptr<KdaKernel>> kernel = jit.get(c.spec);
  if (!kernel)
    return kernel.takeError();
  llvm::Expected<std::unique_ptr<DeviceCase>> device = DeviceCase::upload(c);
  if (!device)
    return device.takeError();
  if (llvm::Error e = (*device)->attachCotangents(c.spec, cot))
    return std::move(e);
  if (llvm::Error e = launchAndWait(jit, **kernel, (*device)->args()))
    return std::move(e);
  return (*device)->downloadGradients();
}

llvm::Expected<KdaOutputs> runCaseOnGpu(Jit &jit, const KdaCase &c) {
  return runOnGpu(jit, c, nullptr);
}

llvm::Expected<KdaOutputs> runPooledCaseOnGpu(Jit &jit, const KdaCase &c,
                                              const StatePool &pool) {
  return runOnGpu(jit, c, &pool);
}

} // namespace kdac
