// convert-kda-grad-to-kdk refuses what it has no kernels for, at the op.
// RUN: kdac --op=backward --H=2 --K=16 --V=16 --qk-l2norm --emit=split | not kda-opt --convert-kda-grad-to-kdk 2>&1 | FileCheck %s --check-prefix=PROLOGUE
// PROLOGUE: error: convert-kda-grad-to-kdk: the prologue's adjoints (qk L2 norm, gate activation, beta sigmoid, GVA's group sum) have no kernels yet
// RUN: kdac --op=backward --H=2 --K=16 --V=16 --gate=scalar --emit=split | not kda-opt --convert-kda-grad-to-kdk 2>&1 | FileCheck %s --check-prefix=SCALAR
// SCALAR: error: convert-kda-grad-to-kdk: a per-head gate's dg (a sum over K) has no kernel yet
// RUN: kdac --op=backward --H=2 --K=16 --V=16 --emit=expanded | not kda-opt --convert-kda-grad-to-kdk 2>&1 | FileCheck %s --check-prefix=UNDECOMPOSED
// UNDECOMPOSED: error: 'kda.wy' op convert-kda-grad-to-kdk: no tile lowering (run kda-grad-decompose first)
// RUN: kdac --H=2 --K=16 --V=16 --emit=split | not kda-opt --convert-kda-grad-to-kdk 2>&1 | FileCheck %s --check-prefix=FORWARD
// FORWARD: error: convert-kda-grad-to-kdk: expects exactly one kda.chunk_states (run kda-chunk-grad-split first), found 0
