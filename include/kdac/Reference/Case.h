//===- Case.h - KDA test cases: golden files and random inputs --*- C++ -*-===//
//
// A case is a spec, its inputs and (optionally) the expected outputs. Cases
// come from FLA's golden .safetensors files, from our own writer, or from a
// seeded generator; every test of a backend (interpreter, CUDA) runs on them.
//
// File format: FLA's golden layout. Tensors q, k, v, g, beta, optional A_log,
// dt_bias, initial_state, cu_seqlens (its presence means varlen), and the
// expected o, final_state. `__metadata__` values are JSON texts: B, T, H, HV,
// K, V, scale (a number, a string holding a number, or null), gate_kind
// ("none" | "softplus" | "lowerbound"), lower_bound (number or null),
// use_gate_in_kernel, use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel,
// state_v_first, has_initial_state; optional kdac keys gate ("none" |
// "scalar" | "channel", default channel), update ("delta" | "additive",
// default delta) and dtype, gate_dtype, beta_dtype (default: the dtype of
// the q, g, beta tensors).
//
// Gradient files (../shared/golden_bwd) add the loss's cotangents `do` and
// optional `dht` (L = sum(o * do) + sum(final_state * dht)) and the expected
// gradients dq, dk, dv, dg, dbeta, dA_log, ddt_bias, dh0, each with its
// input's shape (do: o's, dht: final_state's); any of them may be absent.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_REFERENCE_CASE_H
#define KDAC_REFERENCE_CASE_H

#include "kdac/Reference/Reference.h"
#include "kdac/Reference/ReferenceBackward.h"
#include "kdac/Spec/KernelSpec.h"
#include "kdac/Support/Safetensors.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kdac {

struct KdaCase {
  /// B and T are static (the sizes of the data) in every case.
  KernelSpec spec;
  KdaInputs inputs;
  /// From the file's o / final_state (finalState empty if the file has no
  /// final_state), or the oracle's outputs for a random case.
  std::optional<KdaOutputs> expected;
  /// From the file's do / dht (dFinalState empty without dht); unset when
  /// the file has no `do`.
  std::optional<KdaCotangents> cotangents;
  /// The gradients the file holds, set with `cotangents`; a vector is empty
  /// where the file lacks that gradient.
  std::optional<KdaGradients> expectedGradients;
  /// Every tensor as stored (loadCase) or as a kernel would read it at the
  /// spec's dtypes (makeRandomCase), for tests that upload raw bytes.
  std::map<std::string, Tensor> raw;
};

/// Reads a case file. Tensors the metadata does not call for (an
/// initial_state with has_initial_state false, say) are ignored but kept in
/// `raw`, as FLA would not read them. One-line errors, prefixed by the path,
/// for a missing tensor, a tensor whose shape disagrees with the metadata
/// ("tensor 'k' dim 2 is 3, expected H = 2"), a missing or unparsable metadata
/// key, and a spec that does not validate. With `do`, the gradient tensors'
/// shapes are checked the same way, and a gradient of an input the case lacks
/// (dA_log without A_log, say) is an error. F64 tensors without a dtype
/// metadata key read as f32 data (the closest dtype a kernel reads).
llvm::Expected<KdaCase> loadCase(llvm::StringRef path);
/// loadCase on a file already parsed; \p nameForErrors prefixes messages.
llvm::Expected<KdaCase> caseFromFile(SafetensorsFile file,
                                     llvm::StringRef nameForErrors);

/// Writes \p c in the format above. q, k, v, g and beta are stored as
/// \p inputDType (values it cannot represent are rounded to nearest-even);
/// A_log, dt_bias, initial_state and the expected outputs as F32, or F64 when
/// \p inputDType is F64. The spec's own dtypes go to the metadata, so F32 or
/// F64 files round-trip bf16/f16 cases exactly. `raw` is not written.
llvm::Error saveCase(llvm::StringRef path, const KdaCase &c,
                     TensorDType inputDType);

/// The metadata saveCase writes (each value a JSON text).
std::map<std::string, std::string> caseMetadata(const KernelSpec &spec,
                                                int64_t B, int64_t T);

/// A deterministic random case (std::mt19937_64 with a portable normal
/// sampler): q, k, v ~ N(0, 1) (k L2-normalised unless the spec fuses the
/// norm, so the delta rule stays contractive); g a log-decay logsigmoid(N(1,
/// 1)) without a fused activation, else a raw N(0, 1) pre-activation with
/// A_log = log U(1, 16) and dt_bias = softplus^-1(dt), dt log-uniform in
/// [1e-3, 1e-1]; beta sigmoid(N(0, 1)), or raw N(0, 1) logits with a fused
/// sigmoid; initial state N(0, 1). Values are rounded to the spec's dtypes
/// (q, k, v: dtype; g: gateDType; beta: betaDType; A_log, dt_bias: f32;
/// state: stateDType) so that the doubles are exactly what a kernel reads.
/// With spec.varlen, \p seqLens gives the sequence lengths, B must be 1 and
/// T their sum; otherwise \p seqLens must be empty. The case's spec is \p spec
/// with B and T set to \p B and \p T. `expected` holds the oracle's outputs.
/// Inconsistent arguments or an invalid spec are a programming error (fatal).
KdaCase makeRandomCase(const KernelSpec &spec, int64_t B, int64_t T,
                       std::vector<int64_t> seqLens, uint64_t seed);

} // namespace kdac

#endif // KDAC_REFERENCE_CASE_H
