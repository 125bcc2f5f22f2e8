// Verifier rules of the backward ops: a gradient has its input's shape in
// f32, an adjoint's results the forward operands' shapes, and a backward
// body the arguments and yield the loop runs it with.
// RUN: kda-opt %s -split-input-file -verify-diagnostics

func.func @missing_gradient(%q: tensor<1x8x1x16xf32>, %b: tensor<1x8x1xf32>, %do: tensor<1x8x1x16xf32>) {
  // expected-error @+1 {{expects 4 results (dq, dk, dv, dbeta), got 3}}
  %0:3 = kda.recurrence_grad q(%q) k(%q) v(%q) beta(%b) do(%do) gate = none update = delta
      : (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>, tensor<1x8x1x16xf32>)
        -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>)
  return
}

// -----

func.func @bf16_gradient(%q: tensor<1x8x1x16xbf16>, %b: tensor<1x8x1xbf16>, %do: tensor<1x8x1x16xf32>) {
  // expected-error @+1 {{expects result #0 (dq) of type 'tensor<1x8x1x16xf32>', got 'tensor<1x8x1x16xbf16>'}}
  %0:4 = kda.recurrence_grad q(%q) k(%q) v(%q) beta(%b) do(%do) gate = none update = delta
      : (tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1xbf16>, tensor<1x8x1x16xf32>)
        -> (tensor<1x8x1x16xbf16>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>)
  return
}

// -----

func.func @do_shape(%q: tensor<1x8x1x16xf32>, %b: tensor<1x8x1xf32>, %do: tensor<1x8x1x32xf32>) {
  // expected-error @+1 {{expects do of shape [B, T, HV, V], but V (dim 3) is 32 where 16 is required}}
  %0:4 = kda.recurrence_grad q(%q) k(%q) v(%q) beta(%b) do(%do) gate = none update = delta
      : (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>, tensor<1x8x1x32xf32>)
        -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>)
  return
}

// -----

func.func @wy_grad_shapes(%m: tensor<16x16xf32>, %k: tensor<16x32xf32>, %v: tensor<16x8xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{expects du of shape [16, 8], got 'tensor<16x32xf32>'}}
  %0:5 = kda.wy_grad %m, %k, %v, %k, %b, %k, %k
      : (tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x8xf32>, tensor<16x32xf32>, tensor<16xf32>, tensor<16x32xf32>, tensor<16x32xf32>)
        -> (tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x8xf32>, tensor<16x32xf32>, tensor<16xf32>)
  return
}

// -----

func.func @gram_grad_results(%a: tensor<16x16xf32>, %k: tensor<16x32xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{expects 4 results (dlhs, drhs, dgc, drow_scale), got 3}}
  %0:3 = kda.decayed_gram_grad %a, %k, %k, %k row_scale(%b) mask = strict
      : (tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<16xf32>)
        -> (tensor<16x32xf32>, tensor<16x32xf32>, tensor<16x32xf32>)
  return
}

// -----

func.func @group_sum_heads(%x: tensor<1x8x3x16xf32>) {
  // expected-error @+1 {{expects static head counts with H dividing HV}}
  %0 = kda.group_sum %x : tensor<1x8x3x16xf32> -> tensor<1x8x2x16xf32>
  return
}

// -----

func.func @l2norm_grad_cotangent(%x: tensor<1x8x1x16xbf16>, %d: tensor<1x8x1x8xf32>) {
  // expected-error @+1 {{expects the cotangent in the input's shape, got 'tensor<1x8x1x8xf32>'}}
  %0 = kda.l2norm_grad %x, %d : (tensor<1x8x1x16xbf16>, tensor<1x8x1x8xf32>) -> tensor<1x8x1x16xf32>
  return
}

// -----

func.func @backward_arity(%q: tensor<1x8x1x16xf32>, %b: tensor<1x8x1xf32>, %do: tensor<1x8x1x16xf32>) {
  // expected-error @+1 {{expects a backward body with 8 arguments (q, k, v, g, beta, state, do, dstate), got 1}}
  %0:4 = kda.chunk_grad_loop q(%q) k(%q) v(%q) beta(%b) do(%do) chunk_size = 16 gate = none
      : (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>, tensor<1x8x1x16xf32>)
        -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>) forward {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>, %s: tensor<16x16xf32>):
    kda.yield %cv, %s : tensor<16x16xf32>, tensor<16x16xf32>
  } backward {
  ^bb0(%x: tensor<16x16xf32>):
    kda.grad_yield %x, %x, %x, %x, %x, %x : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @slot_states_type(%q: tensor<1x8x1x16xf32>, %b: tensor<1x8x1xf32>) {
  // expected-error @+1 {{expects the states of type tensor<?x1x16x16xf32> (per chunk slot, K x V), got 'tensor<?x1x16x8xf32>'}}
  %s = kda.chunk_states q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none
      : (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>) -> tensor<?x1x16x8xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>, %st: tensor<16x16xf32>):
    kda.yield %cv, %st : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

// An empty forward region.
func.func @empty_forward(%q: tensor<1x8x1x16xf32>, %b: tensor<1x8x1xf32>, %do: tensor<1x8x1x16xf32>) {
  // expected-error @+1 {{region #0 ('forward') failed to verify constraint: region with 1 blocks}}
  %0:4 = kda.chunk_grad_loop q(%q) k(%q) v(%q) beta(%b) do(%do) chunk_size = 16 gate = none
      : (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>, tensor<1x8x1x16xf32>)
        -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>) forward {
  } backward {
  }
  return
}

// -----

// A body block without ops (found by fuzz-mlir: the verifier asked it for
// its terminator).
func.func @empty_forward_block(%q: tensor<1x8x1x16xf32>, %b: tensor<1x8x1xf32>, %do: tensor<1x8x1x16xf32>) {
  // expected-error @+1 {{expects the body to end in kda.yield}}
  %0:4 = kda.chunk_grad_loop q(%q) k(%q) v(%q) beta(%b) do(%do) chunk_size = 16 gate = none
      : (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>, tensor<1x8x1x16xf32>)
        -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>) forward {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>, %s: tensor<16x16xf32>):
  } backward {
  }
  return
}

// -----

func.func @matmul_transposed_contraction(%a: tensor<16x32xf32>, %b: tensor<32x8xf32>) {
  // expected-error @+1 {{expects a contraction dim of 32 on both sides, got 8}}
  %0 = kda.matmul %a, %b transpose_rhs : tensor<16x32xf32>, tensor<32x8xf32> -> tensor<16x32xf32>
  return
}

// -----

func.func @matmul_transposed_result(%a: tensor<16x32xf32>, %b: tensor<8x32xf32>) {
  // expected-error @+1 {{expects a 16x8 result}}
  %0 = kda.matmul %a, %b transpose_rhs : tensor<16x32xf32>, tensor<8x32xf32> -> tensor<16x32xf32>
  return
}

// -----

func.func @matmul_infinite_scale(%a: tensor<16x32xf32>, %b: tensor<8x32xf32>) {
  // expected-error @+1 {{expects a finite scale}}
  %0 = kda.matmul %a, %b transpose_rhs scale = 0x7FF0000000000000 : tensor<16x32xf32>, tensor<8x32xf32> -> tensor<16x8xf32>
  return
}

// -----

func.func @mul_dynamic(%a: tensor<?x32xf32>) {
  // expected-error @+1 {{expects static tiles, got 'tensor<?x32xf32>'}}
  %0 = kda.mul %a, %a : tensor<?x32xf32>
  return
}

// -----

func.func @row_dot_result(%a: tensor<16x32xf32>) {
  // expected-error @+1 {{expects the result of shape [16], got 'tensor<32xf32>'}}
  %0 = kda.row_dot %a, %a : tensor<16x32xf32> -> tensor<32xf32>
  return
}

// -----

func.func @column_sum_result(%a: tensor<16x32xf32>) {
  // expected-error @+1 {{expects the result of shape [32], got 'tensor<16xf32>'}}
  %0 = kda.column_sum %a : tensor<16x32xf32> -> tensor<16xf32>
  return
}

// -----

func.func @column_sum_vector(%a: tensor<16xf32>) {
  // expected-error @+1 {{expects input to be a static matrix, got 'tensor<16xf32>'}}
  %0 = kda.column_sum %a : tensor<16xf32> -> tensor<16xf32>
  return
}

// -----

func.func @last_row_width(%a: tensor<16x32xf32>, %r: tensor<16xf32>) {
  // expected-error @+1 {{expects row of shape [32], got 'tensor<16xf32>'}}
  %0 = kda.add_to_last_row %a, %r : tensor<16x32xf32>, tensor<16xf32>
  return
}

// -----

func.func @tril_not_square(%a: tensor<16x32xf32>) {
  // expected-error @+1 {{expects a square input, got 'tensor<16x32xf32>'}}
  %0 = kda.tril %a mask = strict : tensor<16x32xf32>
  return
}

// -----

func.func @prepared_wrong_heads(%q: tensor<1x?x1x16xf32>, %k: tensor<1x?x1x16xf32>, %v: tensor<1x?x1x16xf32>, %g: tensor<1x?x1x16xf32>, %b: tensor<1x?x1xf32>, %p: tensor<?x2x16x16xf32>) {
  // expected-error @+1 {{expects prepared value #0 of type tensor<?x1x(static tile dims)xf32> (per chunk slot and value head), got 'tensor<?x2x16x16xf32>'}}
  %s = kda.chunk_states q(%q) k(%k) v(%v) g(%g) beta(%b) prepared(%p) chunk_size = 16 gate = channel : (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1xf32>, tensor<?x2x16x16xf32>) -> tensor<?x1x16x16xf32> {
  ^bb0(%a0: tensor<16x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x16xf32>, %a3: tensor<16x16xf32>, %a4: tensor<16xf32>, %S: tensor<16x16xf32>, %w: tensor<16x16xf32>):
    %z = kda.zero : tensor<16x16xf32>
    kda.yield %z, %S : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @prepared_without_argument(%q: tensor<1x?x1x16xf32>, %k: tensor<1x?x1x16xf32>, %v: tensor<1x?x1x16xf32>, %g: tensor<1x?x1x16xf32>, %b: tensor<1x?x1xf32>, %p: tensor<?x1x16x16xf32>) {
  // expected-error @+1 {{expects a body with 7 arguments (q, k, v, g, beta, state, prepared...), got 6}}
  %s = kda.chunk_states q(%q) k(%k) v(%v) g(%g) beta(%b) prepared(%p) chunk_size = 16 gate = channel : (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1xf32>, tensor<?x1x16x16xf32>) -> tensor<?x1x16x16xf32> {
  ^bb0(%a0: tensor<16x16xf32>, %a1: tensor<16x16xf32>, %a2: tensor<16x16xf32>, %a3: tensor<16x16xf32>, %a4: tensor<16xf32>, %S: tensor<16x16xf32>):
    %z = kda.zero : tensor<16x16xf32>
    kda.yield %z, %S : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}
