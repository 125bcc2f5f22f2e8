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
    `kdk.grid` (three extents: an integer, "chunk_slots", "sequences" or
    "batch"). Its arguments are flat global buffers (`memref<?xT>`), each
    naming what it binds to with `kdk.param` (a user tensor), `kdk.workspace`
    (with `kdk.bytes_per_slot`) or `kdk.size` ("T", "N", "B" or "S"). Tiles are
    memrefs in memory space 3 (shared memory) made by kdk.alloc_tile. Every
    tile op is executed by the whole thread block; kdk.barrier orders them.
  }];
  let cppNamespace = "::mlir::kdk";
  // The kernel attributes (grid, threads, argument bindings) are checked
  // here, so that the emitter only reads them.
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect"];
}

class KDK_Op<string mnemonic, list<Trait> traits = []>
    : Op<KDK_Dialect, mnemonic, traits>;

#endif // KDK_DIALECT_TD
