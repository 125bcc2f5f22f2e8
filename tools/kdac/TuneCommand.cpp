//===- TuneCommand.cpp - kdac tune: sweep compilation choices on a GPU ----===//
//
// For the spec of a case file: compiles every candidate configuration (in
// parallel on the CPU, through NVRTC into a private cache), rejects those
// whose outputs miss the fp64 oracle on a fresh random case, times the rest
// on the case's inputs (CUDA events, warm-up, median) and records the fastest
// in a tuning database the JIT and kdac read. With --backward the same for
// the backward's kernels, checked on their gradients and timed on the
// case's cotangents. Progress goes to stderr, a summary table to stdout.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"
#include "KernelTimer.h"

#include "kdac/Jit/Codegen.h"
#include "kdac/Testing/GpuCase.h"
#include "kdac/Tune/TuningDatabase.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <ctime>
#include <future>
#include <thread>

namespace cl = llvm::cl;

namespace kdac::cli {

cl::SubCommand tuneCommand(
    "tune", "Sweep compilation choices on the GPU and record the fastest");

static cl::opt<std::string> tuneCase(cl::Positional, cl::Required,
                                     cl::desc("<case.safetensors>"),
                                     cl::sub(tuneCommand));
static cl::opt<std::string>
    databaseOut("db",
                cl::desc("Tuning database to add the result to (created if "
                         "absent) (default: kdac-tuning.json)"),
                cl::init("kdac-tuning.json"), cl::sub(tuneCommand));
static cl::opt<bool> tuneBackward(
    "backward",
    cl::desc("Tune the backward's kernels (their gradients checked against "
             "the fp64 oracle; timed on the case's cotangents, or standard "
             "normal ones where the case has none)"),
    cl::sub(tuneCommand));
static cl::opt<bool> tuneDecode(
    "decode",
    cl::desc("Tune the token-by-token decode kernel (where the state slice "
             "lives, its V tile, threads per block) for the case's B and T"),
    cl::sub(tuneCommand));
static cl::opt<int>
    tuneIterations("iters",
                   cl::desc("Timed launches per candidate (default: 20)"),
                   cl::init(20), cl::sub(tuneCommand));

namespace {
struct Result {
  ChunkedPipelineOptions options;
  std::string status; ///< "ok" or why the candidate was dropped
  double milliseconds = 0;
};

std::string today() {
  std::time_t now = std::time(nullptr);
  char text[16];
  std::strftime(text, sizeof(text), "%Y-%m-%d", std::gmtime(&now));
  return text;
}

/// Median of `iters` timed launches after a short warm-up.
llvm::Expected<double> timeKernel(KdaKernel &kernel, const DeviceCase &device,
                                  int iters) {
  llvm::Expected<std::vector<double>> times =
      timeLaunches(kernel, device.args(), /*warmup=*/3, iters);
  if (!times)
    return times.takeError();
  return (*times)[times->size() / 2];
}

/// A backward check case's cotangents and the oracle's gradients for them,
/// computed once for every candidate.
struct GradientCheck {
  KdaCotangents cotangents;
  KdaGradients expected;
};

/// The worst relative error of a candidate on the check case: its outputs,
/// or with `gradients` (a backward spec) its gradients.
llvm::Expected<double> checkError(Jit &jit, const KdaCase &check,
                                  const GradientCheck *gradients) {
  if (!gradients) {
    llvm::Expected<KdaOutputs> got = runCaseOnGpu(jit, check);
    if (!got)
      return got.takeError();
    return std::max(relativeError(got->o, check.expected->o),
                    relativeError(got->finalState, check.expected->finalState));
  }
  llvm::Expected<KdaGradients> got =
      runBackwardOnGpu(jit, check, gradients->cotangents);
  if (!got)
    return got.takeError();
  double worst = 0;
  for (const GradientField &field : kGradientFields)
    if (!(gradients->expected.*field.member).empty())
      worst = std::max(worst, relativeError((*got).*field.member,
                                            gradients->expected.*field.member));
  return worst;
}
} // namespace

int runTune() {
  if (archFromFlags().empty())
    return 1;
  llvm::Expected<KdaCase> loaded = loadCase(tuneCase);
  if (!loaded)
    return reportError(llvm::toString(loaded.takeError()));
  KernelSpec spec = loaded->spec;
  spec.hasFinalState = true;
  spec.arch = archFromFlags();
  if (tuneBackward && tuneDecode)
    return reportError("--backward and --decode tune different kernels; pick "
                       "one");
  if (tuneBackward)
    spec.op = KernelOp::Backward;
  if (tuneDecode)
    spec.op = KernelOp::Decode;
  // Fail before minutes of compiling when there is nothing to time on.
  rt::Expected<rt::Device> gpu = rt::Device::open(0);
  if (!gpu)
    return reportError(gpu.error());
  std::vector<ChunkedPipelineOptions> candidates = tuningCandidates(spec);

  std::optional<ScratchDirectory> cacheDir =
      ScratchDirectory::create("kdac-tune-cache");
  if (!cacheDir)
    return 1;
  auto jitFor = [&](const ChunkedPipelineOptions &options) {
    JitOptions jit;
    jit.pipeline = options;
    jit.cacheDirectory = cacheDir->path();
    return std::make_unique<Jit>(jit);
  };

  // Phase 1: generate and compile every candidate on the CPU, in parallel;
  // the cubins land in the private cache for phase 2.
  std::vector<Result> results(candidates.size());
  {
    unsigned workers = std::max(1u, std::thread::hardware_concurrency());
    std::atomic<size_t> next{0}, done{0};
    rt::KernelCompiler compiler({cacheDir->path(), true});
    auto work = [&] {
      for (size_t i; (i = next++) < candidates.size();) {
        results[i].options = candidates[i];
        llvm::Expected<EmittedCuda> cuda = generateCuda(spec, candidates[i]);
        if (!cuda) {
          results[i].status = "does not lower: " +
                              llvm::toString(cuda.takeError()).substr(0, 60);
        } else {
          rt::CompileRequest request;
          request.source = cuda->source;
          request.programName = "kdac_kda.cu";
          request.arch = spec.arch;
          rt::Expected<rt::CompiledKernel> cubin = compiler.getCubin(request);
          results[i].status = cubin ? "ok" : "NVRTC failed";
        }
        llvm::errs() << "\rcompiling [" << ++done << "/" << candidates.size()
                     << "]";
      }
    };
    std::vector<std::thread> pool;
    for (unsigned w = 0; w < workers; ++w)
      pool.emplace_back(work);
    for (std::thread &t : pool)
      t.join();
    llvm::errs() << "\n";
  }

  // Phase 2: check each candidate against the oracle on a fresh small case,
  // then time it on the case's own inputs.
  // (A decode kernel of a static T takes only that T: four sequences of it.)
  std::vector<int64_t> seqLens;
  int64_t checkB = 1, checkT = 300;
  if (spec.varlen)
    seqLens = {100, 1, 199};
  else if (spec.keepsTokensStatic())
    checkB = 4, checkT = spec.T;
  KdaCase check = makeRandomCase(spec, checkB, checkT, seqLens,
                                 /*seed=*/12345);
  std::optional<GradientCheck> gradientCheck;
  if (tuneBackward) {
    KdaCotangents cot = makeRandomCotangents(spec, check.inputs, 54321);
    llvm::Expected<KdaGradients> want =
        runReferenceBackward(check.spec, check.inputs, cot);
    if (!want)
      return reportError(llvm::toString(want.takeError()));
    gradientCheck = GradientCheck{std::move(cot), std::move(*want)};
  }
  double tolerance = spec.dtype == DType::F32 ? 1e-4 : 5e-3;
  llvm::Expected<std::unique_ptr<DeviceCase>> device =
      DeviceCase::upload(*loaded);
  if (!device)
    return reportError(llvm::toString(device.takeError()));
  if (tuneBackward)
    if (llvm::Error e = attachTimingCotangents(spec, *loaded, **device))
      return reportError(llvm::toString(std::move(e)));
  for (size_t i = 0; i < results.size(); ++i) {
    Result &r = results[i];
    llvm::errs() << "timing [" << i + 1 << "/" << results.size() << "] "
                 << describe(r.options);
    if (r.status == "ok") {
      std::unique_ptr<Jit> jit = jitFor(r.options);
      llvm::Expected<double> err = checkError(
          *jit, check, gradientCheck ? &*gradientCheck : nullptr);
      if (!err)
        r.status = "failed: " + llvm::toString(err.takeError()).substr(0, 60);
      else if (!(*err <= tolerance))
        r.status = "wrong: rel err " + std::to_string(*err);
      if (r.status == "ok") {
        llvm::Expected<std::shared_ptr<KdaKernel>> kernel =
            jit->get(spec, loaded->spec.T);
        llvm::Expected<double> ms =
            kernel ? timeKernel(**kernel, **device, tuneIterations)
                   : llvm::Expected<double>(kernel.takeError());
        if (ms)
          r.milliseconds = *ms;
        else
          r.status = "failed: " + llvm::toString(ms.takeError()).substr(0, 60);
      }
    }
    llvm::errs() << ": " << (r.status == "ok" ? "" : r.status);
    if (r.status == "ok")
      llvm::errs() << llvm::format("%.3f ms", r.milliseconds);
    llvm::errs() << "\n";
  }

  std::stable_sort(results.begin(), results.end(),
                   [](const Result &a, const Result &b) {
                     if ((a.status == "ok") != (b.status == "ok"))
                       return a.status == "ok";
                     return a.milliseconds < b.milliseconds;
                   });
  llvm::outs() << "| configuration | ms | status |\n|---|---|---|\n";
  for (const Result &r : results)
    llvm::outs() << "| " << describe(r.options) << " | "
                 << (r.status == "ok" ? llvm::formatv("{0:F3}", r.milliseconds).str()
                                      : std::string("-"))
                 << " | " << r.status << " |\n";
  if (results.empty() || results.front().status != "ok")
    return reportError("no candidate passed the oracle check");

  TuningDatabase db;
  if (llvm::sys::fs::exists(databaseOut.getValue())) {
    llvm::Expected<TuningDatabase> existing = TuningDatabase::load(databaseOut);
    if (!existing)
      return reportError(llvm::toString(existing.takeError()));
    db = std::move(*existing);
  }
  TuningEntry best;
  best.arch = spec.arch;
  best.spec = tuningSpecKey(spec);
  best.bucket = sequenceBucket(loaded->spec.T);
  best.options = results.front().options;
  best.milliseconds = results.front().milliseconds;
  best.measuredOn = gpu->properties().name + ", " + today();
  db.record(best);
  if (llvm::Error e = db.save(databaseOut))
    return reportError(llvm::toString(std::move(e)));
  llvm::outs() << "best: " << describe(best.options) << " at "
               << llvm::format("%.3f", best.milliseconds) << " ms; recorded in "
               << databaseOut << "\n";
  return 0;
}

} // namespace kdac::cli
