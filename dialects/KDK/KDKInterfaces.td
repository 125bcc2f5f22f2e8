//===- KDKInterfaces.td - Interfaces of kdk ops ------------*- tablegen -*-===//
//
// What a pass may know about how a kdk op spreads its work over the block's
// threads, declared by the op so that no pass reads it off the emitter.
//
//===----------------------------------------------------------------------===//
#ifndef KDK_INTERFACES_TD
#define KDK_INTERFACES_TD

include "mlir/IR/OpBase.td"

def KDK_ElementwiseOpInterface : OpInterface<"ElementwiseOpInterface"> {
  let cppNamespace = "::mlir::kdk";
  let description = [{
    An element-wise tile op: over its R x C shape (R x 1 for a vector),
    thread t of the block's NT computes the elements e = r * C + c with
    e mod NT = t, and touches the tiles getOwnElementTiles() lists only at
    the element it computes. Two such ops whose views of one tile have the
    same type reach each element of it from the same thread, in program
    order, so no barrier need order them on that tile (kdk-thin-barriers).
    The device functions (runtime/device/kdac) keep this mapping; a tile an
    op reads elsewhere (a row scale, the cumsum's last row) is not listed.

    ```mlir
    kdk.mul %a, %b into %t : ...   // t[r, c] = a[r, c] * b[r, c]
    kdk.barrier                    // orders nothing: t[r, c] stays in one
    kdk.add %t, %c into %t : ...   // thread's program order
    ```
  }];
  let methods = [
    InterfaceMethod<
      "The shared tiles the op reads or writes only at the element it computes",
      "::llvm::SmallVector<::mlir::Value>", "getOwnElementTiles">
  ];
}

#endif // KDK_INTERFACES_TD
