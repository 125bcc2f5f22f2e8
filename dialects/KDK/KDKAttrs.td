//===- KDKAttrs.td - Attributes of the kdk dialect ---------*- tablegen -*-===//
//
// #kdk.target: what the code-generation target allows a kernel, carried on
// the module so that every pass reads the limits from the IR instead of
// from constants in code.
//
//===----------------------------------------------------------------------===//
#ifndef KDK_ATTRS_TD
#define KDK_ATTRS_TD

include "KDKDialect.td"
include "mlir/IR/AttrTypeBase.td"

def KDK_TargetAttr : AttrDef<KDK_Dialect, "Target"> {
  let mnemonic = "target";
  let summary = "a code-generation target and its per-block limits";
  let description = [{
    The target a module's kernels are generated for, as the module attribute
    `kdk.target`: its architecture (one of kdac's targets, Limits.h
    kTargets) and what one thread block may use there. The conversions plan
    shared memory against `shared_memory`, and kdk-allocate-shared-memory
    checks every kernel against it. kdk-attach-target writes it from the
    table; a hand-written one may ask for less than the hardware allows,
    never more.

    ```mlir
    module attributes {kdk.target = #kdk.target<"sm_80", shared_memory = 166912, registers = 255>} {
    }
    ```
  }];
  let parameters = (ins StringRefParameter<"the architecture">:$arch,
                        "int64_t":$sharedMemory, "int64_t":$registers);
  let assemblyFormat = [{
    `<` $arch `,` `shared_memory` `=` $sharedMemory `,` `registers` `=`
    $registers `>`
  }];
  let genVerifyDecl = 1;
}

#endif // KDK_ATTRS_TD
