// Verifier rules of the split forward chunk loop (kda.chunk_map,
// kda.chunk_scan) and of the crossing ops, each with its exact diagnostic.
// RUN: kda-opt %s -split-input-file -verify-diagnostics

func.func @names_per_result(%q: tensor<1x40x1x16xf32>, %b: tensor<1x40x1xf32>) {
  // expected-error @+1 {{expects one name per result, got 2 names for 1 results}}
  %kg = kda.chunk_map q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none names = ["kg", "u"]
      : (tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1xf32>)
        -> tensor<?x1x16x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>):
    %x = kda.decay_rows %ck, %cg to_last : tensor<16x16xf32>
    kda.map_yield %x : tensor<16x16xf32>
  }
  return
}

// -----

func.func @duplicate_names(%q: tensor<1x40x1x16xf32>, %b: tensor<1x40x1xf32>) {
  // expected-error @+1 {{expects distinct, non-empty names, got ["kg", "kg"]}}
  %r:2 = kda.chunk_map q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none names = ["kg", "kg"]
      : (tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1xf32>)
        -> (tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>) {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>):
    kda.map_yield %ck, %cq : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @result_not_per_slot(%q: tensor<1x40x1x16xf32>, %b: tensor<1x40x1xf32>) {
  // expected-error @+1 {{expects result #0 to hold one tile of 'tensor<16x16xf32>' per chunk slot and value head ([slots, 1, tile...]), got 'tensor<?x2x16x16xf32>'}}
  %kg = kda.chunk_map q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none names = ["kg"]
      : (tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1xf32>)
        -> tensor<?x2x16x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>):
    %x = kda.decay_rows %ck, %cg to_last : tensor<16x16xf32>
    kda.map_yield %x : tensor<16x16xf32>
  }
  return
}

// -----

func.func @map_body_arguments(%q: tensor<1x40x1x16xf32>, %b: tensor<1x40x1xf32>) {
  // expected-error @+1 {{expects body arguments q, k, v, g, beta}}
  %r = kda.chunk_map q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none names = ["kg"]
      : (tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1xf32>)
        -> tensor<?x1x16x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>):
    kda.map_yield %ck : tensor<16x16xf32>
  }
  return
}

// -----

func.func @scan_argument_type(%q: tensor<1x40x1x16xf32>, %b: tensor<1x40x1xf32>) {
  %kg = kda.chunk_map q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none names = ["kg"]
      : (tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1xf32>)
        -> tensor<?x1x16x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>):
    %x = kda.decay_rows %ck, %cg to_last : tensor<16x16xf32>
    kda.map_yield %x : tensor<16x16xf32>
  }
  // expected-error @+1 {{expects body argument #0 of type 'tensor<16x16xf32>' (a tile of chunk value #0), got 'tensor<16x8xf32>'}}
  %o = kda.chunk_scan values(%kg) like(%q) chunk_size = 16
      : (tensor<?x1x16x16xf32>, tensor<1x40x1x16xf32>) -> tensor<1x40x1x16xf32> {
  ^bb0(%t: tensor<16x8xf32>, %s: tensor<16x16xf32>):
    %z = kda.zero : tensor<16x16xf32>
    kda.yield %z, %s : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @scan_like(%q: tensor<1x40x1x16xf32>, %b: tensor<1x40x1xf32>) {
  %kg = kda.chunk_map q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none names = ["kg"]
      : (tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1xf32>)
        -> tensor<?x1x16x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>):
    %x = kda.decay_rows %ck, %cg to_last : tensor<16x16xf32>
    kda.map_yield %x : tensor<16x16xf32>
  }
  // expected-error @+1 {{expects `like` to share o's [B, T, HV] ('tensor<1x40x1x16xf32>'), got 'tensor<1x40x1xf32>'}}
  %o = kda.chunk_scan values(%kg) like(%b) chunk_size = 16
      : (tensor<?x1x16x16xf32>, tensor<1x40x1xf32>) -> tensor<1x40x1x16xf32> {
  ^bb0(%t: tensor<16x16xf32>, %s: tensor<16x16xf32>):
    kda.yield %t, %s : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @scan_yield(%q: tensor<1x40x1x16xf32>, %b: tensor<1x40x1xf32>) {
  %kg = kda.chunk_map q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none names = ["kg"]
      : (tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1xf32>)
        -> tensor<?x1x16x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>):
    %x = kda.decay_rows %ck, %cg to_last : tensor<16x16xf32>
    kda.map_yield %x : tensor<16x16xf32>
  }
  %o = kda.chunk_scan values(%kg) like(%q) chunk_size = 16
      : (tensor<?x1x16x16xf32>, tensor<1x40x1x16xf32>) -> tensor<1x40x1x16xf32> {
  ^bb0(%t: tensor<16x16xf32>, %s: tensor<16x16xf32>):
    %z = kda.zero : tensor<8x16xf32>
    // expected-error @+1 {{expects to yield the chunk output (16x16) and the state (16x16)}}
    kda.yield %z, %s : tensor<8x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @last_row_exp_shape(%gc: tensor<16x32xf32>) {
  // expected-error @+1 {{expects the result of shape [K], got 'tensor<16xf32>'}}
  %e = kda.last_row_exp %gc : tensor<16x32xf32> -> tensor<16xf32>
  return
}

// -----

func.func @decay_rows_scale(%x: tensor<16x32xf32>) {
  // expected-error @+1 {{expects a positive finite scale, got -1}}
  %e = kda.decay_rows %x, %x scale = -1.0 : tensor<16x32xf32>
  return
}

// -----

func.func @decayed_update_glast(%s: tensor<32x16xf32>, %kg: tensor<16x32xf32>, %gl: tensor<16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects glast of shape [K], got 'tensor<16xf32>'}}
  %e = kda.decayed_state_update %s, %kg, %gl, %v : tensor<32x16xf32>, tensor<16x32xf32>, tensor<16xf32>, tensor<16x16xf32>
  return
}

// -----

func.func @decayed_output_aqk(%qg: tensor<16x32xf32>, %s: tensor<32x16xf32>, %a: tensor<16x8xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects Aqk of shape [C, C], got 'tensor<16x8xf32>'}}
  %e = kda.decayed_output %qg, %s, %a, %v : tensor<16x32xf32>, tensor<32x16xf32>, tensor<16x8xf32> -> tensor<16x16xf32>
  return
}
