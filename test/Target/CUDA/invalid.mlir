// RUN: kdac-translate %s --kdk-to-cuda --split-input-file --verify-diagnostics

// The emitter fails loudly, at the op, on anything it cannot express: ops
// and types it has no C++ for, tiles aliased as placed, a missing
// shared-memory plan. Shape errors are the kdk verifiers' (test/Dialect/KDK).

module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k(%q: memref<?xf32> {kdk.arg = #kdk.tensor<"q">})
      attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %f = arith.constant 1.0 : f32
    // expected-error @+1 {{'arith.addf' op is not supported by the CUDA emitter}}
    %g = arith.addf %f, %f : f32
    return
  }
}

// -----

module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    // expected-error @+1 {{'memref.alloc' op is not supported by the CUDA emitter}}
    %m = memref.alloc() : memref<64xf32, 3>
    return
  }
}

// -----

module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %c0 = arith.constant 0 : index
    %c4 = arith.constant 4 : index
    // expected-error @+1 {{'scf.while' op is not supported by the CUDA emitter}}
    %r = scf.while (%i = %c0) : (index) -> index {
      %go = arith.cmpi slt, %i, %c4 : index
      scf.condition(%go) %i : index
    } do {
    ^bb0(%j: index):
      scf.yield %j : index
    }
    return
  }
}

// -----

// expected-error @+1 {{the module needs a positive kdk.chunk_size}}
module {
  func.func @k() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
}

// -----

module attributes {kdk.chunk_size = 64 : i64} {
  // expected-error @+1 {{'func.func' op is not supported by the CUDA emitter at module level (only func.func kernels marked kdk.kernel)}}
  func.func @helper() {
    return
  }
}


// -----

module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k() attributes {kdk.shared_memory_bytes = 16384 : i64, kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %a = kdk.alloc_tile {offset = 0 : i64} : memref<64x64xf32, 3>
    %s = memref.subview %a[0, 0] [32, 64] [1, 1] : memref<64x64xf32, 3> to memref<32x64xf32, strided<[64, 1]>, 3>
    // expected-error @+1 {{'kdk.mma' op has out overlapping lhs in shared memory, which the CUDA emitter cannot execute in place}}
    kdk.mma %a, %a into %a : memref<64x64xf32, 3>, memref<64x64xf32, 3>, memref<64x64xf32, 3>
    return
  }
}

// -----

module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k() attributes {kdk.shared_memory_bytes = 32768 : i64, kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %a = kdk.alloc_tile {offset = 0 : i64} : memref<64x64xf32, 3>
    %b = kdk.alloc_tile {offset = 16384 : i64} : memref<64x64xf32, 3>
    %top = memref.subview %a[0, 0] [32, 64] [1, 1] : memref<64x64xf32, 3> to memref<32x64xf32, strided<[64, 1]>, 3>
    %shifted = memref.subview %a[1, 0] [32, 64] [1, 1] : memref<64x64xf32, 3> to memref<32x64xf32, strided<[64, 1], offset: 64>, 3>
    %bt = memref.subview %b[0, 0] [32, 64] [1, 1] : memref<64x64xf32, 3> to memref<32x64xf32, strided<[64, 1]>, 3>
    // A shifted view is a race, the identical view would be fine.
    // expected-error @+1 {{'kdk.sub' op has out overlapping lhs in shared memory}}
    kdk.sub %shifted, %bt into %top : memref<32x64xf32, strided<[64, 1], offset: 64>, 3>, memref<32x64xf32, strided<[64, 1]>, 3>, memref<32x64xf32, strided<[64, 1]>, 3>
    return
  }
}

// -----

module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k() attributes {kdk.shared_memory_bytes = 16384 : i64, kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %a = kdk.alloc_tile {offset = 0 : i64} : memref<64x64xf32, 3>
    // expected-error @+1 {{a 2-D tile must have contiguous rows (inner stride 1)}}
    %s = memref.subview %a[0, 0] [64, 32] [1, 2] : memref<64x64xf32, 3> to memref<64x32xf32, strided<[64, 2]>, 3>
    return
  }
}

// -----

module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k(%q: memref<?xf32> {kdk.arg = #kdk.tensor<"q">})
      attributes {kdk.shared_memory_bytes = 16384 : i64, kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %a = kdk.alloc_tile {offset = 0 : i64} : memref<64x64xf32, 3>
    // expected-error @+1 {{tiles cannot be carried by scf.for (only scalars)}}
    %r = scf.for %i = %c0 to %c1 step %c1 iter_args(%t = %a) -> (memref<64x64xf32, 3>) {
      scf.yield %t : memref<64x64xf32, 3>
    }
    return
  }
}

// -----

module attributes {kdk.chunk_size = 64 : i64} {
  // expected-error @+1 {{kernel name "kda.intra" is not a C identifier}}
  func.func @"kda.intra"() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
}


// -----

// The emitter only prints the shared-memory plan; without it, it says which
// pass writes it.
module attributes {kdk.chunk_size = 16 : i64} {
  func.func @k() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    // expected-error @+1 {{'kdk.alloc_tile' op has no shared-memory offset: run kdk-allocate-shared-memory before the CUDA emitter}}
    %a = kdk.alloc_tile : memref<64xf32, 3>
    kdk.fill %a, 0.0 : memref<64xf32, 3>
    return
  }
}
