//===- ReferenceBackward.h - fp64 gradients of the recurrence ---*- C++ -*-===//
//
// The exact reverse-mode derivative of runReference, for the loss
// L = sum(o * dO) + sum(final_state * dFinalState), with respect to the raw
// inputs (before the fused L2 norm, gate activation and beta sigmoid). It is
// the oracle every backward kernel is checked against, so, like the forward,
// it is the plain token-by-token recurrence walked backwards and knows
// nothing of the chunked algorithm.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_REFERENCE_REFERENCEBACKWARD_H
#define KDAC_REFERENCE_REFERENCEBACKWARD_H

#include "kdac/Reference/Reference.h"
#include "kdac/Spec/KernelSpec.h"

#include "llvm/Support/Error.h"

#include <vector>

namespace kdac {

/// The loss's cotangents, flat row-major like KdaOutputs.
struct KdaCotangents {
  std::vector<double> dO;          // [B, T, HV, V]
  std::vector<double> dFinalState; // [N, HV, K, V] or [N, HV, V, K] (the
                                   // spec's state layout); empty = zero
};

/// dL/d(input), each with its input's shape (KdaInputs); a vector is empty
/// where the spec has no such input (dg for gate none, dALog without A_log,
/// dDtBias without dt_bias, dInitialState without an initial state).
struct KdaGradients {
  std::vector<double> dq, dk, dv, dg, dbeta, dALog, dDtBias, dInitialState;
};

/// Every gradient of KdaGradients with its name in golden files and
/// reports ("dq" ... "dh0") and the input it is the gradient of, in one
/// order, for the loops that compare two sets of them.
struct GradientField {
  const char *name;
  std::vector<double> KdaGradients::*member;
  std::vector<double> KdaInputs::*input;
};
inline constexpr GradientField kGradientFields[] = {
    {"dq", &KdaGradients::dq, &KdaInputs::q},
    {"dk", &KdaGradients::dk, &KdaInputs::k},
    {"dv", &KdaGradients::dv, &KdaInputs::v},
    {"dg", &KdaGradients::dg, &KdaInputs::g},
    {"dbeta", &KdaGradients::dbeta, &KdaInputs::beta},
    {"dA_log", &KdaGradients::dALog, &KdaInputs::aLog},
    {"ddt_bias", &KdaGradients::dDtBias, &KdaInputs::dtBias},
    {"dh0", &KdaGradients::dInitialState, &KdaInputs::initialState}};

/// Standard-normal cotangents for \p inputs: dO always, dFinalState when
/// the spec has a final state (the tests' random gradient cases).
KdaCotangents makeRandomCotangents(const KernelSpec &spec,
                                   const KdaInputs &inputs, uint64_t seed);

/// Checks \p inputs as runReference does (checkInputs), then the
/// cotangents' sizes (dO: B*T*HV*V; dFinalState: empty or N*HV*K*V), and
/// returns the gradients. q/k gradients sum over the value heads of a GVA
/// group; dALog and dDtBias sum over every token and sequence.
llvm::Expected<KdaGradients> runReferenceBackward(const KernelSpec &spec,
                                                  const KdaInputs &inputs,
                                                  const KdaCotangents &cot);

} // namespace kdac

#endif // KDAC_REFERENCE_REFERENCEBACKWARD_H
