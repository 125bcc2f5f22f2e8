//===- KDKOps.td - Operations of the kdk dialect -----------*- tablegen -*-===//
//
// Thread-block-level ops of KDA kernels. Tiles are 1-D or 2-D memrefs in
// shared memory (memory space 3), possibly strided subviews, or 2-D
// register fragments (memory space 5) spread over the block's threads;
// global buffers are flat memref<?xT> addressed by element offsets computed
// in arith. Every op declares what it reads and writes (MemRead/MemWrite on
// its operands, MemAlloc on kdk.alloc_tile; a barrier or wait reads and
// writes everything), so passes can order tile ops from the IR alone.
//
//===----------------------------------------------------------------------===//
#ifndef KDK_OPS_TD
#define KDK_OPS_TD

include "KDKDialect.td"
include "KDKAttrs.td"
include "KDKInterfaces.td"
include "KDA/KDAEnums.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def KDK_Tile : MemRefRankOf<[F32, BF16, F16], [1, 2]>;
def KDK_Tile2D : MemRefRankOf<[F32, BF16, F16], [2]>;
def KDK_F32Tile : MemRefRankOf<[F32], [1, 2]>;
def KDK_F32Tile2D : MemRefRankOf<[F32], [2]>;
def KDK_F32Tile1D : MemRefRankOf<[F32], [1]>;
// A kernel argument's buffer; the rule is kdk::isGlobalBuffer's.
def KDK_Global : Type<CPred<"::mlir::kdk::isGlobalBuffer($_self)">,
                      "memref<?xT> in global memory (T: f32, bf16, f16, i64 "
                      "or i32)", "::mlir::MemRefType">;

//===----------------------------------------------------------------------===//
// Launch geometry and work decomposition.
//===----------------------------------------------------------------------===//

def KDK_BlockIdOp : KDK_Op<"block_id", [Pure]> {
  let summary = "the thread block's index along grid axis 0, 1 or 2";
  let arguments = (ins ConfinedAttr<I64Attr, [IntMinValue<0>, IntMaxValue<2>]>:$axis);
  let results = (outs Index:$result);
  let assemblyFormat = "$axis attr-dict";
}

def KDK_LocateChunkOp : KDK_Op<"locate_chunk", [Pure]> {
  let summary = "maps a chunk slot to its sequence, token range and validity";
  let description = [{
    Chunk slots number the chunks of all sequences in order. Without
    `cu_seqlens` there are ceil(T / C) slots per batch row; with it, the
    chunks of each segment follow each other and slots past the last chunk
    are invalid (the grid over-covers by at most N). Results: whether the
    slot holds a chunk, the sequence index, the batch row the tokens live in
    (the sequence without varlen, 0 with), the first token of the chunk
    within that row, and the number of real rows (<= C).
  }];
  let arguments = (ins Index:$slot, Index:$seq_len,
                       Optional<KDK_Global>:$cu_seqlens, I64Attr:$chunk_size);
  let results = (outs I1:$valid, Index:$sequence, Index:$batch, Index:$start,
                      Index:$rows);
  let assemblyFormat = [{
    $slot `T` `(` $seq_len `)` (`cu_seqlens` `(` $cu_seqlens^ `:` type($cu_seqlens) `)`)?
    `chunk_size` `=` $chunk_size attr-dict
  }];
  let hasVerifier = 1;
}

def KDK_SequenceRangeOp : KDK_Op<"sequence_range", [Pure]> {
  let summary = "a sequence's batch row, first token, length, chunks and first slot";
  let arguments = (ins Index:$sequence, Index:$seq_len,
                       Optional<KDK_Global>:$cu_seqlens, I64Attr:$chunk_size);
  let results = (outs Index:$batch, Index:$start, Index:$length,
                      Index:$num_chunks, Index:$first_slot);
  let assemblyFormat = [{
    $sequence `T` `(` $seq_len `)` (`cu_seqlens` `(` $cu_seqlens^ `:` type($cu_seqlens) `)`)?
    `chunk_size` `=` $chunk_size attr-dict
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Shared memory and data movement.
//===----------------------------------------------------------------------===//

def KDK_AllocTileOp : KDK_Op<"alloc_tile"> {
  let summary = "a shared-memory tile or register fragment, live for the whole kernel";
  let description = [{
    Memory space 3 is shared memory. A #kdk.fragment or #kdk.mma_fragment
    memory space is a register fragment, laid out as that attribute says:
    each thread holds its share of the tile, so ops on it need no barrier
    among themselves. load_tile, store_tile, fill, scale_rows and mma (as B,
    or as an accumulated rank-one product) and delta_step accept
    fragments; an mma_fragment can be both B and out of a tensor-core
    kdk.mma with a shared bf16/f16 A.

    ```mlir
    %state = kdk.alloc_tile : memref<128x128xf32, #kdk.fragment<1, 4, 8>>
    %acc = kdk.alloc_tile : memref<128x64xf32, #kdk.mma_fragment>
    ```

    A shared tile's `offset` is its first byte in the kernel's dynamic
    shared memory, set by kdk-allocate-shared-memory (a multiple of
    kSharedTileAlignment); the kernel's kdk.shared_memory_bytes covers
    every tile, and no two tiles overlap.
  }];
  let arguments = (ins OptionalAttr<I64Attr>:$offset);
  let results = (outs Res<KDK_Tile, "", [MemAlloc]>:$tile);
  let assemblyFormat = "attr-dict `:` type($tile)";
  let hasVerifier = 1;
}

def KDK_LoadIndexOp : KDK_Op<"load_index"> {
  let summary = "one integer of a global buffer, as an index";
  let description = [{
    Reads a block-uniform integer (a state slot, an accepted count):

    ```mlir
    %slot = kdk.load_index %state_indices[%n] : memref<?xi32>
    ```
  }];
  let arguments = (ins Arg<MemRefRankOf<[I32, I64], [1]>, "", [MemRead]>:$src, Index:$offset);
  let results = (outs Index:$result);
  let assemblyFormat = "$src `[` $offset `]` attr-dict `:` type($src)";
  let hasVerifier = 1;
}

def KDK_BarrierOp : KDK_Op<"barrier", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "__syncthreads(): orders the tile ops before and after";
  let assemblyFormat = "attr-dict";
}

def KDK_GlobalTileOp : KDK_Op<"global_tile", [Pure]> {
  let summary = "a tile read in place from a global buffer";
  let description = [{
    Views the elements [offset + r * ld + c] of a global buffer as an R x C
    tile (ld the row stride of the result's strided layout, unit column
    stride, no memory space): ops that only read a tile (products, row
    dots) read it there, through L1 and L2, instead of from a shared copy.
    Nothing may write it. The backward's map reads the K x V entering state
    and its cotangent this way when staging them would fill the SM's shared
    memory.
  }];
  let arguments = (ins KDK_Global:$buffer, Index:$offset);
  let results = (outs KDK_Tile2D:$tile);
  let assemblyFormat = [{
    $buffer `[` $offset `]` attr-dict `:` type($buffer) `->` type($tile)
  }];
  let hasVerifier = 1;
}

def KDK_LoadTileOp : KDK_Op<"load_tile", [KDK_FragmentOperands]> {
  let summary = "global -> shared tile, zero-filling rows past `rows`";
  let description = [{
    dst[r, c] = src[offset + r * row_stride + c * col_stride] for r < rows,
    0 for r >= rows, converted to the tile's element type. A 1-D tile reads
    dst[r] = src[offset + r * row_stride]. col_stride = 0 broadcasts one
    value per row across the tile (a per-head gate over K).

    `async` issues the copy without waiting (cp.async; the tile and the
    buffer have one element type): the tile holds the data only after
    kdk.wait_async and a barrier, so a kernel can load the next chunk's
    tiles while it computes on this one's.
  }];
  let arguments = (ins Arg<KDK_Global, "", [MemRead]>:$src, Index:$offset, Index:$rows,
                       Index:$row_stride, I64Attr:$col_stride, Arg<KDK_Tile, "", [MemWrite]>:$dst,
                       UnitAttr:$async);
  let assemblyFormat = [{
    $src `[` $offset `]` `rows` `(` $rows `)` `row_stride` `(` $row_stride `)`
    `col_stride` `=` $col_stride `into` $dst (`async` $async^)? attr-dict `:`
    type($src) `,` type($dst)
  }];
  let hasVerifier = 1;
}

def KDK_WaitAsyncOp : KDK_Op<"wait_async",
    [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "waits for this thread's kdk.load_tile {async} copies";
  let description = [{
    Each thread waits for its own copies only: a kdk.barrier must follow
    before any thread reads the tiles.

    ```mlir
    kdk.load_tile %w[%off] rows(%c16) row_stride(%c128) col_stride = 1
        into %tile async : memref<?xbf16>, memref<16x128xbf16, 3>
    kdk.wait_async
    kdk.barrier
    ```
  }];
  let assemblyFormat = "attr-dict";
}

def KDK_StoreTileOp : KDK_Op<"store_tile", [KDK_FragmentOperands]> {
  let summary = "shared tile -> global, rows below `rows` only";
  let description = [{
    dst[offset + r * row_stride + c * col_stride] = src[r, c] for r < rows,
    converted to the buffer's element type.
  }];
  let arguments = (ins Arg<KDK_Tile, "", [MemRead]>:$src, Arg<KDK_Global, "", [MemWrite]>:$dst, Index:$offset,
                       Index:$rows, Index:$row_stride, I64Attr:$col_stride);
  let assemblyFormat = [{
    $src `into` $dst `[` $offset `]` `rows` `(` $rows `)` `row_stride` `(`
    $row_stride `)` `col_stride` `=` $col_stride attr-dict `:` type($src) `,` type($dst)
  }];
  let hasVerifier = 1;
}

def KDK_ConvertOp : KDK_Op<"convert", [DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "copies a tile into another of the same shape, converting elements";
  let arguments = (ins Arg<KDK_Tile, "", [MemRead]>:$src, Arg<KDK_Tile, "", [MemWrite]>:$dst);
  let assemblyFormat = "$src `into` $dst attr-dict `:` type($src) `,` type($dst)";
  let hasVerifier = 1;
}

def KDK_FillOp : KDK_Op<"fill", [KDK_FragmentOperands, DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "sets every element of a tile";
  let arguments = (ins Arg<KDK_Tile, "", [MemWrite]>:$tile, F64Attr:$value);
  let assemblyFormat = "$tile `,` $value attr-dict `:` type($tile)";
}

//===----------------------------------------------------------------------===//
// Prologue math, in place on f32 tiles.
//===----------------------------------------------------------------------===//

def KDK_L2NormRowsOp : KDK_Op<"l2norm_rows"> {
  let summary = "x[r, :] /= sqrt(sum(x[r, :]^2) + 1e-6)";
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead, MemWrite]>:$tile);
  let assemblyFormat = "$tile attr-dict `:` type($tile)";
}

def KDK_SigmoidOp : KDK_Op<"sigmoid"> {
  let summary = "x = 1 / (1 + exp(-x)) on rows below `rows`, in place";
  let description = [{
    Rows at and past `rows` are padding and stay as they are (zero), so a
    padded row never gets sigmoid(0) = 1/2.
  }];
  let arguments = (ins Arg<KDK_F32Tile, "", [MemRead, MemWrite]>:$tile, Index:$rows);
  let assemblyFormat = "$tile `rows` `(` $rows `)` attr-dict `:` type($tile)";
}

def KDK_GateActivationOp : KDK_Op<"gate_activation", [AttrSizedOperandSegments]> {
  let summary = "raw gate -> log-decay, in place, for value head `head`";
  let description = [{
    Only rows below `rows` are activated: padding rows must keep a zero
    log-decay, or the chunk's total decay (its last row's cumsum) would
    count tokens that do not exist.

    With b = dt_bias[head * width + c] (width = the tile's columns; a per-head
    gate uses dt_bias[head]) and a = exp(A_log[head]):
    softplus: x = -a * softplus(x + b) (softplus(y) = y for y > 20);
    lowerbound: x = lower_bound * sigmoid(a * (x + b)) (a = 1 without A_log).

    `cumulative` also replaces each column by its inclusive prefix sum, as a
    following kdk.cumsum_rows would, without the barrier between them:

    ```mlir
    kdk.gate_activation lowerbound %g head(%h) rows(%rows)
        lower_bound = -5.0 cumulative : memref<16x128xf32, 3>
    ```
  }];
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead, MemWrite]>:$tile, Index:$head, Index:$rows,
                       Arg<Optional<KDK_Global>, "", [MemRead]>:$A_log, Arg<Optional<KDK_Global>, "", [MemRead]>:$dt_bias,
                       KDA_GateActivation:$activation,
                       OptionalAttr<F64Attr>:$lower_bound, UnitAttr:$per_head,
                       UnitAttr:$cumulative);
  let assemblyFormat = [{
    $activation $tile `head` `(` $head `)` `rows` `(` $rows `)`
    (`A_log` `(` $A_log^ `:` type($A_log) `)`)?
    (`dt_bias` `(` $dt_bias^ `:` type($dt_bias) `)`)?
    (`lower_bound` `=` $lower_bound^)? (`per_head` $per_head^)?
    (`cumulative` $cumulative^)? attr-dict `:` type($tile)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Chunk math on shared tiles.
//===----------------------------------------------------------------------===//

def KDK_CumsumRowsOp : KDK_Op<"cumsum_rows"> {
  let summary = "inclusive prefix sum down the rows (up with `reverse`), in place";
  let description = [{
    `reverse` sums from the last row up, x_i = sum_{j >= i} y_j: the
    adjoint of the gate's cumsum in the backward.
  }];
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead, MemWrite]>:$tile,
                       UnitAttr:$reverse);
  let assemblyFormat = "$tile (`reverse` $reverse^)? attr-dict `:` type($tile)";
}

def KDK_DecayedGramOp : KDK_Op<"decayed_gram"> {
  let summary = "out[i,j] = s r_i sum_d a[i,d] b[j,d] exp(gc[i,d] - gc[j,d]), causal";
  let description = [{
    As kda.decayed_gram: `mask = strict` keeps j < i, `inclusive` j <= i;
    `anchor_block` > 0 evaluates off-diagonal blocks as products of factors
    split at the cumsum just before each row block.

    `tensor_cores` evaluates each 16-row block as one TF32 tensor-core
    product of factors anchored at the block's first row,
    (a_i exp(gc_i - gc_0)) . (b_j exp(gc_0 - gc_j)). The row factors are
    <= 1; the column factors of the block's own rows grow up to
    exp(15 max|g|), so the lowering sets it only when the gate bounds the
    per-token log-decay (lowerbound, |lower_bound| <= 5: at most e^75) and
    the operands are 16-bit (TF32 keeps 10 mantissa bits).

    The tensor-core form gives one warp per 16 x 8 output block, so a small
    gram leaves most warps idle; `first_warp` says which warp takes the
    first block (the rest follow, wrapping around), so two grams between the
    same barriers run on different warps:

    ```mlir
    kdk.decayed_gram %k, %k, %gc into %akk mask = strict scale = 1.0
        tensor_cores : ...
    kdk.decayed_gram %q, %k, %gc into %aqk mask = inclusive scale = 0.088
        tensor_cores first_warp = 2 : ...
    ```
  }];
  let arguments = (ins Arg<KDK_Tile2D, "", [MemRead]>:$lhs, Arg<KDK_Tile2D, "", [MemRead]>:$rhs, Arg<KDK_F32Tile2D, "", [MemRead]>:$gc,
                       Arg<Optional<KDK_F32Tile1D>, "", [MemRead]>:$row_scale, Arg<KDK_F32Tile2D, "", [MemWrite]>:$out,
                       KDA_CausalMask:$mask, F64Attr:$scale,
                       DefaultValuedAttr<I64Attr, "0">:$anchor_block,
                       UnitAttr:$tensor_cores,
                       DefaultValuedAttr<I64Attr, "0">:$first_warp);
  let assemblyFormat = [{
    $lhs `,` $rhs `,` $gc (`row_scale` `(` $row_scale^ `:` type($row_scale) `)`)?
    `into` $out `mask` `=` $mask `scale` `=` $scale
    (`anchor_block` `=` $anchor_block^)? (`tensor_cores` $tensor_cores^)?
    (`first_warp` `=` $first_warp^)?
    attr-dict `:` type($lhs) `,` type($rhs) `,` type($gc) `,` type($out)
  }];
  let hasVerifier = 1;
}

def KDK_TriInverseOp : KDK_Op<"tri_inverse"> {
  let summary = "out = (I + A)^-1 for strictly lower A, by forward substitution";
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$input, Arg<KDK_F32Tile2D, "", [MemWrite]>:$out);
  let assemblyFormat = "$input `into` $out attr-dict `:` type($input) `,` type($out)";
  let hasVerifier = 1;
}

def KDK_MmaOp : KDK_Op<"mma", [KDK_FragmentOperands]> {
  let summary = "out = [out +] alpha * op(A) B, f32 accumulation";
  let description = [{
    op(A) is A or, with `transpose_lhs`, A^T. bf16/f16 operands use tensor
    cores (mma.sync m16n8k16); f32 operands use f32 FMAs, so f32 specs keep
    f32 accuracy. With `accumulate` the product is added to `out`.
    `transpose_rhs` multiplies by B^T instead (B stored N x K: the
    backward's dO S^T), on shared tiles, with f32 FMAs.
    When B and out are `#kdk.mma_fragment` tiles, A must be a shared bf16/f16
    tile and B is rounded to A's element type as a tensor-core operand.
    With `tf32`, f32 shared operands are rounded to tf32 (10-bit mantissa)
    and multiplied on tensor cores (mma.sync m16n8k8, f32 accumulation):
    M a multiple of 16, N and the inner dimension of 8. A lowering sets it
    only where its inputs carry fewer bits than tf32 keeps (16-bit specs).
  }];
  let arguments = (ins Arg<KDK_Tile2D, "", [MemRead]>:$lhs, Arg<KDK_Tile2D, "", [MemRead]>:$rhs, Arg<KDK_F32Tile2D, "", [MemRead, MemWrite]>:$out,
                       UnitAttr:$transpose_lhs, UnitAttr:$accumulate,
                       DefaultValuedAttr<F64Attr, "1.0">:$alpha,
                       UnitAttr:$transpose_rhs, UnitAttr:$tf32);
  let assemblyFormat = [{
    $lhs `,` $rhs `into` $out (`transpose_lhs` $transpose_lhs^)?
    (`transpose_rhs` $transpose_rhs^)? (`tf32` $tf32^)?
    (`accumulate` $accumulate^)? (`alpha` `=` $alpha^)? attr-dict `:`
    type($lhs) `,` type($rhs) `,` type($out)
  }];
  let hasVerifier = 1;
}

def KDK_SubOp : KDK_Op<"sub", [DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "out = a - b element-wise";
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$lhs, Arg<KDK_F32Tile2D, "", [MemRead]>:$rhs, Arg<KDK_F32Tile2D, "", [MemWrite]>:$out);
  let assemblyFormat = "$lhs `,` $rhs `into` $out attr-dict `:` type($lhs) `,` type($rhs) `,` type($out)";
  let hasVerifier = 1;
}

def KDK_AddIdentityOp : KDK_Op<"add_identity", [DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "out = I + A (I - A with `negate`) for a square tile";
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$input, Arg<KDK_F32Tile2D, "", [MemWrite]>:$out, UnitAttr:$negate);
  let assemblyFormat = [{
    $input `into` $out (`negate` $negate^)? attr-dict `:` type($input) `,` type($out)
  }];
  let hasVerifier = 1;
}

def KDK_DecayRowsOp : KDK_Op<"decay_rows", [DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "out = scale * r_i * x * exp(gc) or x * exp(gc_last - gc)";
  let description = [{
    `to_last` false: out[i, d] = scale * r[i] * x[i, d] * exp(gc[i, d]);
    `to_last`: out[i, d] = scale * r[i] * x[i, d] * exp(gc[C-1, d] - gc[i, d]).
    r is the optional row_scale (1 when absent). Every factor is <= 1 for a
    log-decay cumsum, so nothing overflows.
  }];
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$input, Arg<KDK_F32Tile2D, "", [MemRead]>:$gc,
                       Arg<Optional<KDK_F32Tile1D>, "", [MemRead]>:$row_scale, Arg<KDK_Tile2D, "", [MemWrite]>:$out,
                       UnitAttr:$to_last, DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let assemblyFormat = [{
    $input `,` $gc (`row_scale` `(` $row_scale^ `:` type($row_scale) `)`)?
    `into` $out (`to_last` $to_last^)? (`scale` `=` $scale^)? attr-dict `:`
    type($input) `,` type($gc) `,` type($out)
  }];
  let hasVerifier = 1;
}

def KDK_StoreDecayedRowsOp : KDK_Op<"store_decayed_rows"> {
  let summary = "decay_rows written straight to a global buffer";
  let description = [{
    dst[offset + i * row_stride + d] = scale * x[i, d] * exp(gc[i, d]) (or
    exp(gc[C-1, d] - gc[i, d]) with `to_last`) for i < rows, rounded once to
    the buffer's element type. The decayed q and k go to their workspaces
    this way without a shared staging tile, so the phase that computes them
    also stores them and the block needs less shared memory:

    ```mlir
    kdk.store_decayed_rows %q, %gc into %ws_qg[%off] rows(%c16)
        row_stride(%c128) scale = 0.088 : memref<16x128xf32, 3>,
        memref<16x128xf32, 3>, memref<?xbf16>
    ```
  }];
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$input, Arg<KDK_F32Tile2D, "", [MemRead]>:$gc,
                       Arg<KDK_Global, "", [MemWrite]>:$dst, Index:$offset, Index:$rows,
                       Index:$row_stride, UnitAttr:$to_last,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let assemblyFormat = [{
    $input `,` $gc `into` $dst `[` $offset `]` `rows` `(` $rows `)`
    `row_stride` `(` $row_stride `)` (`to_last` $to_last^)?
    (`scale` `=` $scale^)? attr-dict `:` type($input) `,` type($gc) `,`
    type($dst)
  }];
  let hasVerifier = 1;
}

def KDK_LastRowExpOp : KDK_Op<"last_row_exp"> {
  let summary = "out[d] = exp(gc[C-1, d]): the chunk's total decay per channel";
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$gc, Arg<KDK_F32Tile1D, "", [MemWrite]>:$out);
  let assemblyFormat = "$gc `into` $out attr-dict `:` type($gc) `,` type($out)";
  let hasVerifier = 1;
}

def KDK_ExpOp : KDK_Op<"exp", [DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "out = exp(x) element-wise (out may be x)";
  let description = [{
    A log-decay tile becomes the per-token decay factors at once, as a
    multi-token decode group needs them:

    ```mlir
    kdk.exp %gate into %gate : memref<8x128xf32, 3>, memref<8x128xf32, 3>
    ```
  }];
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$input, Arg<KDK_F32Tile2D, "", [MemWrite]>:$out);
  let assemblyFormat = "$input `into` $out attr-dict `:` type($input) `,` type($out)";
  let hasVerifier = 1;
}

def KDK_ScaleRowsOp : KDK_Op<"scale_rows", [KDK_FragmentOperands, DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "x[i, :] *= r[i], in place or `into` another tile";
  let description = [{
    In place on an f32 tile (the state's per-channel decay), or from a tile
    of any element type into a shared tile of the same shape and any
    element type, rounding once: beta v becomes a bf16 tensor-core operand
    in one step instead of a scale and a convert, each behind a barrier.

    ```mlir
    kdk.scale_rows %v, %beta into %vb : memref<16x128xf32, 3>,
        memref<16xf32, 3>, memref<16x128xbf16, 3>
    ```
  }];
  let arguments = (ins Arg<KDK_Tile2D, "", [MemRead, MemWrite]>:$tile, Arg<KDK_F32Tile1D, "", [MemRead]>:$row_scale,
                       Arg<Optional<KDK_Tile2D>, "", [MemWrite]>:$out);
  let assemblyFormat = [{
    $tile `,` $row_scale (`into` $out^)? attr-dict `:` type($tile) `,`
    type($row_scale) (`,` type($out)^)?
  }];
  let hasVerifier = 1;
}

def KDK_DeltaStepOp : KDK_Op<"delta_step", [KDK_FragmentOperands, AttrSizedOperandSegments]> {
  let summary = "one token of the recurrence on a state fragment or shared tile";
  let description = [{
    With d = `decay` (1 when absent), in two passes over the state:
      kS = S^T (d k), qS = S^T (d q); v' = beta (v - kS) (beta v with
      `additive`); out = scale (qS + (q . k) v'), which is scale S_new^T q;
      S = Diag(d) S + k v'^T.
    Folding the decay into the vectors and o into q . k leaves one product
    pass and one update pass per token, and v' and o are formed in the lanes
    that reduce the columns: the decode kernel's token is four barriers
    instead of eight. q, k and decay have K elements, v and out Vt, beta one.

    The state is a register fragment (#kdk.fragment) or a shared tile of
    any element type, updated in place: a one-token decode kernel streams
    its state through shared memory, so a block holds no state in
    registers and more blocks overlap their state reads
    (kdac_shared_state.cuh).

    `store_to` (a shared state only) writes the new state to global memory
    at `offset + r * row_stride + c` instead of back into the tile, which
    keeps the old one: a one-token kernel's update pass is then its state
    store, with no barrier and no second pass over the tile.

    ```mlir
    kdk.delta_step %shared, %q, %k, %v, %beta decay(%d : memref<128xf32, 3>)
        into %o store_to %final[%offset] row_stride(%c128) : memref<?xbf16>
        scale = 0.088388 : memref<128x128xbf16, 3>, ...
    ```

    ```mlir
    kdk.delta_step %state, %q, %k, %v, %beta decay(%d : memref<128xf32, 3>)
        into %o scale = 0.088388 : memref<128x128xf32, #kdk.fragment<1, 4, 8>>, memref<1x128xf32, 3>,
        memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1xf32, 3>,
        memref<1x128xf32, 3>
    ```

    `token(%t)` takes row %t of G-row tiles instead: q, k and decay G x K,
    v and out G x Vt, beta G values. A decode kernel with several tokens per
    call prepares a group of G tokens at once (their loads, norms and gates
    behind one barrier) and then runs G steps back to back: each warp owns
    whole columns and reads the token rows only, so no barrier separates
    two steps.

    ```mlir
    kdk.delta_step %state, %q, %k, %v, %beta token(%t)
        decay(%d : memref<8x128xf32, 3>) into %o scale = 0.088388
        : memref<128x128xf32, #kdk.fragment<1, 4, 8>>, memref<8x128xf32, 3>, memref<8x128xf32, 3>,
        memref<8x128xf32, 3>, memref<8xf32, 3>, memref<8x128xf32, 3>
    ```
  }];
  let arguments = (ins Arg<KDK_Tile2D, "", [MemRead, MemWrite]>:$state, Arg<KDK_F32Tile2D, "", [MemRead]>:$q, Arg<KDK_F32Tile2D, "", [MemRead]>:$k,
                       Arg<KDK_F32Tile2D, "", [MemRead]>:$v, Arg<KDK_F32Tile1D, "", [MemRead]>:$beta,
                       Optional<Index>:$token,
                       Arg<Optional<KDK_F32Tile>, "", [MemRead]>:$decay, Arg<KDK_F32Tile2D, "", [MemWrite]>:$out,
                       Arg<Optional<KDK_Global>, "", [MemWrite]>:$store_to,
                       Optional<Index>:$store_offset,
                       Optional<Index>:$store_row_stride,
                       UnitAttr:$additive, DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let assemblyFormat = [{
    $state `,` $q `,` $k `,` $v `,` $beta (`token` `(` $token^ `)`)?
    (`decay` `(` $decay^ `:` type($decay) `)`)? `into` $out
    (`store_to` $store_to^ `[` $store_offset `]` `row_stride` `(`
     $store_row_stride `)` `:` type($store_to))?
    (`additive` $additive^)? (`scale` `=` $scale^)? attr-dict `:`
    type($state) `,` type($q) `,` type($k) `,` type($v) `,` type($beta) `,`
    type($out)
  }];
  let hasVerifier = 1;
}

def KDK_ChunkStateStoreOp : KDK_Op<"chunk_state_store"> {
  let summary = "dst = Diag(decay) S + K^T V, S a read-only shared state";
  let description = [{
    The state after a chunk of n tokens, written straight to global memory:
    dst[offset + r * row_stride + c] = decay[r] S[r, c] + sum_t keys[t, r]
    values[t, c], with decay the chunk's total decay, keys the tokens' keys
    decayed to the chunk's end and values the corrected values v'. S is a
    shared tile of any element type that keeps the old state; the threads
    split it as kdk.delta_step's shared form does (whole columns per warp,
    16-byte runs), each holding its columns' n values in registers, and the
    result is rounded once, at this store.

    A decode kernel with a few tokens per call (statically at most eight)
    runs them as one chunk: one product pass over the state on tensor cores
    (kdk.mma), the UT transform on n x n tiles, and this one update pass, so
    a 16-bit state is read and written once and never rounded in between.

    ```mlir
    kdk.chunk_state_store %state, %gT, %kl, %vnew to %final[%offset]
        row_stride(%c128) : memref<128x128xbf16, 3>, memref<128xf32, 3>,
        memref<4x128xf32, 3>, memref<4x128xf32, 3>, memref<?xbf16>
    ```
  }];
  let arguments = (ins Arg<KDK_Tile2D, "", [MemRead]>:$state, Arg<KDK_F32Tile1D, "", [MemRead]>:$decay,
                       Arg<KDK_F32Tile2D, "", [MemRead]>:$keys, Arg<KDK_F32Tile2D, "", [MemRead]>:$values,
                       Arg<KDK_Global, "", [MemWrite]>:$dst, Index:$offset, Index:$row_stride);
  let assemblyFormat = [{
    $state `,` $decay `,` $keys `,` $values `to` $dst `[` $offset `]`
    `row_stride` `(` $row_stride `)` attr-dict `:` type($state) `,`
    type($decay) `,` type($keys) `,` type($values) `,` type($dst)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// The backward's tile primitives (kda-grad-decompose's ops), on f32 tiles.
//===----------------------------------------------------------------------===//

def KDK_AddOp : KDK_Op<"add", [DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "out = a + b element-wise (matrices or vectors)";
  let description = [{
    a and b may be read in place from global memory (kdk.global_tile), as
    kda_bwd_gate_params adds each chunk's partial sums without staging
    them:

    ```mlir
    %share = kdk.global_tile %ws[%off] : memref<?xf32> -> memref<1x128xf32, strided<[128, 1]>>
    kdk.add %sum, %share into %sum : memref<1x128xf32, 3>, memref<1x128xf32, strided<[128, 1]>>, memref<1x128xf32, 3>
    ```
  }];
  let arguments = (ins Arg<KDK_F32Tile, "", [MemRead]>:$lhs, Arg<KDK_F32Tile, "", [MemRead]>:$rhs, Arg<KDK_F32Tile, "", [MemWrite]>:$out);
  let assemblyFormat = "$lhs `,` $rhs `into` $out attr-dict `:` type($lhs) `,` type($rhs) `,` type($out)";
  let hasVerifier = 1;
}

def KDK_MulOp : KDK_Op<"mul", [DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "out = scale * a * b element-wise (matrices or vectors)";
  let description = [{
    As kdk.add, a and b may be kdk.global_tile views.
  }];
  let arguments = (ins Arg<KDK_F32Tile, "", [MemRead]>:$lhs, Arg<KDK_F32Tile, "", [MemRead]>:$rhs, Arg<KDK_F32Tile, "", [MemWrite]>:$out,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let assemblyFormat = [{
    $lhs `,` $rhs `into` $out (`scale` `=` $scale^)? attr-dict `:` type($lhs)
    `,` type($rhs) `,` type($out)
  }];
  let hasVerifier = 1;
}

def KDK_RowDotOp : KDK_Op<"row_dot"> {
  let summary = "out[i] = sum_d a[i, d] b[i, d]";
  let description = [{
    One warp per row, reduced by shuffles:

    ```mlir
    kdk.row_dot %dkb, %kd into %dbeta : memref<16x128xf32, 3>,
        memref<16x128xf32, 3>, memref<16xf32, 3>
    ```
  }];
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$lhs, Arg<KDK_F32Tile2D, "", [MemRead]>:$rhs, Arg<KDK_F32Tile1D, "", [MemWrite]>:$out);
  let assemblyFormat = "$lhs `,` $rhs `into` $out attr-dict `:` type($lhs) `,` type($rhs) `,` type($out)";
  let hasVerifier = 1;
}

def KDK_ColumnSumOp : KDK_Op<"column_sum"> {
  let summary = "out[d] = sum_i x[i, d]";
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$input, Arg<KDK_F32Tile1D, "", [MemWrite]>:$out);
  let assemblyFormat = "$input `into` $out attr-dict `:` type($input) `,` type($out)";
  let hasVerifier = 1;
}

def KDK_AddToLastRowOp : KDK_Op<"add_to_last_row"> {
  let summary = "x[R-1, :] += r, in place";
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead, MemWrite]>:$tile, Arg<KDK_F32Tile1D, "", [MemRead]>:$row);
  let assemblyFormat = "$tile `,` $row attr-dict `:` type($tile) `,` type($row)";
  let hasVerifier = 1;
}

def KDK_TrilOp : KDK_Op<"tril", [DeclareOpInterfaceMethods<KDK_ElementwiseOpInterface>]> {
  let summary = "x = scale * x on the causal mask, 0 above it, in place";
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead, MemWrite]>:$tile,
                       KDA_CausalMask:$mask, DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let assemblyFormat = "$tile `mask` `=` $mask (`scale` `=` $scale^)? attr-dict `:` type($tile)";
  let hasVerifier = 1;
}

def KDK_DecayedGramGradOp : KDK_Op<"decayed_gram_grad", [AttrSizedOperandSegments]> {
  let summary = "kda.decayed_gram_grad: da, db, dgc (and dr) from dA";
  let description = [{
    For A[i,j] = s r_i sum_d a[i,d] b[j,d] exp(gc[i,d] - gc[j,d]) on the
    mask: da[i,d] = sum_j c_ij b[j,d] e_ijd, db[j,d] = sum_i c_ij a[i,d]
    e_ijd, dgc[i,d] = sum_j c_ij t_ijd - sum_j c_ji t_jid and dr[i] =
    s sum_j dA[i,j] sum_d a[i,d] b[j,d] e_ijd, with c_ij = s r_i dA[i,j],
    e_ijd = exp(gc[i,d] - gc[j,d]) and t_ijd = a[i,d] b[j,d] e_ijd. Each
    decay is formed per pair, as kdk.decayed_gram's direct form, so nothing
    overflows for any gate.

    `tensor_cores` (16 rows, depth a multiple of 8) forms da and db as two
    TF32 tensor-core products of the masked dA with factors anchored at row
    0, as kdk.decayed_gram's tensor-core form: valid under the same gate
    bound (kdk-select-products sets both).

    ```mlir
    kdk.decayed_gram_grad %dA, %k, %k, %gc row_scale(%beta : memref<16xf32, 3>)
        into %dk1, %dk2, %dgc drow_scale(%dbeta : memref<16xf32, 3>)
        mask = strict scale = 1.0 : memref<16x16xf32, 3>, memref<16x64xf32, 3>,
        ... (the k, gc and three gradient tiles)
    ```
  }];
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$dA, Arg<KDK_F32Tile2D, "", [MemRead]>:$lhs,
                       Arg<KDK_F32Tile2D, "", [MemRead]>:$rhs, Arg<KDK_F32Tile2D, "", [MemRead]>:$gc,
                       Arg<Optional<KDK_F32Tile1D>, "", [MemRead]>:$row_scale,
                       Arg<KDK_F32Tile2D, "", [MemWrite]>:$dlhs, Arg<KDK_F32Tile2D, "", [MemWrite]>:$drhs,
                       Arg<KDK_F32Tile2D, "", [MemWrite]>:$dgc,
                       Arg<Optional<KDK_F32Tile1D>, "", [MemWrite]>:$drow_scale,
                       KDA_CausalMask:$mask, F64Attr:$scale,
                       UnitAttr:$tensor_cores);
  let assemblyFormat = [{
    $dA `,` $lhs `,` $rhs `,` $gc (`row_scale` `(` $row_scale^ `:` type($row_scale) `)`)?
    `into` $dlhs `,` $drhs `,` $dgc (`drow_scale` `(` $drow_scale^ `:` type($drow_scale) `)`)?
    `mask` `=` $mask `scale` `=` $scale (`tensor_cores` $tensor_cores^)?
    attr-dict `:` type($dA) `,` type($lhs)
    `,` type($rhs) `,` type($gc) `,` type($dlhs) `,` type($drhs) `,` type($dgc)
  }];
  let hasVerifier = 1;
}

def KDK_RowSumOp : KDK_Op<"row_sum"> {
  let summary = "out[i] = sum_d x[i, d]";
  let description = [{
    A per-head gate's cotangent: the body differentiates the gate broadcast
    over K, so the head's gate gets the sum over the row.
  }];
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$input, Arg<KDK_F32Tile1D, "", [MemWrite]>:$out);
  let assemblyFormat = "$input `into` $out attr-dict `:` type($input) `,` type($out)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// The prologue's adjoints, in place on the cotangent tile.
//===----------------------------------------------------------------------===//

def KDK_L2NormRowsGradOp : KDK_Op<"l2norm_rows_grad"> {
  let summary = "dy = (dy - y (y . dy)) / n per row, y = x / n, n = sqrt(|x|^2 + 1e-6)";
  let description = [{
    The adjoint of kdk.l2norm_rows, from the raw rows `x`; linear in dy, so
    GVA may apply it per value head before the group sum:

    ```mlir
    kdk.l2norm_rows_grad %q, %dq : memref<16x64xf32, 3>, memref<16x64xf32, 3>
    ```
  }];
  let arguments = (ins Arg<KDK_F32Tile2D, "", [MemRead]>:$input, Arg<KDK_F32Tile2D, "", [MemRead, MemWrite]>:$grad);
  let assemblyFormat = "$input `,` $grad attr-dict `:` type($input) `,` type($grad)";
  let hasVerifier = 1;
}

def KDK_SigmoidGradOp : KDK_Op<"sigmoid_grad"> {
  let summary = "dy *= sigmoid(x) sigmoid(-x) on rows below `rows`, 0 past them";
  let arguments = (ins Arg<KDK_F32Tile, "", [MemRead]>:$input, Arg<KDK_F32Tile, "", [MemRead, MemWrite]>:$grad, Index:$rows);
  let assemblyFormat = "$input `,` $grad `rows` `(` $rows `)` attr-dict `:` type($input) `,` type($grad)";
  let hasVerifier = 1;
}

def KDK_GateActivationGradOp : KDK_Op<"gate_activation_grad", [AttrSizedOperandSegments]> {
  let summary = "the adjoint of kdk.gate_activation, in place on dy, with its parameters' partial sums";
  let description = [{
    From the raw gate `x` (value head `head`, rows below `rows`; rows past
    them get 0): dy becomes dx = dy dy/dx. `dt_bias_grad` receives the
    column sums of dx (this chunk's share of ddt_bias, one per column) and
    `A_log_grad` the column sums of dy dy/dA_log (summed over columns and
    chunks later, in a fixed order, so the result is deterministic). A
    per-head gate's tiles are vectors, and each partial has one element.

    ```mlir
    kdk.gate_activation_grad softplus %g, %dg head(%h) rows(%rows)
        A_log(%A_log : memref<?xf32>) dt_bias(%dt_bias : memref<?xf32>)
        into dt_bias_grad(%ddt : memref<64xf32, 3>) A_log_grad(%da : memref<64xf32, 3>)
        : memref<16x64xf32, 3>, memref<16x64xf32, 3>
    ```
  }];
  let arguments = (ins Arg<KDK_F32Tile, "", [MemRead]>:$input, Arg<KDK_F32Tile, "", [MemRead, MemWrite]>:$grad,
                       Index:$head, Index:$rows,
                       Arg<Optional<KDK_Global>, "", [MemRead]>:$A_log, Arg<Optional<KDK_Global>, "", [MemRead]>:$dt_bias,
                       Arg<Optional<KDK_F32Tile1D>, "", [MemWrite]>:$dt_bias_grad,
                       Arg<Optional<KDK_F32Tile1D>, "", [MemWrite]>:$A_log_grad,
                       KDA_GateActivation:$activation, OptionalAttr<F64Attr>:$lower_bound);
  let assemblyFormat = [{
    $activation $input `,` $grad `head` `(` $head `)` `rows` `(` $rows `)`
    (`A_log` `(` $A_log^ `:` type($A_log) `)`)?
    (`dt_bias` `(` $dt_bias^ `:` type($dt_bias) `)`)?
    (`into` `dt_bias_grad` `(` $dt_bias_grad^ `:` type($dt_bias_grad) `)`)?
    (`A_log_grad` `(` $A_log_grad^ `:` type($A_log_grad) `)`)?
    (`lower_bound` `=` $lower_bound^)? attr-dict `:` type($input) `,` type($grad)
  }];
  let hasVerifier = 1;
}

#endif // KDK_OPS_TD
