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

/// Name of the function that holds the kda.recurrence_grad of a built
/// gradient module.
inline constexpr const char *kGradientFunctionName = "kda_backward";

/// Builds `func.func @kda_backward(...)`: @kda_forward's arguments (no state
/// pool), then do ([B, T, HV, V] f32) and, when the spec has a final state,
/// dht (the state's shape, f32); it returns kda.recurrence_grad's gradients
/// (dq, dk, dv, [dg], dbeta, [dA_log], [ddt_bias], [dh0], f32). Null for a
/// decode or state-pool spec, which have no backward.
mlir::OwningOpRef<mlir::ModuleOp>
buildRecurrenceGradModule(mlir::MLIRContext &ctx, const KernelSpec &spec);

/// Name of the function that holds the kda.commit_records of a commit
/// module.
inline constexpr const char *kCommitFunctionName = "kda_commit";

/// Builds `func.func @kda_commit(%pool, %state_indices, %num_accepted,
/// %records) -> pool` holding one kda.commit_records for a commit spec
/// (KernelOp::Commit); null for any other.
mlir::OwningOpRef<mlir::ModuleOp> buildCommitModule(mlir::MLIRContext &ctx,
                                                    const KernelSpec &spec);

/// The module of the spec's op: buildRecurrenceModule (forward, decode),
/// buildRecurrenceGradModule (backward) or buildCommitModule (commit).
mlir::OwningOpRef<mlir::ModuleOp> buildSpecModule(mlir::MLIRContext &ctx,
                                                  const KernelSpec &spec);

/// Whether `module` holds a kda.commit_records (it lowers by
/// convert-kda-commit-to-kdk).
bool holdsCommit(mlir::ModuleOp module);

/// Reads the spec back off a verified kda.recurrence. The arch is not part of
/// the IR and is left at its default.
KernelSpec specFromRecurrence(mlir::kda::RecurrenceOp op);

/// Registers every dialect kdac's tools and IR use.
void registerKdacDialects(mlir::DialectRegistry &registry);

} // namespace kdac

#endif // KDAC_FRONTEND_SPECTOIR_H
