//===- KDAOps.h - Operations of the kda dialect -----------------*- C++ -*-===//
//
// Thin header: the generated op and enum classes of `kda`.
//
//===----------------------------------------------------------------------===//
#ifndef KDA_KDAOPS_H
#define KDA_KDAOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "KDA/KDADialect.h"
#include "KDA/KDAEnums.h.inc"

#define GET_OP_CLASSES
#include "KDA/KDAOps.h.inc"

#endif // KDA_KDAOPS_H
