// convert-kda-to-kdk binds each scan operand to a workspace by name and
// shape; a split whose names or structure the kernels cannot run is a
// located error (the three cases are kdac's own split IR, edited).
// RUN: kda-opt %s -split-input-file --convert-kda-to-kdk -verify-diagnostics

func.func @names_swapped(%arg0: tensor<1x32x1x16xf32>, %arg1: tensor<1x32x1x16xf32>, %arg2: tensor<1x32x1x16xf32>, %arg3: tensor<1x32x1x16xf32>, %arg4: tensor<1x32x1xf32>) -> tensor<1x32x1x16xf32> {
  %0:6 = kda.chunk_map q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) chunk_size = 16 gate = channel names = ["w", "u", "qg", "aqk", "kg", "glast"] : (tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1xf32>) -> (tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16xf32>) {
  ^bb0(%arg5: tensor<16x16xf32>, %arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16xf32>):
    %1 = kda.cumsum %arg8 : tensor<16x16xf32>
    %2 = kda.decayed_gram %arg6, %arg6, %1 row_scale(%arg9 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
    %3 = kda.forward_substitution %2 : tensor<16x16xf32>
    %w, %u = kda.wy %3, %arg6, %arg7, %1, %arg9 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
    %4 = kda.decayed_gram %arg5, %arg6, %1 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
    %5 = kda.decay_rows %arg5, %1 scale = 2.500000e-01 : tensor<16x16xf32>
    %6 = kda.decay_rows %arg6, %1 to_last : tensor<16x16xf32>
    %7 = kda.last_row_exp %1 : tensor<16x16xf32> -> tensor<16xf32>
    kda.map_yield %u, %w, %5, %4, %6, %7 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
  }
  %o = kda.chunk_scan values(%0#0, %0#1, %0#2, %0#3, %0#4, %0#5) like(%arg2) chunk_size = 16 : (tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16xf32>, tensor<1x32x1x16xf32>) -> tensor<1x32x1x16xf32> {
  ^bb0(%arg5: tensor<16x16xf32>, %arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16xf32>, %arg11: tensor<16x16xf32>):
    // expected-error @+1 {{convert-kda-to-kdk: expects operand 'u' to be the map's "u" result}}
    %1 = kda.state_apply %arg5, %arg6, %arg11 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
    %2 = kda.decayed_output %arg7, %arg11, %arg8, %1 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    %3 = kda.decayed_state_update %arg11, %arg9, %arg10, %1 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>
    kda.yield %2, %3 : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o : tensor<1x32x1x16xf32>
}

// -----

func.func @yields_the_incoming_state(%arg0: tensor<1x32x1x16xf32>, %arg1: tensor<1x32x1x16xf32>, %arg2: tensor<1x32x1x16xf32>, %arg3: tensor<1x32x1x16xf32>, %arg4: tensor<1x32x1xf32>) -> tensor<1x32x1x16xf32> {
  %0:6 = kda.chunk_map q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) chunk_size = 16 gate = channel names = ["u", "w", "qg", "aqk", "kg", "glast"] : (tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1xf32>) -> (tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16xf32>) {
  ^bb0(%arg5: tensor<16x16xf32>, %arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16xf32>):
    %1 = kda.cumsum %arg8 : tensor<16x16xf32>
    %2 = kda.decayed_gram %arg6, %arg6, %1 row_scale(%arg9 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
    %3 = kda.forward_substitution %2 : tensor<16x16xf32>
    %w, %u = kda.wy %3, %arg6, %arg7, %1, %arg9 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
    %4 = kda.decayed_gram %arg5, %arg6, %1 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
    %5 = kda.decay_rows %arg5, %1 scale = 2.500000e-01 : tensor<16x16xf32>
    %6 = kda.decay_rows %arg6, %1 to_last : tensor<16x16xf32>
    %7 = kda.last_row_exp %1 : tensor<16x16xf32> -> tensor<16xf32>
    kda.map_yield %u, %w, %5, %4, %6, %7 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
  }
  %o = kda.chunk_scan values(%0#0, %0#1, %0#2, %0#3, %0#4, %0#5) like(%arg2) chunk_size = 16 : (tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16xf32>, tensor<1x32x1x16xf32>) -> tensor<1x32x1x16xf32> {
  ^bb0(%arg5: tensor<16x16xf32>, %arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16xf32>, %arg11: tensor<16x16xf32>):
    %1 = kda.state_apply %arg5, %arg6, %arg11 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
    %2 = kda.decayed_output %arg7, %arg11, %arg8, %1 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    %3 = kda.decayed_state_update %arg11, %arg9, %arg10, %1 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>
    // expected-error @+1 {{convert-kda-to-kdk: expects the scan to yield its output's and its state update's results}}
    kda.yield %2, %arg11 : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o : tensor<1x32x1x16xf32>
}

// -----

func.func @unknown_scan_op(%arg0: tensor<1x32x1x16xf32>, %arg1: tensor<1x32x1x16xf32>, %arg2: tensor<1x32x1x16xf32>, %arg3: tensor<1x32x1x16xf32>, %arg4: tensor<1x32x1xf32>) -> tensor<1x32x1x16xf32> {
  %0:6 = kda.chunk_map q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) chunk_size = 16 gate = channel names = ["u", "w", "qg", "aqk", "kg", "glast"] : (tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1x16xf32>, tensor<1x32x1xf32>) -> (tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16xf32>) {
  ^bb0(%arg5: tensor<16x16xf32>, %arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16xf32>):
    %1 = kda.cumsum %arg8 : tensor<16x16xf32>
    %2 = kda.decayed_gram %arg6, %arg6, %1 row_scale(%arg9 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
    %3 = kda.forward_substitution %2 : tensor<16x16xf32>
    %w, %u = kda.wy %3, %arg6, %arg7, %1, %arg9 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
    %4 = kda.decayed_gram %arg5, %arg6, %1 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
    %5 = kda.decay_rows %arg5, %1 scale = 2.500000e-01 : tensor<16x16xf32>
    %6 = kda.decay_rows %arg6, %1 to_last : tensor<16x16xf32>
    %7 = kda.last_row_exp %1 : tensor<16x16xf32> -> tensor<16xf32>
    kda.map_yield %u, %w, %5, %4, %6, %7 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
  }
  %o = kda.chunk_scan values(%0#0, %0#1, %0#2, %0#3, %0#4, %0#5) like(%arg2) chunk_size = 16 : (tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<?x1x16xf32>, tensor<1x32x1x16xf32>) -> tensor<1x32x1x16xf32> {
  ^bb0(%arg5: tensor<16x16xf32>, %arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16xf32>, %arg11: tensor<16x16xf32>):
    // expected-error @+1 {{convert-kda-to-kdk: no kernel lowering for state-dependent op 'kda.matmul'}}
    %m = kda.matmul %arg5, %arg11 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    %1 = kda.state_apply %arg5, %arg6, %arg11 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
    %2 = kda.decayed_output %arg7, %arg11, %arg8, %1 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    %3 = kda.decayed_state_update %arg11, %arg9, %arg10, %1 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>
    kda.yield %2, %3 : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o : tensor<1x32x1x16xf32>
}
