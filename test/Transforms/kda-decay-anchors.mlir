// kda-decay-anchors: gram matrices of chunks longer than one block get
// anchored; one-block chunks are left direct; a block that does not divide
// the chunk is an error.
// RUN: kda-opt %s -split-input-file --kda-decay-anchors=block=16 | FileCheck %s
// RUN: not kda-opt %s -split-input-file --kda-decay-anchors=block=24 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: error: kda-decay-anchors: block 24 does not divide the chunk size 64

// CHECK-LABEL: func @grams
// CHECK: kda.decayed_gram %arg0, %arg0, %arg1 row_scale(%arg2 : tensor<64xf32>) mask = strict anchor_block = 16 :
// CHECK: kda.decayed_gram %arg0, %arg0, %arg1 mask = inclusive scale = 1.250000e-01 anchor_block = 16 :
func.func @grams(%k: tensor<64x32xf32>, %gc: tensor<64x32xf32>, %b: tensor<64xf32>)
    -> (tensor<64x64xf32>, tensor<64x64xf32>) {
  %akk = kda.decayed_gram %k, %k, %gc row_scale(%b : tensor<64xf32>) mask = strict
      : tensor<64x32xf32> -> tensor<64x64xf32>
  %aqk = kda.decayed_gram %k, %k, %gc mask = inclusive scale = 0.125
      : tensor<64x32xf32> -> tensor<64x64xf32>
  return %akk, %aqk : tensor<64x64xf32>, tensor<64x64xf32>
}

// -----

// CHECK-LABEL: func @one_block
// CHECK-NOT: anchor_block
func.func @one_block(%k: tensor<16x32xf32>, %gc: tensor<16x32xf32>) -> tensor<16x16xf32> {
  %a = kda.decayed_gram %k, %k, %gc mask = inclusive : tensor<16x32xf32> -> tensor<16x16xf32>
  return %a : tensor<16x16xf32>
}
