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
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def KDA_RecurrenceOp : KDA_Op<"recurrence",
    [Pure, AttrSizedOperandSegments,
     DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>]> {
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

    Token records (speculative decoding without per-token states): with
    `token_records` and [N] indices, the pool is only read, and the second
    result is not a state but the records, tensor<B x T x HV x (2K + V) x
    f32>: per token t and value head, k_t (after the L2 norm), g_t (the
    per-channel log-decay after the gate activation; a scalar gate repeated
    over K) and v'_t = beta_t (v_t - k_t^T Diag(exp g_t) S_{t-1}), from
    which kda.commit_records rebuilds the state after any accepted prefix.

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
    OptionalAttr<F64Attr>:$scale,
    UnitAttr:$token_records
  );
  let results = (outs
    AnyRankedTensor:$o,
    // The final state, or with `token_records` the records.
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
    (`token_records` $token_records^)?
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
    /// The second result as what it is: the state written back (none with
    /// token_records) or the records (none without).
    Value getWrittenState() {
      return getTokenRecords() ? Value() : getFinalState();
    }
    Value getRecords() {
      return getTokenRecords() ? getFinalState() : Value();
    }
  }];
}

def KDA_CommitRecordsOp : KDA_Op<"commit_records", [Pure]> {
  let summary = "the state after each sequence's accepted prefix of records";
  let description = [{
    Commits a kda.recurrence call that wrote token records: for each
    sequence n whose slot state_indices[n] is not negative, with
    p = min(num_accepted[n], T),

        S = pool[state_indices[n]]
        S = Diag(exp(g_t)) S + k_t v'_t^T      for t = 0 .. p - 1

    and the result is the pool with S in that slot (p = 0 leaves it as it
    was). `records` is [N, T, HV, 2K + V] f32 (k, g, v' per token and value
    head), the pool [P, HV, K, V].

    Example:

    ```mlir
    %pool2 = kda.commit_records pool(%pool) state_indices(%idx)
        num_accepted(%acc) records(%rec)
        : (tensor<?x32x128x128xbf16>, tensor<8xi32>, tensor<8xi32>,
           tensor<8x4x32x384xf32>) -> tensor<?x32x128x128xbf16>
    ```
  }];

  let arguments = (ins
    AnyRankedTensor:$state_pool,
    AnyRankedTensor:$state_indices,
    AnyRankedTensor:$num_accepted,
    AnyRankedTensor:$records,
    DefaultValuedAttr<KDA_StateLayout, "StateLayout::kv">:$layout
  );
  let results = (outs AnyRankedTensor:$new_pool);

  let assemblyFormat = [{
    `pool` `(` $state_pool `)` `state_indices` `(` $state_indices `)`
    `num_accepted` `(` $num_accepted `)` `records` `(` $records `)`
    (`layout` `=` $layout^)?
    attr-dict `:` functional-type(operands, results)
  }];

  let hasVerifier = 1;

  let extraClassDeclaration = [{
    int64_t getNumValueHeads();
    int64_t getKeyDim();
    int64_t getValueDim();
    /// T: the records' tokens per sequence.
    int64_t getNumTokens();
  }];
}

include "KDAChunkOps.td"
include "KDAGradOps.td"
include "KDASplitOps.td"

#endif // KDA_OPS_TD
