//===- KDAGradOps.td - The backward of kda ------------------*- tablegen -*-===//
//
// The gradient of kda.recurrence and its chunkwise form. kda-chunk rewrites
// kda.recurrence_grad into the prologue (recomputed), a kda.chunk_grad_loop
// and the prologue's adjoints; kda-chunk-adjoint writes the loop's backward
// body by differentiating its forward body op by op, with the adjoint ops
// below (one per forward chunk op). Loss convention: L = sum(o * do) +
// sum(final_state * dht).
//
//===----------------------------------------------------------------------===//
#ifndef KDA_GRAD_OPS_TD
#define KDA_GRAD_OPS_TD

include "KDAChunkOps.td"

//===----------------------------------------------------------------------===//
// The whole backward, and its chunk loop.
//===----------------------------------------------------------------------===//

def KDA_RecurrenceGradOp : KDA_Op<"recurrence_grad",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "gradients of kda.recurrence for L = sum(o do) + sum(S_T dht)";
  let description = [{
    Takes kda.recurrence's operands and attributes (no state pool) and the
    cotangents `do` (o's shape) and, optionally, `dht` (the final state's
    shape); returns dL/d(input) for the raw inputs (before the fused
    prologue), in this order: dq, dk, dv, [dg], dbeta, [dA_log], [ddt_bias],
    [dh0], each bracketed one present iff its input is. dq and dk sum over
    the value heads of a GVA group.

    ```mlir
    %dq, %dk, %dv, %dg, %db = kda.recurrence_grad q(%q) k(%k) v(%v) g(%g)
        beta(%b) do(%do) gate = channel update = delta : (...) -> (...)
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$q, AnyRankedTensor:$k, AnyRankedTensor:$v,
    Optional<AnyRankedTensor>:$g, AnyRankedTensor:$beta,
    Optional<AnyRankedTensor>:$A_log, Optional<AnyRankedTensor>:$dt_bias,
    Optional<AnyRankedTensor>:$initial_state,
    Optional<AnyRankedTensor>:$cu_seqlens,
    AnyRankedTensor:$d_out, Optional<AnyRankedTensor>:$dht,
    KDA_GateGranularity:$gate,
    KDA_UpdateRule:$update,
    DefaultValuedAttr<KDA_GateActivation, "GateActivation::none">:$activation,
    OptionalAttr<F64Attr>:$lower_bound,
    UnitAttr:$qk_l2norm,
    UnitAttr:$beta_sigmoid,
    DefaultValuedAttr<KDA_StateLayout, "StateLayout::kv">:$layout,
    OptionalAttr<F64Attr>:$scale
  );
  let results = (outs Variadic<AnyRankedTensor>:$grads);
  let assemblyFormat = [{
    `q` `(` $q `)` `k` `(` $k `)` `v` `(` $v `)` (`g` `(` $g^ `)`)?
    `beta` `(` $beta `)`
    (`A_log` `(` $A_log^ `)`)? (`dt_bias` `(` $dt_bias^ `)`)?
    (`initial_state` `(` $initial_state^ `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    `do` `(` $d_out `)` (`dht` `(` $dht^ `)`)?
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
    /// The inputs with a gradient, in the order of the results.
    llvm::SmallVector<mlir::Value> getDifferentiatedInputs();
  }];
}

def KDA_ChunkGradLoopOp : KDA_Op<"chunk_grad_loop", [AttrSizedOperandSegments,
    RecursiveMemoryEffects]> {
  let summary = "the chunk loop run forward for the states, then backward";
  let description = [{
    Operands as kda.chunk_loop's (the prologue already applied), plus the
    cotangents `do` and `dht`. Per sequence and value head, the `forward`
    region (a kda.chunk_loop body) runs over the chunks to give each chunk's
    entering state; then, from dS = dht (or zero), the `backward` region runs
    on the chunks in reverse. It receives the chunk's q, k, v, g, beta, its
    entering state, the chunk's rows of do ([C, V]) and dS (the leaving
    state's cotangent) and yields (kda.grad_yield) the chunk's dq, dk, dg
    ([C, K]), dv ([C, V]), dbeta ([C]) and the entering state's cotangent.
    Results: dq, dk ([B, T, HV, K]: per value head, before the GVA sum), dv,
    [dg] (g's shape; a scalar gate sums over K), dbeta, [dh0]. The backward
    region stays empty until kda-chunk-adjoint derives it.
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k,
                       AnyRankedTensor:$v, Optional<AnyRankedTensor>:$g,
                       AnyRankedTensor:$beta,
                       Optional<AnyRankedTensor>:$initial_state,
                       Optional<AnyRankedTensor>:$cu_seqlens,
                       AnyRankedTensor:$d_out, Optional<AnyRankedTensor>:$dht,
                       I64Attr:$chunk_size,
                       KDA_GateGranularity:$gate,
                       DefaultValuedAttr<KDA_StateLayout, "StateLayout::kv">:$layout);
  let results = (outs Variadic<AnyRankedTensor>:$grads);
  let regions = (region SizedRegion<1>:$forward, MaxSizedRegion<1>:$backward);
  let assemblyFormat = [{
    `q` `(` $q `)` `k` `(` $k `)` `v` `(` $v `)` (`g` `(` $g^ `)`)?
    `beta` `(` $beta `)` (`initial_state` `(` $initial_state^ `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `)`)? `do` `(` $d_out `)` (`dht` `(` $dht^ `)`)?
    `chunk_size` `=` $chunk_size `gate` `=` $gate (`layout` `=` $layout^)?
    `:` functional-type(operands, results) `forward` $forward `backward` $backward
    attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getKeyDim();
    int64_t getValueDim();
    /// Backward body arguments, in order.
    enum BackwardArg : unsigned { kQ, kK, kV, kG, kBeta, kState, kDO,
                                  kDNextState, kNumBackwardArgs };
  }];
}

//===----------------------------------------------------------------------===//
// The backward split by its dependence on the state (kda-chunk-grad-split):
// a forward scan for the entering states, a reverse scan for the states'
// cotangents, and a map over chunks that needs neither scan's order. A chunk
// slot numbers the chunks of all sequences in order: sequence n's chunk c is
// slot sum_{m < n} ceil(len_m / C) + c.
//===----------------------------------------------------------------------===//

def KDA_ChunkStatesOp : KDA_Op<"chunk_states", [AttrSizedOperandSegments,
    RecursiveMemoryEffects]> {
  let summary = "each chunk's entering state, by a forward scan over the chunks";
  let description = [{
    Runs its body (a kda.chunk_loop body) over the chunks of every sequence
    and value head as kda.chunk_loop does, and returns the state entering
    each chunk: [slots, HV, K, V] f32 (K x V whatever the layout).
    `prepared` are per-chunk-slot values [slots, HV, tile dims...] computed
    ahead (by a kda.chunk_map, kda-grad-scan-prep): the body receives each
    chunk's tile of them after its usual arguments.
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k,
                       AnyRankedTensor:$v, Optional<AnyRankedTensor>:$g,
                       AnyRankedTensor:$beta,
                       Optional<AnyRankedTensor>:$initial_state,
                       Optional<AnyRankedTensor>:$cu_seqlens,
                       Variadic<KDA_F32Tensor>:$prepared,
                       I64Attr:$chunk_size, KDA_GateGranularity:$gate,
                       DefaultValuedAttr<KDA_StateLayout, "StateLayout::kv">:$layout);
  let results = (outs KDA_F32Tensor:$states);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `q` `(` $q `)` `k` `(` $k `)` `v` `(` $v `)` (`g` `(` $g^ `)`)?
    `beta` `(` $beta `)` (`initial_state` `(` $initial_state^ `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `)`)? (`prepared` `(` $prepared^ `)`)?
    `chunk_size` `=` $chunk_size `gate` `=` $gate (`layout` `=` $layout^)?
    `:` functional-type(operands, results) $body attr-dict
  }];
  let hasVerifier = 1;
}

def KDA_ChunkStateGradsOp : KDA_Op<"chunk_state_grads", [AttrSizedOperandSegments,
    RecursiveMemoryEffects]> {
  let summary = "each chunk's leaving-state cotangent, by a reverse scan";
  let description = [{
    From dS = dht (or zero), visits the chunks of every sequence and value
    head last to first: records dS as the chunk's leaving-state cotangent,
    then runs its body (a kda.chunk_grad_loop backward body, of which only
    the yielded dstate is read) on the chunk's tiles, its entering state
    from `states`, its rows of do and dS, and takes the yielded dstate as the
    next dS. Returns the cotangents [slots, HV, K, V] and, when dh0 is
    requested (a result type given), the first chunk's entering one.
    `prepared` as for kda.chunk_states: each chunk's tiles of them follow
    the body's usual arguments.
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k,
                       AnyRankedTensor:$v, Optional<AnyRankedTensor>:$g,
                       AnyRankedTensor:$beta,
                       Optional<AnyRankedTensor>:$cu_seqlens,
                       KDA_F32Tensor:$states, AnyRankedTensor:$d_out,
                       Optional<AnyRankedTensor>:$dht,
                       Variadic<KDA_F32Tensor>:$prepared,
                       I64Attr:$chunk_size, KDA_GateGranularity:$gate,
                       DefaultValuedAttr<KDA_StateLayout, "StateLayout::kv">:$layout);
  let results = (outs KDA_F32Tensor:$next_state_grads,
                      Optional<KDA_F32Tensor>:$dh0);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `q` `(` $q `)` `k` `(` $k `)` `v` `(` $v `)` (`g` `(` $g^ `)`)?
    `beta` `(` $beta `)` (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    `states` `(` $states `)` `do` `(` $d_out `)` (`dht` `(` $dht^ `)`)?
    (`prepared` `(` $prepared^ `)`)?
    `chunk_size` `=` $chunk_size `gate` `=` $gate (`layout` `=` $layout^)?
    `:` functional-type(operands, results) $body attr-dict
  }];
  let hasVerifier = 1;
}

def KDA_ChunkGradMapOp : KDA_Op<"chunk_grad_map", [AttrSizedOperandSegments,
    RecursiveMemoryEffects]> {
  let summary = "every chunk's input gradients, each chunk independent";
  let description = [{
    Runs its body (a kda.chunk_grad_loop backward body, of which the yielded
    dq, dk, dv, dg and dbeta are read) once per chunk, in any order, on the
    chunk's tiles, its entering state from `states`, its rows of do and its
    leaving-state cotangent from `next_state_grads`. Results as
    kda.chunk_grad_loop's without dh0: dq, dk ([B, T, HV, K]), dv, [dg],
    dbeta.
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k,
                       AnyRankedTensor:$v, Optional<AnyRankedTensor>:$g,
                       AnyRankedTensor:$beta,
                       Optional<AnyRankedTensor>:$cu_seqlens,
                       KDA_F32Tensor:$states, KDA_F32Tensor:$next_state_grads,
                       AnyRankedTensor:$d_out,
                       I64Attr:$chunk_size, KDA_GateGranularity:$gate,
                       DefaultValuedAttr<KDA_StateLayout, "StateLayout::kv">:$layout);
  let results = (outs Variadic<KDA_F32Tensor>:$grads);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `q` `(` $q `)` `k` `(` $k `)` `v` `(` $v `)` (`g` `(` $g^ `)`)?
    `beta` `(` $beta `)` (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    `states` `(` $states `)` `next_state_grads` `(` $next_state_grads `)`
    `do` `(` $d_out `)`
    `chunk_size` `=` $chunk_size `gate` `=` $gate (`layout` `=` $layout^)?
    `:` functional-type(operands, results) $body attr-dict
  }];
  let hasVerifier = 1;
}

def KDA_GradYieldOp : KDA_Op<"grad_yield", [Pure, Terminator,
    ParentOneOf<["ChunkGradLoopOp", "ChunkStateGradsOp", "ChunkGradMapOp"]>]> {
  let summary = "yields a chunk's gradients and the entering state's cotangent";
  let arguments = (ins KDA_F32Tensor:$dq, KDA_F32Tensor:$dk, KDA_F32Tensor:$dv,
                       KDA_F32Tensor:$dg, KDA_F32Tensor:$dbeta,
                       KDA_F32Tensor:$dstate);
  let assemblyFormat = "operands attr-dict `:` type(operands)";
}

//===----------------------------------------------------------------------===//
// Adjoints of the per-chunk ops. Each takes the forward op's operands and the
// cotangent of its result(s), and returns the cotangents of the operands.
//===----------------------------------------------------------------------===//

def KDA_AddOp : KDA_ChunkOp<"add", [AllTypesMatch<["lhs", "rhs", "result"]>]> {
  let summary = "element-wise a + b (sums the cotangents of a shared value)";
  let arguments = (ins KDA_F32Tensor:$lhs, KDA_F32Tensor:$rhs);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def KDA_ReverseCumsumOp : KDA_ChunkOp<"reverse_cumsum", [SameOperandsAndResultType]> {
  let summary = "x_i = sum_{j >= i} y_j along the token dim (cumsum's adjoint)";
  let arguments = (ins KDA_F32Tensor:$input);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def KDA_DecayedGramGradOp : KDA_ChunkOp<"decayed_gram_grad"> {
  let summary = "cotangents of kda.decayed_gram's lhs, rhs, gc and row_scale";
  let description = [{
    For A[i,j] = s r_i sum_d a_i[d] b_j[d] exp(gc_i[d] - gc_j[d]) on the
    mask, given dA: da_i = s r_i sum_j dA[i,j] b_j exp(gc_i - gc_j), db_j
    likewise, dgc_i gets + and dgc_j - the product's terms, dr_i = A[i,:] .
    dA[i,:] / r_i. Entries of dA off the mask are ignored. Results: da, db,
    dgc, then dr when row_scale is given.
  }];
  let arguments = (ins KDA_F32Tensor:$dA, KDA_F32Tensor:$lhs, KDA_F32Tensor:$rhs,
                       KDA_F32Tensor:$gc, Optional<KDA_F32Tensor>:$row_scale,
                       KDA_CausalMask:$mask, OptionalAttr<F64Attr>:$scale);
  let results = (outs Variadic<KDA_F32Tensor>:$grads);
  let assemblyFormat = [{
    $dA `,` $lhs `,` $rhs `,` $gc (`row_scale` `(` $row_scale^ `)`)? `mask` `=` $mask
    (`scale` `=` $scale^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def KDA_UTInverseGradOp : KDA_ChunkOp<"ut_inverse_grad", [AllTypesMatch<["M", "dM", "result"]>]> {
  let summary = "dA = -(M^T dM M^T), strictly lower part, for M = (I + A)^-1";
  let arguments = (ins KDA_F32Tensor:$M, KDA_F32Tensor:$dM);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$M `,` $dM attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def KDA_WYGradOp : KDA_ChunkOp<"wy_grad"> {
  let summary = "cotangents of kda.wy's M, k, v, gc and beta from dw and du";
  let arguments = (ins KDA_F32Tensor:$M, KDA_F32Tensor:$k, KDA_F32Tensor:$v,
                       KDA_F32Tensor:$gc, KDA_F32Tensor:$beta,
                       KDA_F32Tensor:$dw, KDA_F32Tensor:$du);
  let results = (outs KDA_F32Tensor:$dM, KDA_F32Tensor:$dk, KDA_F32Tensor:$dv,
                      KDA_F32Tensor:$dgc, KDA_F32Tensor:$dbeta);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def KDA_StateApplyGradOp : KDA_ChunkOp<"state_apply_grad"> {
  let summary = "for v' = u - w S: du = dv', dw = -dv' S^T, dS = -w^T dv'";
  let arguments = (ins KDA_F32Tensor:$w, KDA_F32Tensor:$state,
                       KDA_F32Tensor:$dvalues);
  let results = (outs KDA_F32Tensor:$du, KDA_F32Tensor:$dw, KDA_F32Tensor:$dstate);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def KDA_OutputGradOp : KDA_ChunkOp<"output_grad"> {
  let summary = "cotangents of kda.output's q, gc, state, Aqk and v'";
  let arguments = (ins KDA_F32Tensor:$q, KDA_F32Tensor:$gc,
                       KDA_F32Tensor:$state, KDA_F32Tensor:$Aqk,
                       KDA_F32Tensor:$values, KDA_F32Tensor:$dO, F64Attr:$scale);
  let results = (outs KDA_F32Tensor:$dq, KDA_F32Tensor:$dgc,
                      KDA_F32Tensor:$dstate, KDA_F32Tensor:$dAqk,
                      KDA_F32Tensor:$dvalues);
  let assemblyFormat = [{
    $q `,` $gc `,` $state `,` $Aqk `,` $values `,` $dO `scale` `=` $scale attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def KDA_StateUpdateGradOp : KDA_ChunkOp<"state_update_grad"> {
  let summary = "cotangents of kda.state_update's state, k, gc and v'";
  let arguments = (ins KDA_F32Tensor:$state, KDA_F32Tensor:$k, KDA_F32Tensor:$gc,
                       KDA_F32Tensor:$values, KDA_F32Tensor:$dresult);
  let results = (outs KDA_F32Tensor:$dstate, KDA_F32Tensor:$dk,
                      KDA_F32Tensor:$dgc, KDA_F32Tensor:$dvalues);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def KDA_ScaleRowsGradOp : KDA_ChunkOp<"scale_rows_grad"> {
  let summary = "for y = x * r (rows): dx = dy * r, dr_i = dy_i . x_i";
  let arguments = (ins KDA_F32Tensor:$input, KDA_F32Tensor:$row_scale,
                       KDA_F32Tensor:$dresult);
  let results = (outs KDA_F32Tensor:$dinput, KDA_F32Tensor:$drow_scale);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Primitives of the decomposed backward (kda-grad-decompose): each is one
// kernel tile op, so a backward body made of them lowers op for op.
//===----------------------------------------------------------------------===//

def KDA_MulOp : KDA_ChunkOp<"mul", [AllTypesMatch<["lhs", "rhs", "result"]>]> {
  let summary = "element-wise s * a * b (s = `scale`, 1 when absent)";
  let arguments = (ins KDA_F32Tensor:$lhs, KDA_F32Tensor:$rhs,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs (`scale` `=` $scale^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def KDA_RowDotOp : KDA_ChunkOp<"row_dot", [AllTypesMatch<["lhs", "rhs"]>]> {
  let summary = "r_i = sum_d a[i, d] b[i, d]: [R, D] x [R, D] -> [R]";
  let description = [{
    The cotangent of a row scale (dbeta_i = dkb_i . k_i) and of a state's
    per-channel decay (rows of S . dS):

    ```mlir
    %dbeta = kda.row_dot %dkb, %kd : tensor<16x64xf32> -> tensor<16xf32>
    ```
  }];
  let arguments = (ins KDA_F32Tensor:$lhs, KDA_F32Tensor:$rhs);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `->` type($result)";
  let hasVerifier = 1;
}

def KDA_ColumnSumOp : KDA_ChunkOp<"column_sum"> {
  let summary = "c_d = sum_i x[i, d]: [R, D] -> [D]";
  let arguments = (ins KDA_F32Tensor:$input);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def KDA_AddToLastRowOp : KDA_ChunkOp<"add_to_last_row",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "x with x[R-1, :] + r: what reaches gc_last from the whole chunk";
  let description = [{
    ```mlir
    %dgc = kda.add_to_last_row %dgc0, %dlast : tensor<16x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins KDA_F32Tensor:$input, KDA_F32Tensor:$row);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input `,` $row attr-dict `:` type($input) `,` type($row)";
  let hasVerifier = 1;
}

def KDA_TrilOp : KDA_ChunkOp<"tril", [SameOperandsAndResultType]> {
  let summary = "s * x on the causal mask (j < i strict, j <= i inclusive), 0 above";
  let description = [{
    Only A's strictly lower part exists in M = (I + A)^-1, so its cotangent
    is masked: dA = tril(-(M^T dM M^T), strict).

    ```mlir
    %dA = kda.tril %p mask = strict scale = -1.0 : tensor<16x16xf32>
    ```
  }];
  let arguments = (ins KDA_F32Tensor:$input, KDA_CausalMask:$mask,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input `mask` `=` $mask (`scale` `=` $scale^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Adjoints of the prologue, on whole tensors.
//===----------------------------------------------------------------------===//

def KDA_L2NormGradOp : KDA_Op<"l2norm_grad", [Pure]> {
  let summary = "dx of y = x / sqrt(sum(x^2) + 1e-6) over the last dim";
  let arguments = (ins AnyRankedTensor:$input, KDA_F32Tensor:$dresult);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def KDA_SigmoidGradOp : KDA_Op<"sigmoid_grad", [Pure]> {
  let summary = "dx = dy sigmoid(x) sigmoid(-x)";
  let arguments = (ins AnyRankedTensor:$input, KDA_F32Tensor:$dresult);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def KDA_GateActivationGradOp : KDA_Op<"gate_activation_grad",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "cotangents of kda.gate_activation's gate, A_log and dt_bias";
  let description = [{
    Results: dg (the raw gate's shape), then dA_log ([HV]) and ddt_bias
    (dt_bias's shape) for the ones given, summed over every token.
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<AnyRankedTensor>:$A_log,
                       Optional<AnyRankedTensor>:$dt_bias,
                       KDA_F32Tensor:$dresult,
                       KDA_GateActivation:$activation,
                       OptionalAttr<F64Attr>:$lower_bound);
  let results = (outs Variadic<KDA_F32Tensor>:$grads);
  let assemblyFormat = [{
    $activation $input (`A_log` `(` $A_log^ `)`)? (`dt_bias` `(` $dt_bias^ `)`)?
    `grad` `(` $dresult `)` (`lower_bound` `=` $lower_bound^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def KDA_GroupSumOp : KDA_Op<"group_sum", [Pure]> {
  let summary = "[B, T, HV, D] -> [B, T, H, D]: sums each group of HV / H heads";
  let description = [{
    The adjoint of GVA's sharing: value head hv reads q/k head hv / (HV / H),
    so a q/k head's cotangent is the sum over its group.
  }];
  let arguments = (ins KDA_F32Tensor:$input);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

#endif // KDA_GRAD_OPS_TD
