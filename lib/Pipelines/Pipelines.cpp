//===- Pipelines.cpp - The pass pipelines every kdac tool shares ----------===//
//
// Builds each stage's pass list and registers it for kda-opt.
//
//===----------------------------------------------------------------------===//
#include "kdac/Pipelines/Pipelines.h"

#include "kdac/Conversion/Passes.h"
#include "kdac/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace kdac {

void buildPipeline(OpPassManager &pm, Stage stage,
                   const ChunkedPipelineOptions &options) {
  if (stage == Stage::KDA)
    return;
  // The token-by-token kernels (decode, the commit of token records) take
  // the recurrence kernel's thread count, 128 unless set (measured on the
  // H100, bench/RESULTS.md).
  int64_t tokenThreads = options.recurrenceBlockThreads > 0
                             ? options.recurrenceBlockThreads
                             : kDecodeBlockThreads;
  if (options.commit && stage == Stage::Kernel) {
    ConvertKDACommitToKDKOptions commit;
    commit.blockThreads = tokenThreads;
    commit.valueTile = options.decodeValueTile;
    pm.addPass(createConvertKDACommitToKDK(commit));
  } else if (options.recurrent && stage == Stage::Kernel) {
    ConvertKDARecurrenceToKDKOptions decode;
    decode.blockThreads = tokenThreads;
    decode.valueTile = options.decodeValueTile;
    decode.stateIn = options.decodeStateIn;
    pm.addPass(createConvertKDARecurrenceToKDK(decode));
  }
  if ((options.commit || options.recurrent) && stage == Stage::Kernel) {
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    pm.addPass(createKDKAllocateSharedMemory());
    return;
  }
  OpPassManager &funcPm = pm.nest<func::FuncOp>();
  funcPm.addPass(createKDAChunk({options.effectiveChunkSize()}));
  funcPm.addPass(createKDAChunkAdjoint());
  funcPm.addPass(createKDAChunkGradSplit());
  if (stage == Stage::Chunked)
    return;
  KDAUTExpandOptions ut;
  ut.method = options.utMethod;
  ut.diagMethod = options.diagMethod;
  funcPm.addPass(createKDAUTExpand(ut));
  if (options.anchorBlock > 0)
    funcPm.addPass(createKDADecayAnchors({options.anchorBlock}));
  funcPm.addPass(createCSEPass());
  if (stage == Stage::Expanded)
    return;
  funcPm.addPass(createKDAChunkSplit());
  funcPm.addPass(createKDAGradDecompose());
  if (options.gradScanPrep)
    funcPm.addPass(createKDAGradScanPrep());
  if (stage == Stage::Split)
    return;
  if (options.backward) {
    ConvertKDAGradToKDKOptions backward;
    backward.blockThreads = options.blockThreads;
    backward.scanValueTile = options.gradValueTile;
    backward.mapBlockThreads = options.gradMapBlockThreads;
    backward.prepBlockThreads = options.gradPrepBlockThreads;
    backward.mapStatesInPlace = options.gradMapStatesInPlace;
    backward.scanBlocksPerSM = options.gradScanBlocksPerSM;
    pm.addPass(createConvertKDAGradToKDK(backward));
    KDKSelectProductsOptions products;
    products.f32Products = options.gradProducts;
    pm.addPass(createKDKSelectProducts(products));
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    pm.addPass(createKDKAllocateSharedMemory());
    if (options.thinBarriers)
      pm.addPass(createKDKThinBarriers());
    return;
  }
  ConvertKDAToKDKOptions kernel;
  kernel.blockThreads = options.blockThreads;
  kernel.recurrenceBlockThreads = options.recurrenceBlockThreads;
  kernel.valueTile = options.valueTile;
  pm.addPass(createConvertKDAToKDK(kernel));
  // The forward's grams take tensor cores for 16-bit specs where the gate
  // bounds their factors; its other f32 products stay on FMAs (tf32 there
  // has not been measured for speed or accuracy).
  KDKSelectProductsOptions forwardProducts;
  forwardProducts.f32Products = "fma";
  forwardProducts.gramProducts = "auto";
  pm.addPass(createKDKSelectProducts(forwardProducts));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createKDKAllocateSharedMemory());
}

namespace {
/// kda-opt's options of the pipelines: one per CompileOptions.def entry.
struct PipelineCLOptions : public PassPipelineOptions<PipelineCLOptions> {
#define KDAC_COMPILE_OPTION(TYPE, MEMBER, FLAG, JSON, DEFAULT, HELP)           \
  Option<TYPE> MEMBER{*this, FLAG, llvm::cl::desc(HELP),                       \
                      llvm::cl::init(DEFAULT)};
#include "kdac/Spec/CompileOptions.def"
  // Not a compilation choice but the problem's (kdac's --op=backward): the
  // input holds kda.recurrence_grad.
  Option<bool> backward{*this, "backward",
                        llvm::cl::desc("Lower the backward (a "
                                       "kda.recurrence_grad), as kdac "
                                       "--op=backward does"),
                        llvm::cl::init(false)};
  // Likewise kdac's --op=commit: the input holds kda.commit_records.
  Option<bool> commit{*this, "commit",
                      llvm::cl::desc("Lower the commit of token records (a "
                                     "kda.commit_records), as kdac "
                                     "--op=commit does"),
                      llvm::cl::init(false)};

  ChunkedPipelineOptions toOptions() const {
    ChunkedPipelineOptions options;
#define KDAC_COMPILE_OPTION(TYPE, MEMBER, FLAG, JSON, DEFAULT, HELP)           \
  options.MEMBER = MEMBER;
#include "kdac/Spec/CompileOptions.def"
    options.backward = backward;
    options.commit = commit;
    return options;
  }
};

void registerPipeline(StringRef name, StringRef description, Stage stage) {
  PassPipelineRegistration<PipelineCLOptions>(
      name, description,
      [stage](OpPassManager &pm, const PipelineCLOptions &cl) {
        buildPipeline(pm, stage, cl.toOptions());
      });
}
} // namespace

void registerKdacPassesAndPipelines() {
  registerKDACTransformsPasses();
  registerKDACConversionPasses();
  registerPipeline("kda-chunked-pipeline",
                   "kda.recurrence -> chunked form with the UT inverse "
                   "expanded and the decay anchored (kdac --emit=expanded)",
                   Stage::Expanded);
  registerPipeline("kdac-kernel-pipeline",
                   "kda.recurrence -> kdk kernels, as kdac --emit=kernel "
                   "lowers them (recurrent=true for a decode spec, "
                   "backward=true for kda.recurrence_grad, commit=true for "
                   "kda.commit_records)",
                   Stage::Kernel);
}

} // namespace kdac
