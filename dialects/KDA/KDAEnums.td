//===- KDAEnums.td - Enumerations of the kda dialect -------*- tablegen -*-===//
//
// The family and fused-prologue choices a kda.recurrence carries. They are
// plain integer enums so that op syntax prints them as bare keywords.
//
//===----------------------------------------------------------------------===//
#ifndef KDA_ENUMS_TD
#define KDA_ENUMS_TD

include "mlir/IR/EnumAttr.td"

def KDA_GateGranularity : I32EnumAttr<"GateGranularity",
    "how finely the log-decay g varies", [
      I32EnumAttrCase<"none", 0>,
      I32EnumAttrCase<"scalar", 1>,
      I32EnumAttrCase<"channel", 2>]> {
  let cppNamespace = "::mlir::kda";
}

def KDA_GateActivation : I32EnumAttr<"GateActivation",
    "the gate activation fused into the kernel prologue", [
      I32EnumAttrCase<"none", 0>,
      I32EnumAttrCase<"softplus", 1>,
      I32EnumAttrCase<"lowerbound", 2>]> {
  let cppNamespace = "::mlir::kda";
}

def KDA_UpdateRule : I32EnumAttr<"UpdateRule",
    "how the state absorbs a token", [
      I32EnumAttrCase<"delta", 0>,
      I32EnumAttrCase<"additive", 1>]> {
  let cppNamespace = "::mlir::kda";
}

def KDA_StateLayout : I32EnumAttr<"StateLayout",
    "memory order of the per-head state", [
      I32EnumAttrCase<"kv", 0>,
      I32EnumAttrCase<"vk", 1>]> {
  let cppNamespace = "::mlir::kda";
}

def KDA_CausalMask : I32EnumAttr<"CausalMask",
    "which (i, j) entries of a chunk's gram matrix are kept", [
      I32EnumAttrCase<"strict", 0>,
      I32EnumAttrCase<"inclusive", 1>]> {
  let cppNamespace = "::mlir::kda";
}

#endif // KDA_ENUMS_TD
