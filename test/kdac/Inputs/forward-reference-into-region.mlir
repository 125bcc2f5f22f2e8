// %0 is used at the top level and then defined inside the chunk loop's body,
// whose parse fails: MLIR's parser binds the outer use to the inner value
// and frees it with the failed region (a heap corruption the fuzzer found).
%3 = kda.output %0, %0, %0, %0, %0 scale = 1.0 : tensor<16x32xf32>, tensor<32x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
%o, %s = kda.chunk_loop q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) chunk_size = 16 gate = scalar : (tensor<1x?x2x32xbf16>, tensor<1x?x2x32xbf16>, tensor<1x?x4x16xbf16>, tensor<1x?x4xf32>, tensor<1x?x4xbf16>) -> (tensor<1x?x4x16xbf16>, tensor<1x4x32x16xf32>) {
  %0 = kda.cumsum %arg8 : tensor<16x32xf32>
module {
