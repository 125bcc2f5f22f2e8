//===- CompileCommand.cpp - kdac's default command: compile to a stage ----===//
//
// Reads a .mlir file or builds kda.recurrence from spec flags, runs the
// shared pipeline up to the stage named by --emit, and prints the result.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "CliDiagnostics.h"

#include "kdac/Frontend/SourceChecks.h"
#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Jit/Codegen.h"
#include "kdac/Pipelines/Pipelines.h"
#include "kdac/Support/FileIO.h"
#include "kdac/Tune/TuningDatabase.h"
#include "kdac/runtime/Nvrtc.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SourceMgr.h"

namespace cl = llvm::cl;
using namespace mlir;

namespace kdac::cli {

static cl::opt<std::string> inputFile(cl::Positional,
                                      cl::desc("[input .mlir file]"),
                                      cl::init(""));
static cl::opt<std::string> outputFile("o", cl::desc("Output file (default: stdout)"),
                                       cl::value_desc("file"), cl::init("-"));
static cl::opt<std::string> emitStage(
    "emit",
    cl::desc(
        "Stage to stop after: kda (the verified kda.recurrence), chunked "
        "(kda-chunk), expanded (UT inverse expanded, decay anchored), "
        "split (the chunk loop cut at the state: map and scan), kernel "
        "(kdk thread-block kernels), cuda (CUDA C++ with its launch "
        "descriptor), launch-descriptor (its text alone, for KernelSet), "
        "ptx, cubin (NVRTC, for --arch: one image holding every kernel) "
        "(default: kda)"),
    cl::init("kda"));

namespace {
/// Where --emit stops: after a pass pipeline stage, or after code generation.
enum class Output { IR, Cuda, LaunchDescriptor, Ptx, Cubin };
struct EmitStage {
  llvm::StringRef name;
  Stage stage;
  Output output;
};
const EmitStage kEmitStages[] = {
    {"kda", Stage::KDA, Output::IR},
    {"chunked", Stage::Chunked, Output::IR},
    {"expanded", Stage::Expanded, Output::IR},
    {"split", Stage::Split, Output::IR},
    {"kernel", Stage::Kernel, Output::IR},
    {"cuda", Stage::Kernel, Output::Cuda},
    {"launch-descriptor", Stage::Kernel, Output::LaunchDescriptor},
    {"ptx", Stage::Kernel, Output::Ptx},
    {"cubin", Stage::Kernel, Output::Cubin}};

OwningOpRef<ModuleOp> readOrBuildModule(MLIRContext &context,
                                        llvm::SourceMgr &sourceMgr,
                                        std::optional<KernelSpec> &spec) {
  if (inputFile.empty()) {
    spec = specFromFlags();
    if (!spec)
      return nullptr;
    OwningOpRef<ModuleOp> module = buildSpecModule(context, *spec);
    if (!module)
      reportError("internal error: the module built from the spec does not "
                  "verify");
    return module;
  }
  if (anySpecFlagGiven()) {
    reportError("spec flags cannot be combined with an input file");
    return nullptr;
  }
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      readMlirSource(inputFile);
  if (!buffer) {
    reportError(llvm::toString(buffer.takeError()));
    return nullptr;
  }
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  // The parser and verifier print located diagnostics themselves.
  return parseSourceFile<ModuleOp>(sourceMgr, &context);
}

/// Compiles the emitted CUDA with NVRTC for --arch.
rt::Expected<rt::CompileOutput> compileWithNvrtc(const EmittedCuda &cuda) {
  rt::Expected<const rt::Nvrtc *> nvrtc = rt::Nvrtc::load();
  if (!nvrtc)
    return rt::Error{nvrtc.error()};
  rt::CompileRequest request;
  request.source = cuda.source;
  request.programName = "kdac_kda.cu";
  request.arch = archFromFlags();
  return (*nvrtc)->compile(request);
}
} // namespace

int runCompile() {
  const EmitStage *emit = nullptr;
  for (const EmitStage &candidate : kEmitStages)
    if (candidate.name == emitStage.getValue())
      emit = &candidate;
  if (!emit)
    return reportError("invalid value '" + emitStage +
                       "' for --emit (expected kda, chunked, expanded, split, "
                       "kernel, cuda, launch-descriptor, ptx or cubin)");
  std::optional<ChunkedPipelineOptions> options = pipelineOptionsFromFlags();
  if (!options || archFromFlags().empty())
    return 1;
  options->backward = backwardFromFlags();

  DialectRegistry registry;
  registerKdacDialects(registry);
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  CliDiagnosticHandler diagnostics(sourceMgr, context);
  std::optional<KernelSpec> spec;
  OwningOpRef<ModuleOp> module = readOrBuildModule(context, sourceMgr, spec);
  if (!module)
    return 1;
  // The module's own op picks the commit lowering (--op=commit builds one,
  // and so may a file).
  const bool commit = holdsCommit(*module);
  options->commit = commit;

  // Code generation takes its choices from the tuning database when it has
  // an entry for this spec, and says so at the top of what it prints.
  std::string configuration;
  if (emit->stage == Stage::Kernel) {
    std::string dbPath = tuningDatabaseFromFlags();
    std::optional<TuningDatabase> db;
    if (!dbPath.empty()) {
      llvm::Expected<TuningDatabase> loaded = TuningDatabase::load(dbPath);
      if (!loaded)
        return reportError(llvm::toString(loaded.takeError()));
      db = std::move(*loaded);
    }
    std::string why = "defaults (an input file carries no spec to look up)";
    if (spec) {
      int64_t typicalT = spec->T == kDynamic ? 8192 : spec->T;
      *options = chooseOptions(*spec, typicalT, *options, db ? &*db : nullptr,
                               &why);
      // The spec's op, not a tuned choice (a database entry holds neither).
      options->recurrent |= spec->isDecode();
      options->backward = spec->op == KernelOp::Backward;
      options->commit = commit;
    }
    ChunkedPipelineOptions shown = *options;
    shown.chunkSize = shown.effectiveChunkSize();
    configuration = "// kdac configuration: " + describe(shown) + "\n// chosen by " +
                    why + "\n";
  }

  std::string text;
  llvm::raw_string_ostream os(text);
  if (emit->stage != Stage::Kernel) {
    PassManager pm(&context);
    buildPipeline(pm, emit->stage, *options);
    if (failed(pm.run(*module)))
      return 1; // The failing pass printed a located diagnostic.
    module->print(os);
  } else if (emit->output == Output::IR) {
    if (llvm::Error e = lowerToKernels(*module, *options))
      return reportError(llvm::toString(std::move(e)));
    os << configuration;
    module->print(os);
  } else {
    llvm::Expected<EmittedCuda> cuda = generateCuda(*module, *options);
    if (!cuda)
      return reportError(llvm::toString(cuda.takeError()));
    if (emit->output == Output::Cuda) {
      os << configuration << cuda->source;
    } else if (emit->output == Output::LaunchDescriptor) {
      os << printLaunchDescriptor(cuda->launch);
    } else {
      rt::Expected<rt::CompileOutput> compiled = compileWithNvrtc(*cuda);
      if (!compiled)
        return reportError(compiled.error());
      if (emit->output == Output::Ptx)
        os << compiled->ptx;
      else
        os.write(compiled->cubin.data(), compiled->cubin.size());
    }
  }

  if (llvm::Error e = writeFileAtomically(outputFile, text))
    return reportError(llvm::toString(std::move(e)));
  return 0;
}

} // namespace kdac::cli
