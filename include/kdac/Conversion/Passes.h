//===- Passes.h - kdac's dialect conversions --------------------*- C++ -*-===//
//
// Generated declarations of the conversions in Passes.td.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_CONVERSION_PASSES_H
#define KDAC_CONVERSION_PASSES_H

#include "KDK/KDKDialect.h"
#include "kdac/Spec/Limits.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace kdac {

#define GEN_PASS_DECL
#include "kdac/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "kdac/Conversion/Passes.h.inc"

} // namespace kdac

#endif // KDAC_CONVERSION_PASSES_H
