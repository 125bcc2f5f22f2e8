//===- KDAChunkOps.td - The chunkwise form of kda ----------*- tablegen -*-===//
//
// Ops of the chunkwise decomposition (DESIGN.md section 2). kda-chunk rewrites
// kda.recurrence into a prologue of element-wise ops and a kda.chunk_loop whose
// body states the per-chunk algebra on small static f32 tensors; later passes
// refine the body (UT inverse expansion, anchored decay factorisation).
//
//===----------------------------------------------------------------------===//
#ifndef KDA_CHUNK_OPS_TD
#define KDA_CHUNK_OPS_TD

include "KDADialect.td"
include "KDAEnums.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def KDA_F32Tensor : RankedTensorOf<[F32]>;

//===----------------------------------------------------------------------===//
// Prologue: element-wise ops on whole tensors.
//===----------------------------------------------------------------------===//

def KDA_L2NormOp : KDA_Op<"l2norm", [Pure]> {
  let summary = "x / sqrt(sum(x^2) + 1e-6) over the last dim, in f32";
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def KDA_SigmoidOp : KDA_Op<"sigmoid", [Pure]> {
  let summary = "element-wise logistic sigmoid, in f32";
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def KDA_GateActivationOp : KDA_Op<"gate_activation",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "turns a raw gate pre-activation into a log-decay";
  let description = [{
    softplus: g <- -exp(A_log[hv]) * softplus(g + dt_bias[hv, :]);
    lowerbound: g <- lower_bound * sigmoid(exp(A_log[hv]) * (g + dt_bias[hv, :]))
    (without A_log: lower_bound * sigmoid(g + dt_bias[hv, :])). The input is
    [B, T, HV, K] (channel gate) or [B, T, HV] (scalar gate).
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<AnyRankedTensor>:$A_log,
                       Optional<AnyRankedTensor>:$dt_bias,
                       KDA_GateActivation:$activation,
                       OptionalAttr<F64Attr>:$lower_bound);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $activation $input (`A_log` `(` $A_log^ `:` type($A_log) `)`)?
    (`dt_bias` `(` $dt_bias^ `:` type($dt_bias) `)`)?
    (`lower_bound` `=` $lower_bound^)? attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// The loop over chunks.
//===----------------------------------------------------------------------===//

def KDA_ChunkLoopOp : KDA_Op<"chunk_loop", [AttrSizedOperandSegments,
    SingleBlock, RecursiveMemoryEffects]> {
  let summary = "runs its body on every chunk of every sequence and value head";
  let description = [{
    For each sequence (batch row, or cu_seqlens segment) and value head, the
    state S (K x V, f32) starts at `initial_state` (or zero) and the body runs
    once per chunk of `chunk_size` tokens, in order. The body receives the
    chunk's q, k ([C, K]), v ([C, V]), log-decay g ([C, K]; a scalar gate is
    broadcast over K and gate = none reads zeros) and beta ([C]), all f32, and
    the incoming state; it yields the chunk's output ([C, V]) and the outgoing
    state. A chunk that runs past the end of its sequence is zero-padded; zero
    q, k, v, g and beta rows leave the state and the real rows unchanged, so
    tails and varlen boundaries are exact. Value head hv reads q/k head
    hv / (HV / H).
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k,
                       AnyRankedTensor:$v, Optional<AnyRankedTensor>:$g,
                       AnyRankedTensor:$beta,
                       Optional<AnyRankedTensor>:$initial_state,
                       Optional<AnyRankedTensor>:$cu_seqlens,
                       I64Attr:$chunk_size,
                       KDA_GateGranularity:$gate,
                       DefaultValuedAttr<KDA_StateLayout, "StateLayout::kv">:$layout);
  let results = (outs AnyRankedTensor:$o, Optional<AnyRankedTensor>:$final_state);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `q` `(` $q `)` `k` `(` $k `)` `v` `(` $v `)` (`g` `(` $g^ `)`)?
    `beta` `(` $beta `)` (`initial_state` `(` $initial_state^ `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    `chunk_size` `=` $chunk_size `gate` `=` $gate (`layout` `=` $layout^)?
    `:` functional-type(operands, results) $body attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getKeyDim();
    int64_t getValueDim();
    /// Body arguments, in order.
    enum BodyArg : unsigned { kQ, kK, kV, kG, kBeta, kState, kNumBodyArgs };
  }];
}

def KDA_YieldOp : KDA_Op<"yield", [Pure, Terminator,
    ParentOneOf<["ChunkLoopOp", "ChunkGradLoopOp", "ChunkStatesOp",
                "ChunkScanOp"]>]> {
  let summary = "yields a chunk's output and the outgoing state";
  let arguments = (ins KDA_F32Tensor:$o, KDA_F32Tensor:$state);
  let assemblyFormat = "$o `,` $state attr-dict `:` type($o) `,` type($state)";
}

//===----------------------------------------------------------------------===//
// Per-chunk algebra (DESIGN.md section 2), on static f32 tensors.
//===----------------------------------------------------------------------===//

class KDA_ChunkOp<string mnemonic, list<Trait> traits = []>
    : KDA_Op<mnemonic, !listconcat([Pure], traits)>;

def KDA_CumsumOp : KDA_ChunkOp<"cumsum", [SameOperandsAndResultType]> {
  let summary = "inclusive cumulative sum along the token dim: gc = cumsum(g)";
  let arguments = (ins KDA_F32Tensor:$input);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def KDA_DecayedGramOp : KDA_ChunkOp<"decayed_gram",
    [AllTypesMatch<["lhs", "rhs", "gc"]>]> {
  let summary = "A[i,j] = s * r_i * sum_d a_i[d] b_j[d] exp(gc_i[d] - gc_j[d]), causal";
  let description = [{
    `mask = strict` keeps j < i (Akk), `mask = inclusive` keeps j <= i (Aqk);
    the rest is zero. r is the optional `row_scale` (beta for Akk), s the
    `scale` attribute (1 when absent). `anchor_block` says how the decay is
    evaluated: 0 forms exp(gc_i - gc_j) per element; N > 0 splits it, for
    row block I and column block J < I of N tokens, as
    exp(gc_i - a_I) * exp(a_I - gc_j) with a_I the cumsum just before block I,
    so off-diagonal blocks become matrix products of factors bounded by 1 and
    nothing overflows for any gate strength; diagonal blocks stay direct.
  }];
  let arguments = (ins KDA_F32Tensor:$lhs, KDA_F32Tensor:$rhs,
                       KDA_F32Tensor:$gc, Optional<KDA_F32Tensor>:$row_scale,
                       KDA_CausalMask:$mask, OptionalAttr<F64Attr>:$scale,
                       DefaultValuedAttr<I64Attr, "0">:$anchor_block);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs `,` $gc (`row_scale` `(` $row_scale^ `:` type($row_scale) `)`)? `mask` `=` $mask
    (`scale` `=` $scale^)? (`anchor_block` `=` $anchor_block^)?
    attr-dict `:` type($lhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def KDA_UTInverseOp : KDA_ChunkOp<"ut_inverse", [SameOperandsAndResultType]> {
  let summary = "M = (I + A)^-1 for strictly lower-triangular A (the UT transform)";
  let arguments = (ins KDA_F32Tensor:$input);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def KDA_ForwardSubstitutionOp : KDA_ChunkOp<"forward_substitution",
    [SameOperandsAndResultType]> {
  let summary = "(I + A)^-1 of strictly lower A, row by row";
  let description = [{
    M[i, :] = e_i - sum_{j < i} A[i, j] M[j, :]: C sequential steps, each a
    vector update; the building block the other inverse methods fall back to
    on small diagonal blocks.
  }];
  let arguments = (ins KDA_F32Tensor:$input);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def KDA_MatmulOp : KDA_ChunkOp<"matmul"> {
  let summary = "C = s op(A) op(B), op = transpose where asked, f32 accumulation";
  let description = [{
    op(A) is A^T with `transpose_lhs`, op(B) is B^T with `transpose_rhs`;
    s is `scale` (1 when absent). The backward's products contract over
    either side of a tile (dq = dO S^T, dS = q^T dO), so both flags exist:

    ```mlir
    %dw = kda.matmul %dvalues, %S transpose_rhs scale = -1.0
        : tensor<16x64xf32>, tensor<64x64xf32> -> tensor<16x64xf32>
    ```
  }];
  let arguments = (ins KDA_F32Tensor:$lhs, KDA_F32Tensor:$rhs,
                       UnitAttr:$transpose_lhs, UnitAttr:$transpose_rhs,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`transpose_lhs` $transpose_lhs^)?
    (`transpose_rhs` $transpose_rhs^)? (`scale` `=` $scale^)? attr-dict `:`
    type($lhs) `,` type($rhs) `->` type($result)
  }];
  let builders = [
    // The forward's products: op(B) = B, no scale.
    OpBuilder<(ins "Type":$result, "Value":$lhs, "Value":$rhs,
                   "bool":$transposeLhs), [{
      build($_builder, $_state, result, lhs, rhs, transposeLhs, false,
            llvm::APFloat(1.0));
    }]>
  ];
  let hasVerifier = 1;
}

def KDA_AddIdentityOp : KDA_ChunkOp<"add_identity", [SameOperandsAndResultType]> {
  let summary = "I + s A for a square A (s = -1 with `negate`)";
  let arguments = (ins KDA_F32Tensor:$input, UnitAttr:$negate);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input (`negate` $negate^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def KDA_SubOp : KDA_ChunkOp<"sub", [AllTypesMatch<["lhs", "rhs", "result"]>]> {
  let summary = "element-wise a - b";
  let arguments = (ins KDA_F32Tensor:$lhs, KDA_F32Tensor:$rhs);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def KDA_ExtractBlockOp : KDA_ChunkOp<"extract_block"> {
  let summary = "a static rows x cols block of a matrix at (row, col)";
  let arguments = (ins KDA_F32Tensor:$input, I64Attr:$row, I64Attr:$col);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $input `[` $row `,` $col `]` attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def KDA_InsertBlockOp : KDA_ChunkOp<"insert_block",
    [AllTypesMatch<["dest", "result"]>]> {
  let summary = "the matrix with a block replaced at (row, col)";
  let arguments = (ins KDA_F32Tensor:$block, KDA_F32Tensor:$dest,
                       I64Attr:$row, I64Attr:$col);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $block `into` $dest `[` $row `,` $col `]` attr-dict `:` type($block) `into`
    type($dest)
  }];
  let hasVerifier = 1;
}

def KDA_ZeroOp : KDA_ChunkOp<"zero"> {
  let summary = "a zero f32 tensor";
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def KDA_WYOp : KDA_ChunkOp<"wy", [AllTypesMatch<["k", "gc", "w"]>,
    AllTypesMatch<["v", "u"]>]> {
  let summary = "WY factors: w = M (beta * k * exp(gc)), u = M (beta * v)";
  let arguments = (ins KDA_F32Tensor:$M, KDA_F32Tensor:$k, KDA_F32Tensor:$v,
                       KDA_F32Tensor:$gc, KDA_F32Tensor:$beta);
  let results = (outs KDA_F32Tensor:$w, KDA_F32Tensor:$u);
  let assemblyFormat = [{
    $M `,` $k `,` $v `,` $gc `,` $beta attr-dict `:` type($M) `,` type($k) `,`
    type($v) `,` type($beta)
  }];
  let hasVerifier = 1;
}

def KDA_ScaleRowsOp : KDA_ChunkOp<"scale_rows",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "x[i, :] * r[i] (the additive rule's v' = beta * v)";
  let arguments = (ins KDA_F32Tensor:$input, KDA_F32Tensor:$row_scale);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$input `,` $row_scale attr-dict `:` type($input) `,` type($row_scale)";
  let hasVerifier = 1;
}

def KDA_StateApplyOp : KDA_ChunkOp<"state_apply",
    [AllTypesMatch<["u", "result"]>]> {
  let summary = "v' = u - w S: the chunk's values corrected by the incoming state";
  let arguments = (ins KDA_F32Tensor:$u, KDA_F32Tensor:$w, KDA_F32Tensor:$state);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $u `,` $w `,` $state attr-dict `:` type($u) `,` type($w) `,` type($state)
  }];
  let hasVerifier = 1;
}

def KDA_OutputOp : KDA_ChunkOp<"output", [AllTypesMatch<["q", "gc"]>,
    AllTypesMatch<["values", "result"]>]> {
  let summary = "o = scale * (q * exp(gc)) S + Aqk v'";
  let arguments = (ins KDA_F32Tensor:$q, KDA_F32Tensor:$gc,
                       KDA_F32Tensor:$state, KDA_F32Tensor:$Aqk,
                       KDA_F32Tensor:$values, F64Attr:$scale);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $q `,` $gc `,` $state `,` $Aqk `,` $values `scale` `=` $scale attr-dict `:`
    type($q) `,` type($state) `,` type($Aqk) `->` type($result)
  }];
  let hasVerifier = 1;
}

def KDA_StateUpdateOp : KDA_ChunkOp<"state_update",
    [AllTypesMatch<["k", "gc"]>, AllTypesMatch<["state", "result"]>]> {
  let summary = "S' = Diag(exp(gc_last)) S + (k * exp(gc_last - gc))^T v'";
  let arguments = (ins KDA_F32Tensor:$state, KDA_F32Tensor:$k,
                       KDA_F32Tensor:$gc, KDA_F32Tensor:$values);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $state `,` $k `,` $gc `,` $values attr-dict `:` type($state) `,` type($k)
    `,` type($values)
  }];
  let hasVerifier = 1;
}

#endif // KDA_CHUNK_OPS_TD
