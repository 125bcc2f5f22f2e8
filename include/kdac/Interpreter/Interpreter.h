//===- Interpreter.h - Runs kda IR on the CPU -------------------*- C++ -*-===//
//
// Executes a kdac module at any stage of the pipeline (the kda.recurrence
// form, or the element-wise prologue plus kda.chunk_loop form the chunking
// pass produces) on host buffers. Every rewrite can then be checked
// numerically against the fp64 oracle (runReference) on the same inputs, and
// the fp32 mode shows whether a form is numerically safe in the precision the
// GPU kernels use.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_INTERPRETER_INTERPRETER_H
#define KDAC_INTERPRETER_INTERPRETER_H

#include "kdac/Reference/Reference.h"
#include "kdac/Reference/ReferenceBackward.h"
#include "kdac/Spec/KernelSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace kdac {

struct InterpreterOptions {
  /// The scalar type every tensor is held and computed in. F32 does real
  /// float arithmetic (exp and log included), whatever the IR's element types
  /// say, so that over- and underflow behave as on the GPU; F64 is for
  /// checking a form's algebra against the oracle to rounding level.
  enum class Precision { F64, F32 };
  Precision precision = Precision::F64;
};

/// Runs `func.func @kda_forward` of \p module on \p inputs. Its arguments are
/// bound in buildRecurrenceModule's order (q, k, v, [g], beta, [A_log],
/// [dt_bias], [initial_state], [cu_seqlens]; \p spec says which are present;
/// dynamic dims come from inputs.B/T and the cu_seqlens length). Returns the
/// first result as `o` and the second, if the function has one, as
/// `finalState` (else finalState is empty). Inputs that disagree with the
/// spec, IR that disagrees with the inputs, and any op the interpreter does
/// not know are reported as errors naming the op and its location.
llvm::Expected<KdaOutputs> interpret(mlir::ModuleOp module,
                                     const KernelSpec &spec,
                                     const KdaInputs &inputs,
                                     const InterpreterOptions &options = {});

/// Runs `func.func @kda_backward` (buildRecurrenceGradModule) of \p module:
/// the arguments as for interpret(), then do and, with a final state, dht
/// (cot.dFinalState; empty reads as zero). Returns the gradients the spec
/// implies, in KdaGradients' fields.
llvm::Expected<KdaGradients>
interpretGradients(mlir::ModuleOp module, const KernelSpec &spec,
                   const KdaInputs &inputs, const KdaCotangents &cot,
                   const InterpreterOptions &options = {});

} // namespace kdac

#endif // KDAC_INTERPRETER_INTERPRETER_H
