//===- kdac-fuzz.cpp - Seeded mutation fuzzing of kdac's readers ----------===//
//
// A deterministic, time-bounded fuzzer that ctest runs in CI: it mutates
// seed inputs (the golden vectors, the tuning database, IR of every stage)
// and feeds them to the safetensors reader, the case reader and the oracle,
// the tuning-database reader, and the .mlir front end with the pipeline and
// the CUDA emitter behind it. Any crash, abort or hang fails the test; the
// input being run is written to --last-input first, so a failure leaves the
// reproducer behind. Besides random byte edits it sets structured fields
// (header lengths, shapes, offsets, metadata values, IR sizes) to extreme
// values (0, -1, 2^31, 2^63 - 1, ...): inputs shaped to hit limits, not
// random flips, are what found kdac's crashes.
//
//===----------------------------------------------------------------------===//
#include "FuzzMutators.h"

#include "kdac/Frontend/SourceChecks.h"
#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Jit/Codegen.h"
#include "kdac/Reference/Case.h"
#include "kdac/Reference/ReferenceBackward.h"
#include "kdac/Support/FileIO.h"
#include "kdac/Support/Safetensors.h"
#include "kdac/Target/CUDA/CudaEmitter.h"
#include "kdac/Transforms/Passes.h"
#include "kdac/Tune/TuningDatabase.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <csignal>

namespace cl = llvm::cl;
using namespace kdac;
using namespace kdac::fuzz;

static cl::opt<std::string> targetFlag(
    "target", cl::Required,
    cl::desc("What to fuzz: safetensors | case | tuning-db | mlir | kdk"));
static cl::list<std::string> seedPaths(
    cl::Positional, cl::desc("<seed files or directories>"), cl::OneOrMore);
static cl::opt<double> secondsFlag(
    "seconds", cl::desc("Stop after this many seconds (default: 30)"),
    cl::init(30));
static cl::opt<int64_t> iterationsFlag(
    "iterations", cl::desc("Stop after this many inputs (default: 1000000)"),
    cl::init(1000000));
static cl::opt<int64_t> skipFlag(
    "skip",
    cl::desc("Draw but do not run the first N mutated inputs (default: 0)"),
    cl::init(0));
static cl::opt<uint64_t> seedFlag("seed",
                                  cl::desc("Random seed (default: 1)"),
                                  cl::init(1));
static cl::opt<std::string> lastInputFlag(
    "last-input",
    cl::desc("Each input is written here before it runs, so a crash leaves "
             "its reproducer (default: none)"),
    cl::init(""));

namespace {

/// Problems small enough to run the fp64 oracle (forward and backward) on.
constexpr int64_t kOracleElementBudget = 20000;

/// How far inputs got, to show the mutations reach past the first check:
/// `accepted` passed the reader (or parser and verifier), `deep` went on
/// through the oracle or the whole compiler.
struct Reach {
  int64_t accepted = 0, deep = 0;
} reach;

/// One fuzz target: the readers behind one kind of input. Returning is
/// success; rejecting an input with an error is the expected outcome.
using Target = void (*)(llvm::StringRef bytes);

void runSafetensors(llvm::StringRef bytes) {
  llvm::Expected<SafetensorsFile> file = parseSafetensors(bytes, "fuzz");
  if (!file) {
    llvm::consumeError(file.takeError());
    return;
  }
  ++reach.accepted;
  // Read every tensor back, as the case reader would.
  for (auto &[name, tensor] : file->tensors)
    (void)tensor.toDoubles();
  (void)serializeSafetensors(*file);
}

void runCase(llvm::StringRef bytes) {
  llvm::Expected<SafetensorsFile> file = parseSafetensors(bytes, "fuzz");
  if (!file) {
    llvm::consumeError(file.takeError());
    return;
  }
  llvm::Expected<KdaCase> c = caseFromFile(std::move(*file), "fuzz");
  if (!c) {
    llvm::consumeError(c.takeError());
    return;
  }
  const KernelSpec &s = c->spec;
  ++reach.accepted;
  // caseFromFile bounded the sizes; still, only small cases go through the
  // oracle, which is slow on large ones.
  int64_t n = numSequences(s, c->inputs);
  int64_t elements = c->inputs.B * c->inputs.T * s.HV * std::max(s.K, s.V) +
                     n * s.HV * s.K * s.V;
  if (elements > kOracleElementBudget)
    return;
  ++reach.deep;
  llvm::Expected<KdaOutputs> out = runReference(s, c->inputs);
  if (!out)
    llvm::consumeError(out.takeError());
  if (c->cotangents) {
    llvm::Expected<KdaGradients> grads =
        runReferenceBackward(s, c->inputs, *c->cotangents);
    if (!grads)
      llvm::consumeError(grads.takeError());
  }
}

void runTuningDatabase(llvm::StringRef bytes) {
  llvm::Expected<TuningDatabase> db = TuningDatabase::parse(bytes, "fuzz");
  if (!db) {
    llvm::consumeError(db.takeError());
    return;
  }
  ++reach.accepted;
  for (const TuningEntry &entry : db->entries())
    (void)describe(entry.options);
  (void)db->serialize();
}

const mlir::DialectRegistry &kdacRegistry() {
  static const mlir::DialectRegistry registry = [] {
    mlir::DialectRegistry r;
    registerKdacDialects(r);
    return r;
  }();
  return registry;
}

/// What kdac's front end does with a .mlir file: the source checks, then
/// the parser and the verifiers.
mlir::OwningOpRef<mlir::ModuleOp> parseFront(mlir::MLIRContext &context,
                                             llvm::StringRef bytes) {
  context.printOpOnDiagnostic(false);
  if (llvm::Error e = checkMlirSource(bytes, "fuzz.mlir")) {
    llvm::consumeError(std::move(e));
    return nullptr;
  }
  return mlir::parseSourceString<mlir::ModuleOp>(bytes, &context, "fuzz.mlir");
}

/// A context with kdac's dialects that drops every diagnostic: the fuzzer
/// counts outcomes, it does not print them.
struct QuietContext {
  mlir::MLIRContext context{kdacRegistry()};
  mlir::ScopedDiagnosticHandler handler{
      &context, [](mlir::Diagnostic &) { return mlir::success(); }};
};

void runMlir(llvm::StringRef bytes) {
  QuietContext quiet;
  mlir::OwningOpRef<mlir::ModuleOp> module = parseFront(quiet.context, bytes);
  if (!module)
    return;
  ++reach.accepted;
  // The whole compiler behind the front end: kda -> kdk -> CUDA, chunkwise,
  // (for kda.recurrence) token by token, and (for kda.recurrence_grad) the
  // backward's pipeline.
  for (int variant = 0; variant < 3; ++variant) {
    mlir::OwningOpRef<mlir::ModuleOp> copy = module->clone();
    ChunkedPipelineOptions options;
    options.chunkSize = 0;
    options.recurrent = variant == 1;
    options.backward = variant == 2;
    llvm::Expected<EmittedCuda> cuda = generateCuda(*copy, options);
    if (cuda)
      ++reach.deep;
    else
      llvm::consumeError(cuda.takeError());
  }
}

/// Kernel-level (kdk) IR into the CUDA emitter, through the shared-memory
/// placement every pipeline ends in (the emitter's inputs in lit are that
/// pass's output); and a copy through the backward's kdk passes first
/// (every product it can make tf32, the barriers thinned).
void runKernelIR(llvm::StringRef bytes) {
  QuietContext quiet;
  mlir::OwningOpRef<mlir::ModuleOp> module = parseFront(quiet.context, bytes);
  if (!module)
    return;
  ++reach.accepted;
  mlir::OwningOpRef<mlir::ModuleOp> copy = module->clone();
  mlir::PassManager pm(&quiet.context);
  pm.addPass(createKDKAllocateSharedMemory());
  if (mlir::succeeded(pm.run(*module)) && mlir::succeeded(emitCuda(*module)))
    ++reach.deep;
  mlir::PassManager backward(&quiet.context);
  KDKSelectProductsOptions products;
  products.f32Products = "tf32";
  backward.addPass(createKDKSelectProducts(products));
  backward.addPass(createKDKThinBarriers());
  backward.addPass(createKDKAllocateSharedMemory());
  if (mlir::succeeded(backward.run(*copy)))
    (void)emitCuda(*copy);
}

struct TargetEntry {
  llvm::StringRef name;
  Target run;
  InputKind kind;
};
const TargetEntry kTargets[] = {
    {"safetensors", runSafetensors, InputKind::Safetensors},
    {"case", runCase, InputKind::Safetensors},
    {"tuning-db", runTuningDatabase, InputKind::Json},
    {"mlir", runMlir, InputKind::MlirText},
    {"kdk", runKernelIR, InputKind::MlirText}};

/// Seed files: the given files, and every regular file in given folders.
/// A .mlir test file holds several inputs between "// -----" lines.
std::vector<std::string> loadSeeds(InputKind kind) {
  std::vector<std::string> seeds;
  auto add = [&](llvm::StringRef path) {
    llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buffer =
        readRegularFile(path, int64_t(64) << 20);
    if (!buffer) {
      llvm::consumeError(buffer.takeError());
      return;
    }
    llvm::StringRef text = (*buffer)->getBuffer();
    if (kind != InputKind::MlirText) {
      seeds.push_back(text.str());
      return;
    }
    if (!path.ends_with(".mlir"))
      return;
    llvm::SmallVector<llvm::StringRef> parts;
    text.split(parts, "// -----");
    for (llvm::StringRef part : parts)
      seeds.push_back(part.str());
  };
  for (const std::string &path : seedPaths) {
    if (!llvm::sys::fs::is_directory(path)) {
      add(path);
      continue;
    }
    std::error_code ec;
    std::vector<std::string> names;
    for (llvm::sys::fs::directory_iterator it(path, ec), end; it != end && !ec;
         it.increment(ec))
      names.push_back(it->path());
    llvm::sort(names); // a fixed order keeps runs reproducible
    for (const std::string &name : names)
      add(name);
  }
  return seeds;
}

/// IR of every stage for a few specs (kda stages, or the kdk kernels of the
/// chunkwise and decode lowerings), so the front end and the emitter are
/// fuzzed on more than the hand-written test files.
void addGeneratedMlirSeeds(std::vector<std::string> &seeds, bool kernelLevel) {
  KernelSpec small;
  small.H = 2;
  small.HV = 4;
  small.K = 32;
  small.V = 16;
  KernelSpec fused = small;
  fused.activation = GateActivation::LowerBound;
  fused.lowerBound = -5.0;
  fused.hasALog = fused.hasDtBias = fused.qkL2Norm = fused.betaSigmoid = true;
  fused.hasInitialState = fused.hasFinalState = true;
  fused.varlen = true;
  KernelSpec scalar = small;
  scalar.gate = GateGranularity::Scalar;
  scalar.update = UpdateRule::Additive;
  scalar.stateLayout = StateLayout::VK;
  scalar.hasFinalState = true;
  // The backward's IR too, at every stage (its split stage holds the
  // prepared scans of kda-grad-scan-prep).
  KernelSpec backward = small, fusedBackward = fused;
  backward.op = fusedBackward.op = KernelOp::Backward;
  for (const KernelSpec &spec : {small, fused, scalar, backward, fusedBackward})
    for (int variant = 0; variant < 4; ++variant) {
      mlir::DialectRegistry registry;
      registerKdacDialects(registry);
      mlir::MLIRContext context(registry);
      const bool grad = spec.op == KernelOp::Backward;
      mlir::OwningOpRef<mlir::ModuleOp> module =
          grad ? buildRecurrenceGradModule(context, spec)
               : buildRecurrenceModule(context, spec);
      mlir::PassManager pm(&context);
      ChunkedPipelineOptions options;
      options.chunkSize = 16;
      options.backward = grad;
      const Stage stages[] = {Stage::KDA, Stage::Chunked, Stage::Expanded,
                              Stage::Split};
      Stage stage = kernelLevel ? Stage::Kernel : stages[variant];
      if (kernelLevel && variant >= 2)
        continue;
      options.recurrent = kernelLevel && variant == 1 && !grad;
      buildPipeline(pm, stage, options);
      if (!module || mlir::failed(pm.run(*module)))
        continue;
      std::string text;
      llvm::raw_string_ostream os(text);
      module->print(os);
      seeds.push_back(std::move(text));
    }
}

void writeLastInput(llvm::StringRef bytes) {
  if (lastInputFlag.empty())
    return;
  std::error_code ec;
  llvm::raw_fd_ostream os(lastInputFlag, ec, llvm::sys::fs::OF_None);
  if (!ec)
    os << bytes;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "kdac-fuzz: seeded mutation fuzzer "
                                          "of kdac's input readers\n");
  const TargetEntry *target = nullptr;
  for (const TargetEntry &entry : kTargets)
    if (entry.name == targetFlag.getValue())
      target = &entry;
  if (!target) {
    llvm::errs() << "kdac-fuzz: error: unknown --target '" << targetFlag
                 << "' (expected safetensors, case, tuning-db, mlir or kdk)\n";
    return 1;
  }
  std::vector<std::string> seeds = loadSeeds(target->kind);
  if (target->run == runMlir)
    addGeneratedMlirSeeds(seeds, /*kernelLevel=*/false);
  if (target->run == runKernelIR)
    addGeneratedMlirSeeds(seeds, /*kernelLevel=*/true);
  if (seeds.empty()) {
    llvm::errs() << "kdac-fuzz: error: no seed inputs found\n";
    return 1;
  }

  // Every seed as given must pass through too.
  for (const std::string &seed : seeds) {
    writeLastInput(seed);
    target->run(seed);
  }
  Mutator mutator(target->kind, seedFlag);
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start)
        .count();
  };
  int64_t runs = 0;
  double nextReport = 5.0;
  // Skipped inputs are still drawn, so input N is the same with or without
  // --skip: a finding can be bisected to the window of inputs that causes it.
  for (int64_t i = 0; i < skipFlag; ++i)
    (void)mutator.mutate(seeds, mutator.pickSeed(seeds.size()));
  while (runs < iterationsFlag && elapsed() < secondsFlag) {
    std::string input = mutator.mutate(seeds, mutator.pickSeed(seeds.size()));
    writeLastInput(input);
    target->run(input);
    ++runs;
    if (elapsed() >= nextReport) {
      llvm::outs() << "kdac-fuzz " << target->name << ": " << runs
                   << " inputs in " << llvm::format("%.0f", elapsed())
                   << " s\n";
      llvm::outs().flush();
      nextReport += 5.0;
    }
  }
  llvm::outs() << "kdac-fuzz " << target->name << ": " << seeds.size()
               << " seeds and " << runs << " mutated inputs in "
               << llvm::format("%.1f", elapsed()) << " s, no crash; "
               << reach.accepted << " accepted by the reader, " << reach.deep
               << " run through the oracle or the compiler\n";
  return 0;
}
