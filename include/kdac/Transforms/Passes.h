//===- Passes.h - kdac's passes on the kda and kdk dialects -----*- C++ -*-===//
//
// Generated declarations (create functions, options structs, registration)
// of the passes in Passes.td.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TRANSFORMS_PASSES_H
#define KDAC_TRANSFORMS_PASSES_H

#include "KDA/KDADialect.h"
#include "KDK/KDKDialect.h"
#include "kdac/Spec/CompileOptions.h"
#include "kdac/Spec/Limits.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace kdac {

#define GEN_PASS_DECL
#include "kdac/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "kdac/Transforms/Passes.h.inc"

} // namespace kdac

#endif // KDAC_TRANSFORMS_PASSES_H
