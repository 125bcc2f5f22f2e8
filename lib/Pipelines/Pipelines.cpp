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
  if (options.recurrent && stage == Stage::Kernel) {
    // The decode kernel is a recurrence kernel: it takes that thread count,
    // 128 unless set (measured on the H100, bench/RESULTS.md).
    ConvertKDARecurrenceToKDKOptions decode;
    decode.blockThreads = options.recurrenceBlockThreads > 0
                              ? options.recurrenceBlockThreads
                              : kDecodeBlockThreads;
    decode.valueTile = options.decodeValueTile;
    decode.stateIn = options.decodeStateIn;
    pm.addPass(createConvertKDARecurrenceToKDK(decode));
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    return;
  }
  OpPassManager &funcPm = pm.nest<func::FuncOp>();
  funcPm.addPass(createKDAChunk({options.chunkSize}));
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
  ConvertKDAToKDKOptions kernel;
  kernel.blockThreads = options.blockThreads;
  kernel.recurrenceBlockThreads = options.recurrenceBlockThreads;
  kernel.valueTile = options.valueTile;
  pm.addPass(createConvertKDAToKDK(kernel));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

namespace {
struct ChunkedPipelineCLOptions
    : public PassPipelineOptions<ChunkedPipelineCLOptions> {
  Option<int64_t> chunkSize{*this, "chunk-size",
                            llvm::cl::desc("Tokens per chunk"),
                            llvm::cl::init(64)};
  Option<std::string> utMethod{
      *this, "ut-method",
      llvm::cl::desc("forward-substitution | neumann | blocked"),
      llvm::cl::init("blocked")};
  Option<std::string> diagMethod{
      *this, "diag-method",
      llvm::cl::desc("Diagonal blocks of `blocked`: forward-substitution | "
                     "neumann"),
      llvm::cl::init("forward-substitution")};
  Option<int64_t> anchorBlock{
      *this, "anchor-block",
      llvm::cl::desc("Sub-chunk length of the anchored decay (0: direct)"),
      llvm::cl::init(16)};
};
} // namespace

void registerKdacPassesAndPipelines() {
  registerKDACTransformsPasses();
  registerKDACConversionPasses();
  PassPipelineRegistration<ChunkedPipelineCLOptions>(
      "kda-chunked-pipeline",
      "kda.recurrence -> chunked form with the UT inverse expanded and the "
      "decay anchored",
      [](OpPassManager &pm, const ChunkedPipelineCLOptions &cl) {
        ChunkedPipelineOptions options;
        options.chunkSize = cl.chunkSize;
        options.utMethod = cl.utMethod;
        options.diagMethod = cl.diagMethod;
        options.anchorBlock = cl.anchorBlock;
        buildPipeline(pm, Stage::Expanded, options);
      });
}

} // namespace kdac
