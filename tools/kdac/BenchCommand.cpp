//===- BenchCommand.cpp - kdac bench: time the GPU kernels on a case ------===//
//
// Loads a case, JIT-compiles its kernels twice (a cold compile into a fresh
// cache, then a hit from that disk cache), and times the kernels with CUDA
// events (KernelTimer.h: as do_bench times FLA): warm-up launches, then the
// median of many timed launches. Prints one line of key=value pairs for the
// benchmark harness to read. --decode
// and --state-pool time the decode kernel (plain, or in place on a pool);
// --backward also times the backward's kernels (a second line).
// This is a benchmark, not a test: nothing here passes or fails on time.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"
#include "KernelTimer.h"

#include "kdac/Reference/ReferenceBackward.h"
#include "kdac/Testing/GpuCase.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

namespace cl = llvm::cl;

namespace kdac::cli {

cl::SubCommand benchCommand("bench",
                            "Time the JIT-compiled kernels on a case (GPU)");

static cl::opt<std::string> benchCase(cl::Positional, cl::Required,
                                      cl::desc("<case.safetensors>"),
                                      cl::sub(benchCommand));
static cl::opt<int> iterations("iters",
                               cl::desc("Timed launches (default: 100)"),
                               cl::init(100), cl::sub(benchCommand));
static cl::opt<int> warmup("warmup",
                           cl::desc("Untimed launches first (default: 10)"),
                           cl::init(10), cl::sub(benchCommand));
static cl::opt<bool> benchDecode(
    "decode", cl::desc("Time the token-by-token decode kernel"),
    cl::sub(benchCommand));
static cl::opt<bool> benchBackward(
    "backward",
    cl::desc("Also time the backward's kernels on the case's cotangents "
             "(do, dht; standard normal ones where the case has none)"),
    cl::sub(benchCommand));
static cl::opt<bool> benchPool(
    "state-pool",
    cl::desc("Decode with the case's initial state as a slot pool, updated "
             "in place (slot n for sequence n)"),
    cl::sub(benchCommand));

static cl::opt<bool> benchTokenRecords(
    "token-records",
    cl::desc("With --state-pool: the decode call writes token records and "
             "leaves the pool (a second line times the commit of every "
             "token)"),
    cl::sub(benchCommand));

static cl::opt<bool> benchPerToken(
    "per-token",
    cl::desc("With --state-pool: T slots per sequence, the state after each "
             "token to its own (speculative decoding's per-token states)"),
    cl::sub(benchCommand));

namespace {
double millisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

/// Times Jit::get in a fresh Jit over `cacheDir`.
llvm::Expected<std::pair<std::shared_ptr<KdaKernel>, double>>
timedGet(const KernelSpec &spec, const ChunkedPipelineOptions &pipeline,
         const std::string &cacheDir) {
  JitOptions options;
  options.pipeline = pipeline;
  options.cacheDirectory = cacheDir;
  Jit jit(options);
  auto start = std::chrono::steady_clock::now();
  llvm::Expected<std::shared_ptr<KdaKernel>> kernel = jit.get(spec);
  if (!kernel)
    return kernel.takeError();
  return std::make_pair(*kernel, millisecondsSince(start));
}
} // namespace

/// Times the backward's kernels on the forward's device case, and prints
/// their median and the workspace bytes they need (what the backward keeps
/// between its kernels; the forward saves nothing for it).
static int benchBackwardKernels(KdaCase &loaded,
                                const ChunkedPipelineOptions &pipeline,
                                const std::string &cacheDir,
                                DeviceCase &device) {
  KernelSpec spec = loaded.spec;
  spec.op = KernelOp::Backward;
  auto compiled = timedGet(spec, pipeline, cacheDir);
  if (!compiled)
    return reportError(llvm::toString(compiled.takeError()));
  if (llvm::Error e = attachTimingCotangents(spec, loaded, device))
    return reportError(llvm::toString(std::move(e)));
  KdaKernel &kernel = *compiled->first;
  llvm::Expected<std::vector<size_t>> bytes =
      kernel.workspaceBytes(device.args());
  if (!bytes)
    return reportError(llvm::toString(bytes.takeError()));
  size_t workspace = 0;
  for (size_t b : *bytes)
    workspace += b;
  llvm::Expected<std::vector<double>> timed =
      timeLaunches(kernel, device.args(), warmup, iterations);
  if (!timed)
    return reportError(llvm::toString(timed.takeError()));
  const std::vector<double> &times = *timed;
  llvm::outs() << llvm::format(
      "kdac_bwd_ms median=%.4f min=%.4f kernels=%zu workspace_bytes=%zu "
      "jit_cold_ms=%.1f\n",
      times.empty() ? 0 : times[times.size() / 2],
      times.empty() ? 0 : times.front(), kernel.launchDescriptor().kernels.size(),
      workspace, compiled->second);
  return 0;
}

/// Times the commit of a token-records call's records, every token
/// accepted (the most the commit moves), on the pool the decode left.
static int benchCommit(const KernelSpec &decode,
                       const ChunkedPipelineOptions &pipeline,
                       const std::string &cacheDir, DeviceCase &device) {
  KernelSpec commit = commitSpecFor(decode);
  auto compiled = timedGet(commit, pipeline, cacheDir);
  if (!compiled)
    return reportError(llvm::toString(compiled.takeError()));
  int64_t N = device.args().stateIndices.shape[0];
  int64_t T = device.args().tokenRecords.shape[1];
  llvm::Expected<KdaLaunchArgs> args =
      device.commitArgs(std::vector<int32_t>(N, int32_t(T)));
  if (!args)
    return reportError(llvm::toString(args.takeError()));
  llvm::Expected<std::vector<double>> timed =
      timeLaunches(*compiled->first, *args, warmup, iterations);
  if (!timed)
    return reportError(llvm::toString(timed.takeError()));
  const std::vector<double> &times = *timed;
  llvm::outs() << llvm::format(
      "kdac_commit_ms median=%.4f min=%.4f jit_cold_ms=%.1f\n",
      times.empty() ? 0 : times[times.size() / 2],
      times.empty() ? 0 : times.front(), compiled->second);
  return 0;
}

int runBench() {
  std::optional<ChunkedPipelineOptions> pipeline = pipelineOptionsFromFlags();
  if (!pipeline || archFromFlags().empty())
    return 1;
  llvm::Expected<KdaCase> loaded = loadCase(benchCase);
  if (!loaded)
    return reportError(llvm::toString(loaded.takeError()));
  KernelSpec &spec = loaded->spec;
  spec.hasFinalState = true;
  spec.arch = archFromFlags();
  if (benchDecode || benchPool)
    spec.op = KernelOp::Decode;
  std::optional<StatePool> pool;
  if (benchPool) {
    if (!spec.hasInitialState)
      return reportError("--state-pool needs a case with an initial state");
    // The initial states become the pool, slot n serving sequence n.
    pool.emplace();
    pool->states = loaded->inputs.initialState;
    pool->slots = numSequences(spec, loaded->inputs);
    for (int64_t n = 0; n < pool->slots; ++n)
      pool->indices.push_back(int32_t(n));
    if (benchPerToken) {
      // Sequence n starts from slot n; token t's state goes to slot
      // N + n * T + t.
      int64_t N = pool->slots, T = loaded->inputs.T;
      int64_t slotSize = spec.HV * spec.K * spec.V;
      pool->slotsPerSequence = T;
      pool->indices.clear();
      for (int64_t n = 0; n < N; ++n)
        for (int64_t t = 0; t < T; ++t)
          pool->indices.push_back(int32_t(t == 0 ? n : N + n * T + t));
      pool->slots = N + N * T;
      pool->states.resize(pool->slots * slotSize, 0.0);
      spec.perTokenStates = true;
    }
    loaded->inputs.initialState.clear();
    spec.hasInitialState = spec.hasFinalState = false;
    spec.statePool = true;
    spec.tokenRecords = benchTokenRecords;
    if (spec.tokenRecords)
      spec.T = loaded->inputs.T; // the records keep the call's T
  } else if (benchTokenRecords || benchPerToken) {
    return reportError("--token-records and --per-token need --state-pool");
  }
  if (std::string problem = validate(spec); !problem.empty())
    return reportError("the case's spec cannot be benchmarked this way: " +
                       problem);

  std::optional<ScratchDirectory> cacheDir =
      ScratchDirectory::create("kdac-bench-cache");
  if (!cacheDir)
    return 1;
  auto cold = timedGet(spec, *pipeline, cacheDir->path());
  if (!cold)
    return reportError(llvm::toString(cold.takeError()));
  auto disk = timedGet(spec, *pipeline, cacheDir->path());
  if (!disk)
    return reportError(llvm::toString(disk.takeError()));
  std::shared_ptr<KdaKernel> kernel = disk->first;

  llvm::Expected<std::unique_ptr<DeviceCase>> device =
      DeviceCase::upload(*loaded);
  if (!device)
    return reportError(llvm::toString(device.takeError()));
  if (pool)
    if (llvm::Error e = (*device)->attachPool(*pool))
      return reportError(llvm::toString(std::move(e)));
  llvm::Expected<std::vector<double>> timed =
      timeLaunches(*kernel, (*device)->args(), warmup, iterations);
  if (!timed)
    return reportError(llvm::toString(timed.takeError()));
  const std::vector<double> &times = *timed;
  double median = times.empty() ? 0 : times[times.size() / 2];
  const KernelTimings &coldTimings = cold->first->timings();
  llvm::outs() << llvm::format(
      "kdac_ms median=%.4f min=%.4f iters=%d chunk=%lld jit_cold_ms=%.1f "
      "(generate=%.1f nvrtc=%.1f load=%.1f) jit_disk_hit_ms=%.1f\n",
      median, times.empty() ? 0 : times.front(), int(iterations),
      (long long)kernel->launchDescriptor().chunkSize, cold->second,
      coldTimings.generateMilliseconds, coldTimings.compileMilliseconds,
      coldTimings.loadMilliseconds, disk->second);
  if (benchBackward)
    return benchBackwardKernels(*loaded, *pipeline, cacheDir->path(), **device);
  if (spec.tokenRecords)
    return benchCommit(spec, *pipeline, cacheDir->path(), **device);
  return 0;
}

} // namespace kdac::cli
