//===- KDADialect.cpp - The kda dialect -----------------------------------===//
//
// Registers the ops of the `kda` dialect.
//
//===----------------------------------------------------------------------===//
#include "KDA/KDADialect.h"
#include "KDA/KDAOps.h"

using namespace mlir;
using namespace mlir::kda;

#include "KDA/KDADialect.cpp.inc"

void KDADialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "KDA/KDAOps.cpp.inc"
      >();
}
