//===- KDASplitOps.td - The forward chunk loop split at the state -*- tablegen -*-===//
//
// kda-chunk-split rewrites a forward kda.chunk_loop into the two loops its
// kernels are: kda.chunk_map (everything that does not read the state, each
// chunk independent) and kda.chunk_scan (the state recurrence), which meet
// at per-chunk-slot tensors, the kernels' workspaces. The values that cross
// are made explicit by the ops below: the decayed q and k and the chunk's
// total decay, computed in the map, and the scan's products that read them.
//
//===----------------------------------------------------------------------===//
#ifndef KDA_SPLIT_OPS_TD
#define KDA_SPLIT_OPS_TD

include "KDAChunkOps.td"

def KDA_ChunkMapOp : KDA_Op<"chunk_map", [AttrSizedOperandSegments,
    RecursiveMemoryEffects]> {
  let summary = "per-chunk values that do not read the state, chunks independent";
  let description = [{
    Runs its body once per chunk of every sequence and value head, in any
    order, on the chunk's q, k, v, g and beta tiles (as kda.chunk_loop's
    body receives them, without the state), and returns each yielded tile
    per chunk slot: result i is [slots, HV, tile dims...] f32. `names`
    names the results (the kernels' workspace names), one each, distinct.
    A chunk slot numbers the chunks of all sequences in order: sequence n's
    chunk c is slot sum_{m < n} ceil(len_m / C) + c.
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k,
                       AnyRankedTensor:$v, Optional<AnyRankedTensor>:$g,
                       AnyRankedTensor:$beta,
                       Optional<AnyRankedTensor>:$cu_seqlens,
                       I64Attr:$chunk_size, KDA_GateGranularity:$gate,
                       StrArrayAttr:$names);
  let results = (outs Variadic<KDA_F32Tensor>:$values);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `q` `(` $q `)` `k` `(` $k `)` `v` `(` $v `)` (`g` `(` $g^ `)`)?
    `beta` `(` $beta `)` (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    `chunk_size` `=` $chunk_size `gate` `=` $gate `names` `=` $names
    `:` functional-type(operands, results) $body attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Body arguments, in order (kda.chunk_loop's, without the state).
    enum BodyArg : unsigned { kQ, kK, kV, kG, kBeta, kNumBodyArgs };
  }];
}

def KDA_MapYieldOp : KDA_Op<"map_yield", [Pure, Terminator,
    ParentOneOf<["ChunkMapOp"]>]> {
  let summary = "yields a chunk's tiles of the chunk_map results";
  let arguments = (ins Variadic<KDA_F32Tensor>:$values);
  let assemblyFormat = "$values attr-dict `:` type($values)";
}

def KDA_ChunkScanOp : KDA_Op<"chunk_scan", [AttrSizedOperandSegments,
    RecursiveMemoryEffects]> {
  let summary = "the state recurrence over chunks, from per-chunk-slot tiles";
  let description = [{
    For each sequence and value head, the state S (K x V, f32) starts at
    `initial_state` (or zero) and the body runs once per chunk, in order, on
    the chunk's tile of each of `chunk_values` (per chunk slot, as
    kda.chunk_map returns them: body argument i is value i without its two
    leading dims) and the incoming state; it yields the chunk's output rows
    and the outgoing state, as kda.chunk_loop's body does. Results: o
    ([B, T, HV, V]) and, when its type is given, the final state. `like` is
    the loop's v: only its shape is read, for the sizes B and T that the
    chunk slots do not tell.
  }];
  let arguments = (ins Variadic<KDA_F32Tensor>:$chunk_values,
                       AnyRankedTensor:$like,
                       Optional<AnyRankedTensor>:$initial_state,
                       Optional<AnyRankedTensor>:$cu_seqlens,
                       I64Attr:$chunk_size,
                       DefaultValuedAttr<KDA_StateLayout, "StateLayout::kv">:$layout);
  let results = (outs AnyRankedTensor:$o, Optional<AnyRankedTensor>:$final_state);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `values` `(` $chunk_values `)` `like` `(` $like `)`
    (`initial_state` `(` $initial_state^ `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    `chunk_size` `=` $chunk_size (`layout` `=` $layout^)?
    `:` functional-type(operands, results) $body attr-dict
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// The values that cross from the map to the scan, and the scan's products.
//===----------------------------------------------------------------------===//

def KDA_DecayRowsOp : KDA_ChunkOp<"decay_rows",
    [AllTypesMatch<["input", "gc", "result"]>]> {
  let summary = "s * x * exp(gc), or x * exp(gc_last - gc) with `to_last`";
  let description = [{
    Row i of x decayed to the chunk's start (scaled by `scale`: the output's
    qg) or, with `to_last`, from token i to the chunk's last row (the state
    update's kg). gc_last is gc's last row: a tail chunk's zero-padded rows
    leave gc unchanged, so that is the last real token's.
  }];
  let arguments = (ins KDA_F32Tensor:$input, KDA_F32Tensor:$gc,
                       UnitAttr:$to_last,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $gc (`to_last` $to_last^)? (`scale` `=` $scale^)? attr-dict
    `:` type($input)
  }];
  let hasVerifier = 1;
}

def KDA_LastRowExpOp : KDA_ChunkOp<"last_row_exp"> {
  let summary = "exp(gc_last): the chunk's total decay per channel";
  let arguments = (ins KDA_F32Tensor:$gc);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = "$gc attr-dict `:` type($gc) `->` type($result)";
  let hasVerifier = 1;
}

def KDA_DecayedOutputOp : KDA_ChunkOp<"decayed_output",
    [AllTypesMatch<["values", "result"]>]> {
  let summary = "o = qg S + Aqk v' (kda.output with qg = scale q exp(gc) given)";
  let arguments = (ins KDA_F32Tensor:$qg, KDA_F32Tensor:$state,
                       KDA_F32Tensor:$Aqk, KDA_F32Tensor:$values);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $qg `,` $state `,` $Aqk `,` $values attr-dict `:` type($qg) `,`
    type($state) `,` type($Aqk) `->` type($result)
  }];
  let hasVerifier = 1;
}

def KDA_DecayedStateUpdateOp : KDA_ChunkOp<"decayed_state_update",
    [AllTypesMatch<["state", "result"]>]> {
  let summary = "S' = Diag(glast) S + kg^T v' (kda.state_update with kg, glast given)";
  let arguments = (ins KDA_F32Tensor:$state, KDA_F32Tensor:$kg,
                       KDA_F32Tensor:$glast, KDA_F32Tensor:$values);
  let results = (outs KDA_F32Tensor:$result);
  let assemblyFormat = [{
    $state `,` $kg `,` $glast `,` $values attr-dict `:` type($state) `,`
    type($kg) `,` type($glast) `,` type($values)
  }];
  let hasVerifier = 1;
}

#endif // KDA_SPLIT_OPS_TD
