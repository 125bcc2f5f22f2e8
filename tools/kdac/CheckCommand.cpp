//===- CheckCommand.cpp - kdac check: run a backend on a case -------------===//
//
// Loads a case file (FLA's golden format), runs the chosen backend on its
// inputs and prints the relative error of o and final_state against the
// file's expected outputs (and, for a gradient file with the reference
// backend, of every gradient it holds). A backend is a function from (spec,
// inputs) to outputs; new backends (GPU) plug into the table below.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "CliDiagnostics.h"

#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Interpreter/Interpreter.h"
#include "kdac/Testing/GpuCase.h"
#include "kdac/Reference/Case.h"
#include "kdac/Reference/ReferenceBackward.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <tuple>

namespace cl = llvm::cl;

namespace kdac::cli {

static cl::opt<std::string> caseFile(cl::Positional, cl::Required,
                                     cl::desc("<case.safetensors>"),
                                     cl::sub(checkCommand));
static cl::opt<std::string> backendFlag(
    "backend",
    cl::desc("Backend to check: reference (fp64 oracle) | interp (the CPU "
             "interpreter on the IR after --stage) | gpu (the JIT-compiled "
             "chunkwise kernels on CUDA device 0) | decode (the JIT-compiled "
             "token-by-token kernel on CUDA device 0) (default: reference)"),
    cl::init("reference"), cl::sub(checkCommand));
static cl::opt<std::string>
    stageFlag("stage",
              cl::desc("IR stage the interpreter runs: kda | chunked | "
                       "expanded | split (default: expanded)"),
              cl::init("expanded"), cl::sub(checkCommand));
static cl::opt<std::string>
    precisionFlag("precision",
                  cl::desc("Interpreter arithmetic: f64 | f32 (default: f64)"),
                  cl::init("f64"), cl::sub(checkCommand));
static cl::opt<double> tolFlag(
    "tol", cl::desc("Largest relative error that passes (default 1e-5, or "
                    "5e-3 when any input or the state is 16-bit)"),
    cl::init(1e-5), cl::sub(checkCommand));

namespace {
using Backend = llvm::Expected<KdaOutputs> (*)(const KdaCase &);

llvm::Expected<KdaOutputs> runReferenceBackend(const KdaCase &c) {
  return runReference(c.spec, c.inputs);
}

/// The interpreter's flags, read once per run.
struct InterpreterSetup {
  Stage stage;
  InterpreterOptions options;
  ChunkedPipelineOptions pipeline;
};

llvm::Expected<InterpreterSetup> interpreterSetup() {
  std::optional<Stage> stage;
  if (stageFlag == "kda") stage = Stage::KDA;
  if (stageFlag == "chunked") stage = Stage::Chunked;
  if (stageFlag == "expanded") stage = Stage::Expanded;
  if (stageFlag == "split") stage = Stage::Split;
  if (!stage)
    return llvm::createStringError("invalid value '" + stageFlag +
                                   "' for --stage (expected kda, chunked, "
                                   "expanded or split)");
  InterpreterSetup setup{*stage, {}, {}};
  if (precisionFlag == "f32")
    setup.options.precision = InterpreterOptions::Precision::F32;
  else if (precisionFlag != "f64")
    return llvm::createStringError("invalid value '" + precisionFlag +
                                   "' for --precision (expected f64 or f32)");
  std::optional<ChunkedPipelineOptions> pipelineOptions =
      pipelineOptionsFromFlags();
  if (!pipelineOptions)
    return llvm::createStringError("bad compilation flags");
  setup.pipeline = *pipelineOptions;
  return setup;
}

/// Builds the module for \p spec (forward or gradient), runs the stage's
/// pipeline on it and hands it to \p interpretModule.
template <typename Result>
llvm::Expected<Result> interpretBuilt(
    const KernelSpec &spec, bool gradient,
    llvm::function_ref<llvm::Expected<Result>(mlir::ModuleOp,
                                              const InterpreterOptions &)>
        interpretModule) {
  llvm::Expected<InterpreterSetup> setup = interpreterSetup();
  if (!setup)
    return setup.takeError();
  mlir::DialectRegistry registry;
  registerKdacDialects(registry);
  mlir::MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  CliDiagnosticHandler diagnostics(sourceMgr, context);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      gradient ? buildRecurrenceGradModule(context, spec)
               : buildRecurrenceModule(context, spec);
  if (!module)
    return llvm::createStringError("the case's spec does not build valid IR");
  mlir::PassManager pm(&context);
  buildPipeline(pm, setup->stage, setup->pipeline);
  if (failed(pm.run(*module)))
    return llvm::createStringError("the pass pipeline failed (see above)");
  return interpretModule(*module, setup->options);
}

llvm::Expected<KdaOutputs> runInterpreterBackend(const KdaCase &c) {
  KernelSpec spec = c.spec;
  spec.hasFinalState = true;
  return interpretBuilt<KdaOutputs>(
      spec, /*gradient=*/false,
      [&](mlir::ModuleOp module, const InterpreterOptions &options) {
        return interpret(module, spec, c.inputs, options);
      });
}

llvm::Expected<KdaGradients> runReferenceBackward(const KdaCase &c) {
  return runReferenceBackward(c.spec, c.inputs, *c.cotangents);
}

llvm::Expected<KdaGradients> runInterpreterBackward(const KdaCase &c) {
  return interpretBuilt<KdaGradients>(
      c.spec, /*gradient=*/true,
      [&](mlir::ModuleOp module, const InterpreterOptions &options) {
        return interpretGradients(module, c.spec, c.inputs, *c.cotangents,
                                  options);
      });
}

/// The case for the device, its spec at `op` for --arch, and a JIT with
/// the compilation flags; run(jit, case) launches it.
template <typename Result, typename Run>
llvm::Expected<Result> onDevice(const KdaCase &c, KernelOp op, Run run) {
  std::optional<ChunkedPipelineOptions> pipelineOptions =
      pipelineOptionsFromFlags();
  if (!pipelineOptions)
    return llvm::createStringError("bad compilation flags");
  JitOptions options;
  options.pipeline = *pipelineOptions;
  Jit jit(options);
  KdaCase device = c;
  device.spec.arch = archFromFlags();
  device.spec.op = op;
  return run(jit, device);
}

llvm::Expected<KdaOutputs> runOnDevice(const KdaCase &c, bool decode) {
  return onDevice<KdaOutputs>(
      c, decode ? KernelOp::Decode : KernelOp::Forward,
      [](Jit &jit, const KdaCase &device) { return runCaseOnGpu(jit, device); });
}

/// The backward's kernels on the case's cotangents (convert-kda-grad-to-kdk).
llvm::Expected<KdaGradients> runGpuBackward(const KdaCase &c) {
  return onDevice<KdaGradients>(
      c, KernelOp::Backward, [&](Jit &jit, const KdaCase &device) {
        return runBackwardOnGpu(jit, device, *c.cotangents);
      });
}

llvm::Expected<KdaOutputs> runGpuBackend(const KdaCase &c) {
  return runOnDevice(c, /*decode=*/false);
}

llvm::Expected<KdaOutputs> runDecodeBackend(const KdaCase &c) {
  return runOnDevice(c, /*decode=*/true);
}

struct BackendEntry {
  llvm::StringRef name;
  Backend run;
  /// Null for a backend without a backward yet.
  llvm::Expected<KdaGradients> (*backward)(const KdaCase &);
};
const BackendEntry kBackends[] = {
    {"reference", runReferenceBackend, runReferenceBackward},
    {"interp", runInterpreterBackend, runInterpreterBackward},
    {"gpu", runGpuBackend, runGpuBackward},
    {"decode", runDecodeBackend, nullptr}};

/// Prints one comparison line; returns whether it passed. NaN never passes.
bool report(llvm::StringRef name, const std::vector<double> &got,
            const std::vector<double> &want, double tol) {
  bool finite = true;
  for (double x : got)
    finite &= std::isfinite(x);
  double err = relativeError(got, want);
  bool pass = finite && err <= tol;
  llvm::outs() << llvm::format("  %-12s rel err %.3e  %s%s\n",
                               name.str().c_str(), err, pass ? "ok" : "FAIL",
                               finite ? "" : " (non-finite values)");
  return pass;
}
} // namespace

int runCheck() {
  const BackendEntry *backend = nullptr;
  for (const BackendEntry &entry : kBackends)
    if (entry.name == backendFlag.getValue())
      backend = &entry;
  if (!backend)
    return reportError("invalid value '" + backendFlag +
                       "' for --backend (expected reference, interp, gpu or decode)");
  if (!(tolFlag >= 0.0))
    return reportError("--tol must be non-negative");

  llvm::Expected<KdaCase> loaded = loadCase(caseFile);
  if (!loaded)
    return reportError(llvm::toString(loaded.takeError()));
  const KdaCase &c = *loaded;
  if (!c.expected)
    return reportError(caseFile + ": the case holds no expected outputs");

  llvm::Expected<KdaOutputs> got = backend->run(c);
  if (!got)
    return reportError(caseFile + ": backend " + backend->name + ": " +
                       llvm::toString(got.takeError()));

  const KernelSpec &s = c.spec;
  // The project's bar for 16-bit data: 5e-3 against the fp64 oracle fed the
  // same rounded inputs (one bf16 rounding is 2^-9 = 2e-3).
  auto is16Bit = [](DType t) { return t == DType::BF16 || t == DType::F16; };
  bool sixteenBit = is16Bit(s.dtype) || is16Bit(s.betaDType) ||
                    is16Bit(s.stateDType) ||
                    (s.gate != GateGranularity::None && is16Bit(s.gateDType));
  double tol = tolFlag.getNumOccurrences() ? tolFlag.getValue()
               : sixteenBit                ? 5e-3
                                           : 1e-5;
  llvm::outs() << "case " << caseFile << ": B=" << s.B << " T=" << s.T
               << " H=" << s.H << " HV=" << s.HV << " K=" << s.K << " V=" << s.V
               << " dtype=" << toString(s.dtype) << " gate=" << toString(s.gate)
               << "/" << toString(s.activation) << (s.varlen ? " varlen" : "")
               << "\nbackend " << backend->name << ", tolerance "
               << llvm::format("%g", tol) << "\n";
  // A file may hold either expected output; say which one it lacks.
  bool pass = true;
  if (c.expected->o.empty())
    llvm::outs() << "  o            not in the case file, not compared\n";
  else
    pass &= report("o", got->o, c.expected->o, tol);
  if (!c.expected->finalState.empty())
    pass &= report("final_state", got->finalState, c.expected->finalState,
                   tol);
  // Gradient files: every backend but decode has a backward.
  if (c.cotangents && c.expectedGradients && backend->backward) {
    llvm::Expected<KdaGradients> grads = backend->backward(c);
    if (!grads)
      return reportError(caseFile + ": backward of backend " + backend->name +
                         ": " + llvm::toString(grads.takeError()));
    const KdaGradients &want = *c.expectedGradients;
    for (const GradientField &field : kGradientFields)
      if (!(want.*field.member).empty())
        pass &= report(field.name, (*grads).*field.member, want.*field.member,
                       tol);
  }
  llvm::outs() << (pass ? "PASS" : "FAIL") << "\n";
  return pass ? 0 : 1;
}

} // namespace kdac::cli
