//===- Passes.td - kdac's dialect conversions --------------*- tablegen -*-===//
//
// Conversions between kdac's dialects, named convert-<src>-to-<dst>.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_CONVERSION_PASSES_TD
#define KDAC_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertKDAToKDK : Pass<"convert-kda-to-kdk", "::mlir::ModuleOp"> {
  let summary = "Lower the chunkwise kda form to thread-block kernels (kdk)";
  let description = [{
    Lowers the chunk loop as kda-chunk-split cut it. kda.chunk_map (the
    fused prologue, cumsum, gram matrices, UT inverse, WY factors) becomes a
    chunk-parallel kernel over (chunk slots, value heads) that stores each
    of the map's results to the workspace its name says (the decays folded
    into qg, kg and glast are done by the stores); kda.chunk_scan
    (state_apply, decayed_output, decayed_state_update) becomes a recurrence
    kernel over (V tiles, value heads, sequences) that walks the chunks of
    its sequence with the state on chip. A scan operand that is not the
    workspace its role needs, by name and shape, is a located error.
    Tiles live in shared memory; products of bf16/f16 data run on tensor
    cores, f32 data keeps f32 FMAs. With bf16/f16 operands the recurrence
    kernel keeps the state, v' and o in tensor-core accumulators
    (a #kdk.mma_fragment tile, one 16-column V tile per warp) and loads
    the next chunk's tiles with cp.async while it computes the current one;
    for bounded (lowerbound) gates the grams run on tensor cores.
    The chunk-parallel kernel runs its ops in phases between barriers: each
    op joins the first phase after its operands were written, so independent
    ops (the two grams, the decays of q and k) share a barrier, and a tile is
    handed out again only after the barrier that ends its last read.

    Before:
    ```mlir
    func.func @kda_forward(...) {
      %x:6 = kda.chunk_map q(%q) ... chunk_size = 64 gate = channel
          names = ["u", "w", "qg", "aqk", "kg", "glast"] : ... { ... }
      %o = kda.chunk_scan values(%x#0, ...) like(%v) chunk_size = 64 : ... {
        ...
        %vn = kda.state_apply %u, %w, %s : ...
        ...
      }
    }
    ```
    After:
    ```mlir
    func.func @kda_chunk_prep(%q: memref<?xbf16> {kdk.arg = #kdk.tensor<"q">}, ...,
        %w: memref<?xbf16> {kdk.arg = #kdk.workspace<"w", bytes_per_slot = ...>})
        attributes {kdk.kernel, kdk.block_threads = 256, kdk.grid = #kdk.grid<chunk_slots, 2, 1>} {
      %slot = kdk.block_id 0
      ...
      kdk.mma %m, %kb into %wt : ...
      kdk.store_tile %wt into %w[%off] rows(%c64) row_stride(%c128) col_stride = 1 : ...
    }
    func.func @kda_chunk_recurrence(...) attributes {kdk.kernel, ...,
        kdk.grid = #kdk.grid<2, 2, sequences>} {
      scf.for %c = %c0 to %chunks step %c1 { ... }
    }
    ```
  }];
  let options = [
    Option<"blockThreads", "block-threads", "int64_t", /*default=*/"256",
           "Threads per block of every kernel">,
    Option<"recurrenceBlockThreads", "recurrence-block-threads", "int64_t",
           /*default=*/"0",
           "Threads per block of the recurrence kernel (0: block-threads)">,
    Option<"valueTile", "v-tile", "int64_t", /*default=*/"64",
           "Columns of V one recurrence block owns (0: all of V)">,
    Option<"sharedMemoryLimit", "smem-limit", "int64_t",
           /*default=*/"::kdac::limits::kMaxSharedMemoryBytes",
           "Largest dynamic shared memory per block, bytes (227 KiB on sm_90)">
  ];
  let dependentDialects = ["::mlir::kdk::KDKDialect", "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect"];
}

def ConvertKDAGradToKDK : Pass<"convert-kda-grad-to-kdk", "::mlir::ModuleOp"> {
  let summary = "Lower the split, decomposed backward to its kdk kernels";
  let description = [{
    Takes the backward after kda-chunk-grad-split and kda-grad-decompose: a
    kda.chunk_states, a kda.chunk_state_grads and a kda.chunk_grad_map whose
    bodies hold tile primitives only. Each primitive a kept value needs
    becomes one kdk op on f32 shared tiles, a barrier after each, in an order
    chosen to keep few tiles alive (tiles reused after their last reader,
    dead K x V tiles split into C x K row blocks, element-wise ops in a
    dying operand's tile, add(x, matmul) as an accumulating kdk.mma), in
    three kernels that exchange per-chunk-slot K x V states
    through the workspaces `states` and `next_state_grads`:
    kda_bwd_states (one block per value head and sequence, the chunks in
    order, storing each chunk's entering state), kda_bwd_state_grads (the
    chunks in reverse, storing each chunk's dS' and writing dh0) and
    kda_bwd_map (one block per chunk slot and value head, writing the rows
    of dq, dk, dv, dg and dbeta). Each kernel recomputes the forward's fused
    prologue (kda.l2norm, gate_activation, sigmoid) on the raw tiles it
    loads, and kda_bwd_map applies the adjoints the function's results go
    through (kda.l2norm_grad, gate_activation_grad, sigmoid_grad, a per-head
    gate's row sum) in place before it stores. What sums over blocks is a
    kernel of its own, adding per-block shares from a workspace in a fixed
    order: kda_bwd_group_sum (GVA's kda.group_sum of dq and dk) and
    kda_bwd_gate_params (dA_log and ddt_bias over every chunk). An adjoint
    that does not differentiate the forward's prologue is refused.
    With scan-v-tile, each scan whose body computes every column of its
    V-wide values (v, the state, do, the state's cotangent) from that column
    alone -- element-wise ops among them, row scales, products taking one as
    B -- runs V / scan-v-tile blocks per (sequence, value head), each owning
    a column block: the scans, one block per (sequence, head) otherwise,
    fill more of the GPU. A body that mixes columns keeps all of V.
    When the scans read prepared values (kda-grad-scan-prep), their
    kda.chunk_map becomes kda_bwd_prep, launched first: one block per chunk
    slot and value head, storing each result to the workspace of its name;
    the scans load their chunk's tiles of them (their columns of a V-wide
    one when split) instead of computing them. map-block-threads and
    prep-block-threads set the block sizes of kda_bwd_map and kda_bwd_prep;
    scan-blocks-per-sm asks the
    scans to fit that many blocks on an SM (kdk.min_blocks_per_sm, which
    bounds their registers per thread). With map-states-in-place
    the map's products and row dots read S and dS where the scans stored
    them (kdk.global_tile views of the workspaces, through L2) instead of
    shared copies: two K x V f32 tiles less per block, so that more blocks
    fit on an SM.

    Before:
    ```mlir
    %s = kda.chunk_states q(%q) ... chunk_size = 16 gate = channel { ... }
    %ds = kda.chunk_state_grads ... states(%s) do(%do) ... { ... }
    %g:5 = kda.chunk_grad_map ... states(%s) next_state_grads(%ds) ... { ... }
    return %g#0, %g#1, %g#2, %g#3, %g#4 : ...
    ```
    After:
    ```mlir
    func.func @kda_bwd_states(...) attributes {kdk.kernel,
        kdk.grid = #kdk.grid<1, 2, sequences>} { scf.for ... }
    func.func @kda_bwd_state_grads(...) attributes {kdk.kernel, ...}
    func.func @kda_bwd_map(...) attributes {kdk.kernel,
        kdk.grid = #kdk.grid<chunk_slots, 2, 1>} { ... }
    ```
  }];
  let options = [
    Option<"blockThreads", "block-threads", "int64_t", /*default=*/"256",
           "Threads per block of every kernel">,
    Option<"sharedMemoryLimit", "smem-limit", "int64_t",
           /*default=*/"::kdac::limits::kMaxSharedMemoryBytes",
           "Largest dynamic shared memory per block, bytes (227 KiB on sm_90)">,
    Option<"scanValueTile", "scan-v-tile", "int64_t", /*default=*/"0",
           "Columns of V one block of each scan owns, when it divides V and "
           "the scan's body is separable by columns (0: all of V)">,
    Option<"mapBlockThreads", "map-block-threads", "int64_t", /*default=*/"0",
           "Threads per block of kda_bwd_map (0: block-threads)">,
    Option<"prepBlockThreads", "prep-block-threads", "int64_t",
           /*default=*/"0",
           "Threads per block of kda_bwd_prep (0: block-threads)">,
    Option<"scanBlocksPerSM", "scan-blocks-per-sm", "int64_t",
           /*default=*/"0",
           "Blocks of each scan that must fit on one SM at once "
           "(kdk.min_blocks_per_sm; 0: no bound)">,
    Option<"mapStatesInPlace", "map-states-in-place", "bool",
           /*default=*/"false",
           "kda_bwd_map reads the state and its cotangent in place from their "
           "workspaces (kdk.global_tile) instead of from shared copies">
  ];
  let dependentDialects = ["::mlir::kdk::KDKDialect", "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect"];
}

def ConvertKDARecurrenceToKDK : Pass<"convert-kda-recurrence-to-kdk",
                                     "::mlir::ModuleOp"> {
  let summary = "Lower kda.recurrence token by token (decode) to a kdk kernel";
  let description = [{
    For a few tokens per sequence the cost is the state's traffic, not the
    arithmetic: one thread block per (V tile, value head, sequence) loads its
    K x Vt slice of the state into a register fragment once (each warp owning
    whole columns, runs of up to 16 bytes along the contiguous axis; a 16-bit
    kv state of a one-token call stays packed, two elements per register),
    runs each token as the fused prologue and one kdk.delta_step (kS and qS
    in one pass with exp(g) folded into k and q, v' = beta (v - kS),
    o = scale (qS + (q.k) v'), then S = Diag(exp(g)) S + k v'^T in one
    pass), and stores the state once. With state_indices the slice comes
    from and goes back to the pool slots they name (a negative start slot
    skips the block), per token for [N, S] indices. With token_records the
    tokens run as the chunk form below on a shared state that is only read,
    and each token's k, g and v' go to the records instead (see
    convert-kda-commit-to-kdk).

    `state-in=shared` streams the slice through shared memory instead: it
    is copied in by cp.async while the block computes the token's
    prologue, kdk.delta_step updates it in place, and a plain copy writes
    it back. Holding no state in registers, a block needs a third of them
    and twice as many blocks share an SM, so their state reads overlap each
    other's arithmetic. `auto` (the default) streams a 16-bit kv state of a
    one-token call, whose tile keeps the storage type and whose update
    pass writes the new state straight out (kdk.delta_step store_to), and
    keeps every other state in registers. bench/RESULTS.md: 0.93 of the
    bytes floor for a bf16 state at B=256 on the H100 (0.82 with the packed
    register fragment).

    Before:
    ```mlir
    %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%b) initial_state(%s0)
        gate = channel update = delta : (...) -> (...)
    ```
    After:
    ```mlir
    func.func @kda_recurrent(...) attributes {kdk.kernel,
        kdk.grid = #kdk.grid<1, 32, sequences>, ...} {
      scf.for %t = %c0 to %len step %c1 {
        kdk.load_tile %q[...] rows(%c1) ... into %qt : ...
        kdk.last_row_exp %gt into %decay : ...
        kdk.barrier
        kdk.delta_step %state, %qt, %kt, %vt, %bt decay(%decay : ...)
            into %ot scale = 0.088388 : memref<128x128xf32, #kdk.fragment<1, 4, 8>>, ...
        kdk.barrier
        kdk.store_tile %ot into %o[...] ...
      }
    }
    ```
  }];
  let options = [
    Option<"blockThreads", "block-threads", "int64_t", /*default=*/"128",
           "Most threads per block (whole warps, each owning whole columns "
           "of the state fragment)">,
    Option<"valueTile", "v-tile", "int64_t", /*default=*/"0",
           "Columns of V one block owns (0: chosen for the state fragment)">,
    Option<"stateIn", "state-in", "std::string", /*default=*/"\"auto\"",
           "Where a block keeps its state slice: registers | shared | auto">,
    Option<"sharedMemoryLimit", "smem-limit", "int64_t",
           /*default=*/"::kdac::limits::kMaxSharedMemoryBytes",
           "Largest dynamic shared memory per block, bytes">
  ];
  let dependentDialects = ["::mlir::kdk::KDKDialect", "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect"];
}

def ConvertKDACommitToKDK : Pass<"convert-kda-commit-to-kdk",
                                  "::mlir::ModuleOp"> {
  let summary = "Lower kda.commit_records to a kdk kernel that rebuilds each "
                "sequence's state after its accepted prefix";
  let description = [{
    A decode call with token records reads each slot and writes, per token,
    k, g and v' (kda.recurrence token_records). Once the engine has checked
    the drafts, the accepted prefix p of each sequence is replayed in one
    pass: one block per (V tile, value head, sequence) copies its slice of
    the slot into shared memory by cp.async, loads the first p records
    (rows past p as zeros, so they add nothing and leave the log-decay's
    running sum at the prefix's end), decays the keys to the prefix's end
    and writes Diag(G_p) S + (k G_p / G)^T v' straight back to the slot
    (kdk.chunk_state_store, as the decode chunk form does). A negative slot
    or p = 0 leaves the slot untouched.

    Before:
    ```mlir
    %p2 = kda.commit_records pool(%p) state_indices(%i) num_accepted(%a)
        records(%r) : (...) -> tensor<?x32x128x128xbf16>
    ```
    After:
    ```mlir
    func.func @kda_commit(...) attributes {kdk.kernel,
        kdk.grid = #kdk.grid<1, 32, sequences>, ...} {
      scf.if %keeps {
        kdk.load_tile %pool[%slot] ... into %state async : ...
        kdk.load_tile %records[%row] rows(%kept) ... into %keys : ...
        kdk.cumsum_rows %gate : ...
        kdk.decay_rows %keys, %gate into %keysToEnd to_end : ...
        kdk.wait_async
        kdk.barrier
        kdk.chunk_state_store %state, %decay, %keysToEnd, %v into %pool[%slot] ...
      }
    }
    ```
  }];
  let options = [
    Option<"blockThreads", "block-threads", "int64_t", /*default=*/"128",
           "Most threads per block (whole warps)">,
    Option<"valueTile", "v-tile", "int64_t", /*default=*/"0",
           "Columns of V one block owns (0: a slice of at most 32 KB)">,
    Option<"sharedMemoryLimit", "smem-limit", "int64_t",
           /*default=*/"::kdac::limits::kMaxSharedMemoryBytes",
           "Largest dynamic shared memory per block, bytes">
  ];
  let dependentDialects = ["::mlir::kdk::KDKDialect", "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect"];
}

#endif // KDAC_CONVERSION_PASSES_TD
