//===- SpecToIR.h - Between KernelSpec and kda.recurrence -------*- C++ -*-===//
//
// The CLI and the JIT describe a problem as a KernelSpec; the compiler works
// on IR. These two functions translate in both directions, so a module read
// from a file and one built from flags reach the same pipeline.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_FRONTEND_SPECTOIR_H
#define KDAC_FRONTEND_SPECTOIR_H

#include "kdac/Spec/KernelSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

namespace mlir::kda {
class RecurrenceOp;
} // namespace mlir::kda

namespace kdac {

/// Name of the function that holds the kda.recurrence of a built module.
inline constexpr const char *kEntryFunctionName = "kda_forward";

/// Builds `func.func @kda_forward(...)` holding one kda.recurrence for
/// `spec`. The spec must be valid (see validate()); the result is verified.
mlir::OwningOpRef<mlir::ModuleOp> buildRecurrenceModule(mlir::MLIRContext &ctx,
                                                        const KernelSpec &spec);

/// Reads the spec back off a verified kda.recurrence. The arch is not part of
/// the IR and is left at its default.
KernelSpec specFromRecurrence(mlir::kda::RecurrenceOp op);

/// Registers every dialect kdac's tools and IR use.
void registerKdacDialects(mlir::DialectRegistry &registry);

} // namespace kdac

#endif // KDAC_FRONTEND_SPECTOIR_H
