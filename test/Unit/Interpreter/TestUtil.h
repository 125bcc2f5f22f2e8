//===- TestUtil.h - Shared helpers of the interpreter tests -----*- C++ -*-===//
//
// Running a module on a random case in both precisions and comparing with
// the fp64 oracle, so each test states only its spec and its tolerances.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TEST_UNIT_INTERPRETER_TESTUTIL_H
#define KDAC_TEST_UNIT_INTERPRETER_TESTUTIL_H

#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Interpreter/Interpreter.h"
#include "kdac/Reference/Case.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace kdac::test {

/// Makes every dialect kdac IR uses parseable in \p ctx.
inline void loadKdacDialects(mlir::MLIRContext &ctx) {
  mlir::DialectRegistry registry;
  registerKdacDialects(registry);
  ctx.appendDialectRegistry(registry);
  ctx.loadAllAvailableDialects();
}

/// Relative errors of one run against the oracle.
struct Errors {
  double o = 0, finalState = 0;
};

/// Interprets \p module on \p c at \p precision and returns its errors
/// against the oracle's outputs; a failed run is a test failure (and +inf).
inline Errors runAndCompare(mlir::ModuleOp module, const KdaCase &c,
                            InterpreterOptions::Precision precision) {
  InterpreterOptions options;
  options.precision = precision;
  llvm::Expected<KdaOutputs> out = interpret(module, c.spec, c.inputs, options);
  if (!out) {
    ADD_FAILURE() << llvm::toString(out.takeError());
    return {1e300, 1e300};
  }
  Errors e;
  e.o = relativeError(out->o, c.expected->o);
  if (c.spec.hasFinalState)
    e.finalState = relativeError(out->finalState, c.expected->finalState);
  else
    EXPECT_TRUE(out->finalState.empty());
  return e;
}

/// Checks both precisions against their tolerances and prints the errors
/// (the numbers are what a reader of the test log wants to see).
inline void expectMatchesOracle(mlir::ModuleOp module, const KdaCase &c,
                                const std::string &name, double tolF64,
                                double tolF32) {
  Errors f64 = runAndCompare(module, c, InterpreterOptions::Precision::F64);
  Errors f32 = runAndCompare(module, c, InterpreterOptions::Precision::F32);
  std::printf("  %-40s f64: o %.2e state %.2e | f32: o %.2e state %.2e\n",
              name.c_str(), f64.o, f64.finalState, f32.o, f32.finalState);
  EXPECT_LE(f64.o, tolF64) << name;
  EXPECT_LE(f64.finalState, tolF64) << name;
  EXPECT_LE(f32.o, tolF32) << name;
  EXPECT_LE(f32.finalState, tolF32) << name;
}

} // namespace kdac::test

#endif // KDAC_TEST_UNIT_INTERPRETER_TESTUTIL_H
