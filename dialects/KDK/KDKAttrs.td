//===- KDKAttrs.td - Attributes of the kdk dialect ---------*- tablegen -*-===//
//
// #kdk.target: what the code-generation target allows a kernel, carried on
// the module so that every pass reads the limits from the IR instead of
// from constants in code. #kdk.grid and the argument bindings (#kdk.tensor,
// #kdk.workspace, #kdk.size): a kernel's launch geometry and what each of
// its arguments binds, typed and verified where they are parsed, so that the
// emitter reads fields instead of parsing strings back.
//
//===----------------------------------------------------------------------===//
#ifndef KDK_ATTRS_TD
#define KDK_ATTRS_TD

include "KDKDialect.td"
include "mlir/IR/AttrTypeBase.td"

def KDK_TargetAttr : AttrDef<KDK_Dialect, "Target"> {
  let mnemonic = "target";
  let summary = "a code-generation target and its per-block limits";
  let description = [{
    The target a module's kernels are generated for, as the module attribute
    `kdk.target`: its architecture (one of kdac's targets, Limits.h
    kTargets) and what one thread block may use there. The conversions plan
    shared memory against `shared_memory`, and kdk-allocate-shared-memory
    checks every kernel against it. kdk-attach-target writes it from the
    table; a hand-written one may ask for less than the hardware allows,
    never more.

    ```mlir
    module attributes {kdk.target = #kdk.target<"sm_80", shared_memory = 166912, registers = 255>} {
    }
    ```
  }];
  let parameters = (ins StringRefParameter<"the architecture">:$arch,
                        "int64_t":$sharedMemory, "int64_t":$registers);
  let assemblyFormat = [{
    `<` $arch `,` `shared_memory` `=` $sharedMemory `,` `registers` `=`
    $registers `>`
  }];
  let genVerifyDecl = 1;
}

def KDK_GridAttr : AttrDef<KDK_Dialect, "Grid"> {
  let mnemonic = "grid";
  let summary = "a kernel's grid: three extents, constant or per launch";
  let description = [{
    The `kdk.grid` of a kernel: its x, y and z extents, each a positive
    integer or one known only at launch: `chunk_slots` (one block per chunk
    of every sequence), `sequences` (one per sequence: B, or N with varlen)
    or `batch` (B).

    ```mlir
    func.func @k(...) attributes {kdk.kernel, kdk.grid = #kdk.grid<chunk_slots, 16, 1>, ...}
    ```
  }];
  let parameters = (ins ArrayRefParameter<"int64_t", "the extents: a "
                        "count, or kChunkSlots / kSequences / kBatch">:$extents);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The launch-time extents, stored as these negative codes.
    static constexpr int64_t kChunkSlots = -1;
    static constexpr int64_t kSequences = -2;
    static constexpr int64_t kBatch = -3;
    /// The launch-time extent named `name`, if it is one.
    static std::optional<int64_t> launchExtent(::llvm::StringRef name);
    /// The name of a launch-time extent code ("" for a count).
    static ::llvm::StringRef extentName(int64_t extent);
  }];
}

def KDK_TensorArgAttr : AttrDef<KDK_Dialect, "TensorArg"> {
  let mnemonic = "tensor";
  let summary = "a kernel argument bound to one of the launch's tensors";
  let description = [{
    As a kernel argument's `kdk.arg`: the argument is the tensor of that name
    in the launch ABI (KernelSpec.h kTensorNames), a memref<?xT> in global
    memory.

    ```mlir
    %q: memref<?xbf16> {kdk.arg = #kdk.tensor<"q">}
    ```
  }];
  let parameters = (ins StringRefParameter<"a KDA tensor name">:$name);
  let assemblyFormat = "`<` $name `>`";
  let genVerifyDecl = 1;
}

def KDK_WorkspaceArgAttr : AttrDef<KDK_Dialect, "WorkspaceArg"> {
  let mnemonic = "workspace";
  let summary = "a kernel argument bound to a per-chunk-slot workspace";
  let description = [{
    As a kernel argument's `kdk.arg`: a workspace the launch allocates,
    `bytes_per_slot` bytes for each chunk slot, and which every kernel of the
    module naming it shares (so they must agree on the size).

    ```mlir
    %u: memref<?xf32> {kdk.arg = #kdk.workspace<"u", bytes_per_slot = 131072>}
    ```
  }];
  let parameters = (ins StringRefParameter<"the workspace's name">:$name,
                        "int64_t":$bytesPerSlot);
  let assemblyFormat = [{
    `<` $name `,` `bytes_per_slot` `=` $bytesPerSlot `>`
  }];
  let genVerifyDecl = 1;
}

def KDK_SizeArgAttr : AttrDef<KDK_Dialect, "SizeArg"> {
  let mnemonic = "size";
  let summary = "a kernel argument bound to a launch-time size";
  let description = [{
    As a kernel argument's `kdk.arg`: an index the launch passes: `T`, `N`
    (sequences), `B`, `S` (state-index columns) or `chunk_slots`.

    ```mlir
    %T: index {kdk.arg = #kdk.size<"T">}
    ```
  }];
  let parameters = (ins StringRefParameter<"the size's name">:$name);
  let assemblyFormat = "`<` $name `>`";
  let genVerifyDecl = 1;
}

def KDK_FragmentLayoutAttr : AttrDef<KDK_Dialect, "FragmentLayout"> {
  let mnemonic = "fragment";
  let summary = "a register fragment spread over the block in runs";
  let description = [{
    As a tile type's memory space: the tile lives in registers, each thread
    holding its share (kdac_fragment.cuh). Along `axis` (1 columns, 0 rows:
    the one contiguous in global memory) a thread holds runs of `vector`
    elements, `lanes` adjacent lanes hold adjacent runs, and each warp owns
    whole columns. A 16-bit fragment keeps two elements per register.

    ```mlir
    %state = kdk.alloc_tile : memref<128x128xf32, #kdk.fragment<1, 4, 8>>
    ```
  }];
  let parameters = (ins "int64_t":$axis, "int64_t":$vector, "int64_t":$lanes);
  let assemblyFormat = "`<` $axis `,` $vector `,` $lanes `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Why a `rows` x `cols` tile of `elementBits`-bit elements cannot be
    /// spread this way over `threads` threads (0: over one warp only);
    /// empty when it can. The rule kdac::FragmentLayout asserts.
    std::string spreadProblem(int64_t rows, int64_t cols, int64_t elementBits,
                              int64_t threads) const;
  }];
}

def KDK_MmaFragmentAttr : AttrDef<KDK_Dialect, "MmaFragment"> {
  let mnemonic = "mma_fragment";
  let summary = "a register fragment in tensor-core accumulator layout";
  let description = [{
    As a tile type's memory space: an f32 tile in tensor-core accumulator
    registers, transposed (kdac_mma_fragment.cuh): the columns are the mma
    M dimension, split over the warps in 16-column tiles, and the rows (a
    multiple of 16) the N dimension. It can be both B and out of kdk.mma
    with a shared bf16/f16 A, so the chunked recurrence multiplies straight
    from registers.

    ```mlir
    %state = kdk.alloc_tile : memref<128x64xf32, #kdk.mma_fragment>
    ```
  }];
  let extraClassDeclaration = [{
    /// Why an `element` `rows` x `cols` tile cannot be held this way over
    /// `threads` threads (0: any block); empty when it can.
    static std::string holdProblem(int64_t rows, int64_t cols,
                                   ::mlir::Type element, int64_t threads);
  }];
}

#endif // KDK_ATTRS_TD
