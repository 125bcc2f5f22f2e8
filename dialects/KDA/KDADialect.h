//===- KDADialect.h - The kda dialect ---------------------------*- C++ -*-===//
//
// Thin header: the generated dialect class of `kda`.
//
//===----------------------------------------------------------------------===//
#ifndef KDA_KDADIALECT_H
#define KDA_KDADIALECT_H

#include "mlir/IR/Dialect.h"

#include "KDA/KDADialect.h.inc"

#endif // KDA_KDADIALECT_H
