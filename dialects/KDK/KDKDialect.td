//===- KDKDialect.td - The kdk kernel-level dialect --------*- tablegen -*-===//
//
// `kdk` states a KDA kernel at the level of a CUDA thread block: launch
// geometry, shared-memory tiles, tile loads and stores with explicit address
// arithmetic, and block-cooperative tile math (tensor-core products, the UT
// inverse, decays). The CUDA emitter maps each op to one device-library call.
//
//===----------------------------------------------------------------------===//
#ifndef KDK_DIALECT_TD
#define KDK_DIALECT_TD

include "mlir/IR/OpBase.td"

def KDK_Dialect : Dialect {
  let name = "kdk";
  let summary = "KDA kernels at the thread-block level";
  let description = [{
    A kernel is a `func.func` carrying `kdk.kernel`, `kdk.block_threads` and
    `kdk.grid` (a #kdk.grid of three extents: an integer, chunk_slots,
    sequences or batch). Each argument's `kdk.arg` says what it binds: a
    user tensor (#kdk.tensor, a flat global buffer `memref<?xT>`), a
    workspace (#kdk.workspace, with its bytes per chunk slot) or a size
    (#kdk.size: T, N, B, S or chunk_slots, an index). Tiles are
    memrefs in memory space 3 (shared memory) made by kdk.alloc_tile. Every
    tile op is executed by the whole thread block; kdk.barrier orders them.
  }];
  let cppNamespace = "::mlir::kdk";
  // The kernel attributes (grid, threads, argument bindings) are checked
  // here, so that the emitter only reads them.
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    /// Adds the #kdk attributes (KDKAttrs.cpp, where they are defined).
    void registerAttributes();
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect"];
}

// Every kdk op checks its tile operands (kdk::verifyTileOperands); those
// with a register-fragment form say so with KDK_FragmentOperands.
def KDK_TileOperands : NativeOpTrait<"TileOperands"> {
  let cppNamespace = "::mlir::kdk";
}
def KDK_FragmentOperands : NativeOpTrait<"FragmentOperands"> {
  let cppNamespace = "::mlir::kdk";
}

class KDK_Op<string mnemonic, list<Trait> traits = []>
    : Op<KDK_Dialect, mnemonic, !listconcat(traits, [KDK_TileOperands])>;

#endif // KDK_DIALECT_TD
