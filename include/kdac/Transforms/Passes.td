//===- Passes.td - kdac's passes on the kda dialect --------*- tablegen -*-===//
//
// Declares the passes that derive the chunkwise algorithm from
// kda.recurrence (DESIGN.md section 2). One pass per file under
// lib/Transforms; pipelines that chain them live in lib/Pipelines.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TRANSFORMS_PASSES_TD
#define KDAC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def KDAChunk : Pass<"kda-chunk", "::mlir::func::FuncOp"> {
  let summary = "Rewrite kda.recurrence into its chunkwise form";
  let description = [{
    Splits the fused prologue off as element-wise ops and replaces the
    token-by-token recurrence by a kda.chunk_loop whose body is the chunkwise
    algebra: gate cumsum, the decayed gram matrices Akk and Aqk, the UT
    inverse M = (I + Akk)^-1, the WY factors, v' = u - w S, the output and
    the state update. The additive (GLA-style) rule skips the UT/WY steps.
    kda.recurrence_grad becomes the same prologue, a kda.chunk_grad_loop
    whose forward region is that body (kda-chunk-adjoint derives its
    backward region), then kda.group_sum (GVA) and the prologue's adjoints
    (kda.l2norm_grad, kda.gate_activation_grad, kda.sigmoid_grad).

    Before:
    ```mlir
    %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%b) gate = channel
        update = delta qk_l2norm : (...) -> tensor<1x?x2x64xbf16>
    ```
    After (chunk-size=64):
    ```mlir
    %qn = kda.l2norm %q : tensor<1x?x2x64xbf16> -> tensor<1x?x2x64xf32>
    %kn = kda.l2norm %k : tensor<1x?x2x64xbf16> -> tensor<1x?x2x64xf32>
    %o = kda.chunk_loop q(%qn) k(%kn) v(%v) g(%g) beta(%b) chunk_size = 64
        gate = channel : (...) -> tensor<1x?x2x64xbf16> {
    ^bb0(%qc: tensor<64x64xf32>, %kc: ..., %vc: ..., %gch: ..., %bc: ..., %s: ...):
      %gc = kda.cumsum %gch : tensor<64x64xf32>
      %akk = kda.decayed_gram %kc, %kc, %gc row_scale(%bc : tensor<64xf32>) mask = strict ...
      %m = kda.ut_inverse %akk : tensor<64x64xf32>
      %w, %u = kda.wy %m, %kc, %vc, %gc, %bc : ...
      %vn = kda.state_apply %u, %w, %s : ...
      %aqk = kda.decayed_gram %qc, %kc, %gc mask = inclusive scale = 0.125 ...
      %oc = kda.output %qc, %gc, %s, %aqk, %vn scale = 0.125 : ...
      %s2 = kda.state_update %s, %kc, %gc, %vn : ...
      kda.yield %oc, %s2 : tensor<64x64xf32>, tensor<64x64xf32>
    }
    ```
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int64_t",
           /*default=*/"::kdac::kDefaultChunkSize",
           "Tokens per chunk (16, 32, 64 or 128)">
  ];
  let dependentDialects = ["::mlir::kda::KDADialect"];
}

def KDAChunkAdjoint : Pass<"kda-chunk-adjoint", "::mlir::func::FuncOp"> {
  let summary = "Derive the backward body of each kda.chunk_grad_loop";
  let description = [{
    Differentiates the loop's forward region (the chunk body kda-chunk
    builds) in reverse mode: its ops are recomputed in the backward region,
    then visited last to first, each emitting its adjoint op and adding the
    cotangents of its operands (kda.add where a value has several uses). The
    seeds are the chunk's do (for the output) and the leaving state's
    cotangent; kda.grad_yield returns the cotangents of the chunk's q, k, v,
    g, beta and entering state. Ops without an adjoint rule (such as the UT
    inverse's expanded forms) are an error: run this before kda-ut-expand.

    Before:
    ```mlir
    %dq, ... = kda.chunk_grad_loop q(%q) ... do(%do) chunk_size = 16
        gate = channel : (...) -> (...) forward {
    ^bb0(%qc: tensor<16x64xf32>, ..., %s: tensor<64x64xf32>):
      %gc = kda.cumsum %gch : tensor<16x64xf32>
      ...
      %s2 = kda.state_update %s, %kc, %gc, %vn : ...
      kda.yield %oc, %s2 : tensor<16x64xf32>, tensor<64x64xf32>
    } backward {
    }
    ```
    After:
    ```mlir
    ... forward { ... } backward {
    ^bb0(%qc: ..., %s: tensor<64x64xf32>, %doc: tensor<16x64xf32>,
         %ds: tensor<64x64xf32>):
      %gc = kda.cumsum %gch : tensor<16x64xf32>
      ...                                          (the forward, recomputed)
      %ds0, %dk0, %dgc0, %dvn0 = kda.state_update_grad %s, %kc, %gc, %vn, %ds
      %dq, %dgc1, %ds1, %daqk, %dvn1 = kda.output_grad %qc, %gc, %s, %aqk, %vn, %doc
          scale = 0.125 : ...
      %dvn = kda.add %dvn0, %dvn1 : tensor<16x64xf32>
      ...
      %dg = kda.reverse_cumsum %dgc : tensor<16x64xf32>
      kda.grad_yield %dq, %dk, %dv, %dg, %db, %dsin : ...
    }
    ```
  }];
  let dependentDialects = ["::mlir::kda::KDADialect"];
}

def KDAChunkGradSplit : Pass<"kda-chunk-grad-split", "::mlir::func::FuncOp"> {
  let summary = "Split each kda.chunk_grad_loop by its dependence on the state";
  let description = [{
    Only the entering states (a forward scan over the chunks) and their
    cotangents (a reverse scan) are sequential in a backward chunk loop;
    every chunk's input gradients follow from them independently. The loop
    becomes kda.chunk_states (its forward body), kda.chunk_state_grads (its
    backward body sliced to the entering state's cotangent: the other yields
    become zeros and what only fed them is erased) and kda.chunk_grad_map
    (the backward body sliced to dq, dk, dv, dg, dbeta), which pass
    per-chunk-slot states [slots, HV, K, V] between them: the structure of a
    GPU backward (two scans, one parallel kernel).

    Before:
    ```mlir
    %g:6 = kda.chunk_grad_loop q(%q) ... do(%do) dht(%dht) chunk_size = 16
        gate = channel : (...) -> (...) forward { ... } backward { ... }
    ```
    After:
    ```mlir
    %s = kda.chunk_states q(%q) ... chunk_size = 16 gate = channel
        : (...) -> tensor<?x2x64x64xf32> { ... }
    %ds, %dh0 = kda.chunk_state_grads q(%q) ... states(%s) do(%do) dht(%dht)
        chunk_size = 16 gate = channel : (...) -> (...) {
      ...
      kda.grad_yield %z0, %z1, %z2, %z3, %z4, %dsin : ...
    }
    %g:5 = kda.chunk_grad_map q(%q) ... states(%s) next_state_grads(%ds)
        do(%do) chunk_size = 16 gate = channel : (...) -> (...) {
      ...
      kda.grad_yield %dq, %dk, %dv, %dg, %db, %z : ...
    }
    ```
  }];
  let dependentDialects = ["::mlir::kda::KDADialect"];
}

def KDAGradDecompose : Pass<"kda-grad-decompose", "::mlir::func::FuncOp"> {
  let summary = "Spell the backward's compound chunk ops out as tile primitives";
  let description = [{
    Every adjoint op (and every compound forward op) in the bodies of the
    backward's chunk ops becomes the products and element-wise steps it is
    defined by: kda.matmul with transposes and a scale, kda.mul, kda.add,
    kda.sub, kda.row_dot, kda.column_sum, kda.add_to_last_row, kda.tril,
    kda.decay_rows, kda.scale_rows and kda.last_row_exp; one rewrite pattern
    per op. Each primitive is one kernel tile op, so the backward's kernels
    lower op for op. Results nothing reads fold away (the map's body keeps no
    state cotangent), and equal primitives are merged. Forward chunk loops
    are left as they are.

    Before:
    ```mlir
    %du, %dw, %ds = kda.state_apply_grad %w, %S, %dv
        : (tensor<16x64xf32>, tensor<64x64xf32>, tensor<16x64xf32>) -> (...)
    ```
    After (in kda.chunk_grad_map, where %ds has no reader):
    ```mlir
    %dw = kda.matmul %dv, %S transpose_rhs scale = -1.0
        : tensor<16x64xf32>, tensor<64x64xf32> -> tensor<16x64xf32>
    ```
  }];
  let dependentDialects = ["::mlir::kda::KDADialect"];
}

def KDAGradScanPrep : Pass<"kda-grad-scan-prep", "::mlir::func::FuncOp"> {
  let summary = "Move the backward scans' state-free work into a parallel kda.chunk_map";
  let description = [{
    The backward's scans (kda.chunk_states, kda.chunk_state_grads) visit a
    sequence's chunks in order, yet most of their bodies (the gate cumsum,
    the grams, the UT inverse, the WY factors) read only the chunk's q, k,
    v, g and beta. Those ops move into one kda.chunk_map that runs every
    chunk in parallel; the values the scans' remaining ops read of them
    become its results (named prepared0, prepared1, ...: the kernels'
    workspaces) and the scans' `prepared` operands, which each body receives
    per chunk after its usual arguments. A state-free value larger than
    C x max(K, V) elements (a K x V product) stays in the scan, recomputed
    from its operands: storing it per chunk would move as many bytes as the
    state. Equal ops of the two scans are computed once.

    Before:
    ```mlir
    %s = kda.chunk_states q(%q) k(%k) v(%v) g(%g) beta(%b) chunk_size = 16
        gate = channel : (...) -> tensor<?x2x32x32xf32> {
    ^bb0(%q: tensor<16x32xf32>, ..., %S: tensor<32x32xf32>):
      %gc = kda.cumsum %g : tensor<16x32xf32>
      ...
      %w = kda.matmul %A, %kb : ...           // reads no state
      %ws = kda.matmul %w, %S : ...           // reads the state
      ...
    }
    ```
    After:
    ```mlir
    %p:4 = kda.chunk_map q(%q) k(%k) v(%v) g(%g) beta(%b) chunk_size = 16
        gate = channel names = ["prepared0", ...] : (...) -> (...) {
      ...
      kda.map_yield %w, %u, %glast, %kg : ...
    }
    %s = kda.chunk_states q(%q) ... prepared(%p#0, %p#1, %p#2, %p#3) ... {
    ^bb0(..., %S: tensor<32x32xf32>, %w: tensor<16x32xf32>, ...):
      %ws = kda.matmul %w, %S : ...
      ...
    }
    ```
  }];
  let dependentDialects = ["::mlir::kda::KDADialect"];
}

def KDAChunkSplit : Pass<"kda-chunk-split", "::mlir::func::FuncOp"> {
  let summary = "Split each forward kda.chunk_loop at its dependence on the state";
  let description = [{
    A forward chunk loop is sequential only in the ops that read the carried
    state; the rest of its body is independent per chunk. The loop becomes
    kda.chunk_map (the independent ops, yielding what crosses, per chunk
    slot) and kda.chunk_scan (the state recurrence reading those tiles), the
    two kernels' structure. What crosses is chosen here and named (the
    workspace names): u and w of kda.state_apply; for kda.output qg = scale
    q exp(gc) and Aqk (kda.decayed_output in the scan); for kda.state_update
    kg = k exp(gc_last - gc) and glast = exp(gc_last)
    (kda.decayed_state_update); and v' as vnew when it does not read the
    state. A state-dependent op other than these three, or a state update
    that is not last, is a located error.

    Before:
    ```mlir
    %o, %s = kda.chunk_loop q(%q) k(%k) v(%v) g(%g) beta(%b) chunk_size = 16
        gate = channel : (...) -> (...) {
    ^bb0(%q0: tensor<16x64xf32>, ..., %S: tensor<64x64xf32>):
      ...
      %vn = kda.state_apply %u, %w, %S : ...
      %o0 = kda.output %q0, %gc, %S, %aqk, %vn scale = 1.250000e-01 : ...
      %S1 = kda.state_update %S, %k0, %gc, %vn : ...
      kda.yield %o0, %S1 : tensor<16x64xf32>, tensor<64x64xf32>
    }
    ```
    After:
    ```mlir
    %x:6 = kda.chunk_map q(%q) k(%k) v(%v) g(%g) beta(%b) chunk_size = 16
        gate = channel names = ["u", "w", "qg", "aqk", "kg", "glast"]
        : (...) -> (tensor<?x2x16x64xf32>, ...) {
      ...
      %qg = kda.decay_rows %q0, %gc scale = 1.250000e-01 : tensor<16x64xf32>
      %kg = kda.decay_rows %k0, %gc to_last : tensor<16x64xf32>
      %gl = kda.last_row_exp %gc : tensor<16x64xf32> -> tensor<64xf32>
      kda.map_yield %u, %w, %qg, %aqk, %kg, %gl : ...
    }
    %o, %s = kda.chunk_scan values(%x#0, ..., %x#5) like(%v) chunk_size = 16
        : (...) -> (...) {
    ^bb0(%u: tensor<16x64xf32>, ..., %S: tensor<64x64xf32>):
      %vn = kda.state_apply %u, %w, %S : ...
      %o0 = kda.decayed_output %qg, %S, %aqk, %vn : ...
      %S1 = kda.decayed_state_update %S, %kg, %gl, %vn : ...
      kda.yield %o0, %S1 : tensor<16x64xf32>, tensor<64x64xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::kda::KDADialect"];
}

def KDAUTExpand : Pass<"kda-ut-expand", "::mlir::func::FuncOp"> {
  let summary = "Expand the UT inverse (I + A)^-1 by a chosen method";
  let description = [{
    Replaces kda.ut_inverse by one of three constructions of the inverse of
    a unit lower-triangular matrix:
    - `forward-substitution`: one kda.forward_substitution (C sequential row
      updates);
    - `neumann` (C <= 16): the finite series sum_n (-A)^n as the product
      (I - A)(I + A^2)(I + A^4)..., log2(C) squarings; exact because A is
      nilpotent;
    - `blocked`: 16 x 16 diagonal blocks inverted by `diag-method`, then the
      off-diagonal blocks M_ij = -M_ii sum_{k=j}^{i-1} A_ik M_kj as small
      matrix products (tensor-core friendly).

    Before:
    ```mlir
    %m = kda.ut_inverse %a : tensor<16x16xf32>
    ```
    After (method=neumann):
    ```mlir
    %p0 = kda.add_identity %a negate : tensor<16x16xf32>
    %a2 = kda.matmul %a, %a : ... -> tensor<16x16xf32>
    %f1 = kda.add_identity %a2 : tensor<16x16xf32>
    %p1 = kda.matmul %p0, %f1 : ... -> tensor<16x16xf32>
    ...
    ```
  }];
  let options = [
    Option<"method", "method", "std::string", /*default=*/"\"blocked\"",
           "forward-substitution | neumann | blocked">,
    Option<"diagMethod", "diag-method", "std::string",
           /*default=*/"\"forward-substitution\"",
           "How blocked inverts its diagonal blocks: forward-substitution | neumann">,
    Option<"blockSize", "block-size", "int64_t", /*default=*/"16",
           "Diagonal block size of the blocked method">
  ];
}

def KDADecayAnchors : Pass<"kda-decay-anchors", "::mlir::func::FuncOp"> {
  let summary = "Evaluate decayed gram matrices with sub-chunk anchors";
  let description = [{
    The gram matrices need exp(gc_i - gc_j); a matrix-product evaluation
    would factor it as exp(gc_i) * exp(-gc_j), which overflows fp32 once a
    chunk's cumulative log-decay passes about -88. This pass marks every
    kda.decayed_gram to split the factor at the cumsum just before each
    `block`-token sub-chunk instead: off-diagonal blocks become products of
    factors bounded by 1, diagonal blocks stay element-wise.

    Before:
    ```mlir
    %a = kda.decayed_gram %k, %k, %gc mask = strict : tensor<64x128xf32> -> tensor<64x64xf32>
    ```
    After (block=16):
    ```mlir
    %a = kda.decayed_gram %k, %k, %gc mask = strict anchor_block = 16 : tensor<64x128xf32> -> tensor<64x64xf32>
    ```
  }];
  let options = [
    Option<"block", "block", "int64_t", /*default=*/"16",
           "Sub-chunk length between anchors">
  ];
}

def KDKAllocateSharedMemory : Pass<"kdk-allocate-shared-memory",
                                   "::mlir::ModuleOp"> {
  let summary = "Place every shared kdk tile of each kernel in its dynamic shared memory";
  let description = [{
    A kdk tile lives for its whole kernel (a lowering that reuses storage
    hands out the same tile again), so each kernel's shared tiles are laid
    out end to end in program order, each at a multiple of
    kSharedTileAlignment (128 bytes). The pass writes each tile's `offset`
    and the kernel's kdk.shared_memory_bytes, which the kdk verifier checks
    (every tile placed, inside the total, no two overlapping) and the CUDA
    emitter only prints; a kernel over `smem-limit` is an error naming it.
    Register fragments (memory space 5) take no shared memory.

    Before:
    ```mlir
    func.func @k() attributes {kdk.kernel, ...} {
      %a = kdk.alloc_tile : memref<16x68xf32, 3>
      %s = kdk.alloc_tile : memref<64x32xf32, #kdk.mma_fragment>
      %b = kdk.alloc_tile : memref<16xf32, 3>
      ...
    }
    ```
    After:
    ```mlir
    func.func @k() attributes {kdk.kernel, kdk.shared_memory_bytes = 4480 : i64, ...} {
      %a = kdk.alloc_tile {offset = 0 : i64} : memref<16x68xf32, 3>
      %s = kdk.alloc_tile : memref<64x32xf32, #kdk.mma_fragment>
      %b = kdk.alloc_tile {offset = 4352 : i64} : memref<16xf32, 3>
      ...
    }
    ```
  }];
  let options = [
    Option<"sharedMemoryLimit", "smem-limit", "int64_t",
           /*default=*/"::kdac::limits::kMaxSharedMemoryBytes",
           "Largest dynamic shared memory per block, bytes (227 KiB on sm_90)">
  ];
  let dependentDialects = ["::mlir::kdk::KDKDialect"];
}

def KDKAttachTarget : Pass<"kdk-attach-target", "::mlir::ModuleOp"> {
  let summary = "Put the code-generation target and its limits on the module";
  let description = [{
    Sets the module's `kdk.target` to the #kdk.target of `arch` with the
    per-block limits of kdac's target table (Limits.h kTargets), replacing
    any there. convert-kda-to-kdk, convert-kda-recurrence-to-kdk and
    kdk-allocate-shared-memory plan against the module's target (capping
    their smem-limit options, which default to the largest target's), so a
    kernel over sm_80's
    163 KiB is refused when it is compiled, not when an A100 loads it. kdac
    and the JIT attach their spec's target when they build the module.

    Before:
    ```mlir
    module {
      func.func @kda_forward(...) { ... }
    }
    ```
    After (arch=sm_80):
    ```mlir
    module attributes {kdk.target = #kdk.target<"sm_80", shared_memory = 166912, registers = 255>} {
      func.func @kda_forward(...) { ... }
    }
    ```
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_90a\"",
           "Target architecture: sm_90a | sm_80">
  ];
  let dependentDialects = ["::mlir::kdk::KDKDialect"];
}

def KDKSelectProducts : Pass<"kdk-select-products", "::mlir::ModuleOp"> {
  let summary = "Choose how each kernel's f32 shared-tile products multiply";
  let description = [{
    A kdk.mma of two f32 shared tiles runs f32 FMAs unless it is marked
    `tf32`: operands rounded to tf32 on tensor cores (mma.sync m16n8k8,
    sm_80 and later, every target kdac has), about an order of magnitude
    more products per cycle. With `f32-products=auto` a kernel's products
    become tf32 when its `q` parameter is bf16 or f16: such inputs carry 8
    or 11 significant bits, which tf32 keeps, so the rounding costs the
    16-bit gradients nothing they had; f32 specs keep f32 accuracy. `tf32`
    and `fma` force the choice. Only products whose shape suits the
    instruction (M a multiple of 16, N and the inner dimension of 8) are
    marked. kdac runs it on the backward's kernels (--grad-products).

    A kernel with tf32 products whose `kdk.decay_bound` (the largest
    per-token log-decay its gate can produce, set by the lowering for a
    lowerbound gate) is at most 5 also marks its f32 decayed grams, and
    their 16-row adjoints (kdk.decayed_gram_grad), `tensor_cores`: the
    factored form's column factors then stay below e^75, finite in f32.
    `fma` clears the mark; an unbounded gate leaves the lowering's (direct)
    form.

    `gram-products` makes the grams' choice apart from the other products'
    (unset: the same). The grams between two barriers run at once, one warp
    per 16 x 8 block of a tensor-core gram's output, so each one's
    `first_warp` starts after the blocks of the one before it. kdac runs the
    pass on the forward's kernels with `f32-products=fma gram-products=auto`
    (their other f32 products stay on FMAs) and on the backward's with
    --grad-products for both.
  }];
  let options = [
    Option<"f32Products", "f32-products", "std::string", /*default=*/"\"auto\"",
           "fma (f32 accuracy) | tf32 (tensor cores, operands rounded to "
           "tf32) | auto (tf32 in kernels whose q is 16-bit)">,
    Option<"gramProducts", "gram-products", "std::string", /*default=*/"\"\"",
           "The decayed grams' products, chosen apart: fma | tf32 | auto "
           "(unset: as f32-products)">
  ];
  let dependentDialects = ["::mlir::kdk::KDKDialect"];
}

def KDKThinBarriers : Pass<"kdk-thin-barriers", "::mlir::ModuleOp"> {
  let summary = "Drop the barriers of each kernel that order no conflicting accesses";
  let description = [{
    Keeps a kdk.barrier only where an op after it (up to the next barrier)
    reads a shared range or global buffer that an op since the last kept
    barrier wrote, or writes one that such an op read or wrote, judged from
    the ops' declared memory effects. Shared tiles compare by their element
    ranges inside one kdk.alloc_tile (from the subview's strided layout);
    two element-wise ops (kdk::ElementwiseOpInterface) that touch a tile
    through views of one type reach each element of it from the same
    thread, so they never conflict on it (a chain kdk.mul, kdk.add,
    kdk.decay_rows needs no barrier); register fragments never conflict;
    ops with regions, undeclared effects
    or untraceable operands touch everything, and a loop body's last
    barrier always stays. kdac runs it on the backward's kernels, whose
    tile programs put a barrier after every op (--thin-barriers).

    Before:
    ```mlir
    kdk.mma %a, %b into %c : ...
    kdk.barrier
    kdk.mma %a, %d into %e : ...   // reads a and d, writes e: no conflict
    kdk.barrier
    kdk.add %c, %e into %f : ...   // reads c and e
    ```
    After:
    ```mlir
    kdk.mma %a, %b into %c : ...
    kdk.mma %a, %d into %e : ...
    kdk.barrier
    kdk.add %c, %e into %f : ...
    ```
  }];
  let dependentDialects = ["::mlir::kdk::KDKDialect", "::mlir::memref::MemRefDialect"];
}

#endif // KDAC_TRANSFORMS_PASSES_TD
