// convert-kda-grad-to-kdk refuses what it has no kernels for, at the op.
// An adjoint of the wrong raw input, or on the wrong gradient, would be a
// silently wrong kernel: refused.
// RUN: kdac --op=backward --H=2 --K=16 --V=16 --qk-l2norm --emit=split | sed 's/kda.l2norm_grad %arg0/kda.l2norm_grad %arg1/' | not kda-opt --convert-kda-grad-to-kdk 2>&1 | FileCheck %s --check-prefix=L2INPUT
// L2INPUT: error: convert-kda-grad-to-kdk: l2norm_grad of dq must differentiate the forward's L2 norm
// RUN: kdac --op=backward --H=2 --K=16 --V=16 --gate-activation=lowerbound --emit=split | sed 's/grad(\(.*\)) lower_bound = -5.0*e+00/grad(\1) lower_bound = -4.0/' | not kda-opt --convert-kda-grad-to-kdk 2>&1 | FileCheck %s --check-prefix=GATE
// GATE: error: convert-kda-grad-to-kdk: gate_activation_grad must differentiate the forward's gate activation
// RUN: kdac --op=backward --H=2 --K=16 --V=16 --emit=expanded | not kda-opt --convert-kda-grad-to-kdk 2>&1 | FileCheck %s --check-prefix=UNDECOMPOSED
// UNDECOMPOSED: error: 'kda.wy' op convert-kda-grad-to-kdk: no tile lowering (run kda-grad-decompose first)
// RUN: kdac --H=2 --K=16 --V=16 --emit=split | not kda-opt --convert-kda-grad-to-kdk 2>&1 | FileCheck %s --check-prefix=FORWARD
// FORWARD: error: convert-kda-grad-to-kdk: expects exactly one kda.chunk_states (run kda-chunk-grad-split first), found 0
