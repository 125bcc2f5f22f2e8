// convert-kda-grad-to-kdk with the fused prologue: each kernel recomputes
// the prologue on the raw tiles it loads, kda_bwd_map applies the adjoints
// in place before its stores, and two more kernels add what sums over
// blocks (GVA's group, every chunk's ddt_bias and dA_log shares).
// RUN: kdac --op=backward --H=2 --HV=4 --K=16 --V=16 --dtype=f32 --varlen --qk-l2norm --gate-activation=softplus --a-log --dt-bias --beta-sigmoid --grad-scan-prep=false --emit=split | kda-opt --convert-kda-grad-to-kdk | FileCheck %s
// RUN: kdac --op=backward --H=2 --K=16 --V=16 --dtype=f32 --gate=scalar --gate-activation=lowerbound --dt-bias --grad-scan-prep=false --emit=split | kda-opt --convert-kda-grad-to-kdk | FileCheck %s --check-prefix=SCALAR
// RUN: kdac --op=backward --H=2 --HV=4 --K=16 --V=16 --dtype=f32 --varlen --qk-l2norm --gate-activation=softplus --a-log --dt-bias --beta-sigmoid --emit=cuda | FileCheck %s --check-prefix=CUDA

// CHECK-LABEL: func.func @kda_bwd_states
// CHECK-SAME: kdk.arg = #kdk.tensor<"A_log">
// CHECK-SAME: kdk.arg = #kdk.tensor<"dt_bias">
// CHECK: kdk.l2norm_rows
// CHECK: kdk.gate_activation softplus {{.*}} A_log({{.*}}) dt_bias({{.*}})
// CHECK-NOT: cumulative
// CHECK: kdk.sigmoid
// CHECK-LABEL: func.func @kda_bwd_state_grads
// CHECK: kdk.gate_activation softplus
// CHECK-LABEL: func.func @kda_bwd_map
// CHECK-SAME: #kdk.workspace<"dq_heads"
// CHECK-SAME: #kdk.workspace<"dk_heads"
// CHECK-SAME: kdk.arg = #kdk.tensor<"dv">
// CHECK-SAME: #kdk.workspace<"dt_bias_partials"
// CHECK-SAME: #kdk.workspace<"A_log_partials"
// CHECK: kdk.decayed_gram_grad
// CHECK: kdk.l2norm_rows_grad
// CHECK: kdk.l2norm_rows_grad
// CHECK: kdk.gate_activation_grad softplus {{.*}} into dt_bias_grad({{.*}}) A_log_grad({{.*}})
// CHECK: kdk.sigmoid_grad
// CHECK-LABEL: func.func @kda_bwd_group_sum
// CHECK-SAME: kdk.arg = #kdk.tensor<"dq">
// CHECK-SAME: kdk.arg = #kdk.tensor<"dk">
// CHECK-SAME: kdk.grid = #kdk.grid<chunk_slots, 2, 1>
// CHECK: kdk.add
// CHECK-LABEL: func.func @kda_bwd_gate_params
// CHECK-SAME: kdk.arg = #kdk.tensor<"ddt_bias">
// CHECK-SAME: kdk.arg = #kdk.tensor<"dA_log">
// CHECK-SAME: kdk.arg = #kdk.size<"chunk_slots">
// CHECK-SAME: kdk.grid = #kdk.grid<1, 4, 1>
// Each chunk's share is added where the map stored it: no staging tile, no
// barrier in the loop.
// CHECK: scf.for
// CHECK-NOT: kdk.barrier
// CHECK: %[[SHARE:.*]] = kdk.global_tile {{.*}} -> memref<1x16xf32, strided<[16, 1]>>
// CHECK-NEXT: kdk.add %{{.*}}, %[[SHARE]] into
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: kdk.barrier
// CHECK: kdk.row_sum
// CHECK-NOT: func.func @kda_backward

// A per-head gate: its cotangent is the row sum of the broadcast one, and
// ddt_bias ([HV]) one column per chunk.
// SCALAR-LABEL: func.func @kda_bwd_map
// SCALAR: kdk.row_sum {{.*}} : memref<16x16xf32, {{.*}}>, memref<16xf32, 3>
// SCALAR: kdk.gate_activation_grad lowerbound {{.*}} into dt_bias_grad({{.*}} : memref<1xf32, 3>) lower_bound = -5.000000e+00 : memref<16xf32, 3>, memref<16xf32, 3>
// SCALAR-NOT: func.func @kda_bwd_group_sum
// SCALAR-LABEL: func.func @kda_bwd_gate_params
// SCALAR-NOT: kdk.row_sum

// CUDA: // kernel "kda_bwd_gate_params" grid [1, 4, 1]
// CUDA: //   param size "chunk_slots"
// CUDA: kdac::l2normRowsGrad<NT, 16, 16>(
// CUDA: kdac::gateActivationGrad<NT, 16, 16, kdac::GateSoftplus, false>(
// CUDA: kdac::sigmoidGrad<NT, 16, 1>(
// CUDA: kdac::rowSum<NT, 1, 16>(
