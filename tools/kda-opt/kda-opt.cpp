//===- kda-opt.cpp - The kdac optimizer driver ----------------------------===//
//
// MlirOptMain with the project's dialects and passes, for lit tests and for
// running any pass or pipeline by hand.
//
//===----------------------------------------------------------------------===//
#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  kdac::registerKdacPassesAndPipelines();
  mlir::DialectRegistry registry;
  kdac::registerKdacDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "kdac optimizer driver\n", registry));
}
