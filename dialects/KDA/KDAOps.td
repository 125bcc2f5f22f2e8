//===- KDAOps.td - Operations of the kda dialect -----------*- tablegen -*-===//
//
// kda.recurrence: the whole KDA-family recurrence over a batch, with its
// family and fused-prologue choices as attributes. Every later stage of the
// compiler is derived from this op.
//
//===----------------------------------------------------------------------===//
#ifndef KDA_OPS_TD
#define KDA_OPS_TD

include "KDADialect.td"
include "KDAEnums.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def KDA_RecurrenceOp : KDA_Op<"recurrence",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "the KDA-family linear-attention recurrence";
  let description = [{
    Per sequence and value head, with S a K x V fp32 state that starts at
    `initial_state` (or zero):

        S_t = Diag(exp(g_t)) S_{t-1}
        S_t = S_t + beta_t k_t (v_t - S_t^T k_t)^T     (update = delta)
        S_t = S_t + beta_t k_t v_t^T                   (update = additive)
        o_t = scale * S_t^T q_t

    Shapes follow flash-linear-attention: q, k are [B, T, H, K]; v and o are
    [B, T, HV, V] with HV a multiple of H (grouped value attention); g is
    [B, T, HV, K] for a per-channel gate or [B, T, HV] for a per-head gate,
    and absent with `gate = none`; beta is [B, T, HV]. The state is
    [N, HV, K, V] (`layout = kv`) or [N, HV, V, K] (`layout = vk`), where N
    is B, or the number of packed sequences when `cu_seqlens` ([N + 1]
    offsets, B = 1) is given.

    State pool (decode, continuous batching): with `state_indices` (i32),
    initial_state and final_state are one pool of P slots [P, HV, K, V],
    updated in place. With [N] indices, sequence n starts from slot
    state_indices[n] and its final state goes back there; with [N, S]
    indices (speculative decoding) it starts from slot
    state_indices[n, num_accepted[n] - 1] (column 0 without num_accepted)
    and the state after its token t goes to slot state_indices[n, t]. A
    negative start slot skips the sequence: no state or output is touched.

    Fused prologue: `qk_l2norm` normalises q and k per token, `beta_sigmoid`
    applies a sigmoid to beta, and `activation` turns a raw gate into a
    log-decay (softplus: -exp(A_log) * softplus(g + dt_bias); lowerbound:
    lower_bound * sigmoid(exp(A_log) * (g + dt_bias))). `scale` defaults to
    K^-1/2.

    Example:

    ```mlir
    %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta)
        initial_state(%s0) gate = channel update = delta qk_l2norm
        : (tensor<1x64x2x128xbf16>, tensor<1x64x2x128xbf16>,
           tensor<1x64x2x128xbf16>, tensor<1x64x2x128xf32>,
           tensor<1x64x2xbf16>, tensor<1x2x128x128xf32>)
          -> (tensor<1x64x2x128xbf16>, tensor<1x2x128x128xf32>)
    ```
  }];

  let arguments = (ins
    AnyRankedTensor:$q,
    AnyRankedTensor:$k,
    AnyRankedTensor:$v,
    Optional<AnyRankedTensor>:$g,
    AnyRankedTensor:$beta,
    Optional<AnyRankedTensor>:$A_log,
    Optional<AnyRankedTensor>:$dt_bias,
    Optional<AnyRankedTensor>:$initial_state,
    Optional<AnyRankedTensor>:$cu_seqlens,
    Optional<AnyRankedTensor>:$state_indices,
    Optional<AnyRankedTensor>:$num_accepted,
    KDA_GateGranularity:$gate,
    KDA_UpdateRule:$update,
    DefaultValuedAttr<KDA_GateActivation, "GateActivation::none">:$activation,
    OptionalAttr<F64Attr>:$lower_bound,
    UnitAttr:$qk_l2norm,
    UnitAttr:$beta_sigmoid,
    DefaultValuedAttr<KDA_StateLayout, "StateLayout::kv">:$layout,
    OptionalAttr<F64Attr>:$scale
  );
  let results = (outs
    AnyRankedTensor:$o,
    Optional<AnyRankedTensor>:$final_state
  );

  let assemblyFormat = [{
    `q` `(` $q `)` `k` `(` $k `)` `v` `(` $v `)` (`g` `(` $g^ `)`)?
    `beta` `(` $beta `)`
    (`A_log` `(` $A_log^ `)`)? (`dt_bias` `(` $dt_bias^ `)`)?
    (`initial_state` `(` $initial_state^ `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    (`state_indices` `(` $state_indices^ `)`)?
    (`num_accepted` `(` $num_accepted^ `)`)?
    `gate` `=` $gate `update` `=` $update
    (`activation` `=` $activation^)? (`lower_bound` `=` $lower_bound^)?
    (`qk_l2norm` $qk_l2norm^)? (`beta_sigmoid` $beta_sigmoid^)?
    (`layout` `=` $layout^)? (`scale` `=` $scale^)?
    attr-dict `:` functional-type(operands, results)
  }];

  let hasVerifier = 1;

  let extraClassDeclaration = [{
    /// The output scale: the `scale` attribute, or K^-1/2 when absent.
    double getEffectiveScale();
    /// The optional f64 attributes as plain doubles.
    std::optional<double> getLowerBoundValue();
    std::optional<double> getScaleValue();
    /// Head dims read off the operand types (kDynamic-free by verification).
    int64_t getNumQKHeads();
    int64_t getNumValueHeads();
    int64_t getKeyDim();
    int64_t getValueDim();
  }];
}

include "KDAChunkOps.td"
include "KDAGradOps.td"
include "KDASplitOps.td"

#endif // KDA_OPS_TD
