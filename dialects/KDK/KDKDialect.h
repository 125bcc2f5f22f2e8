//===- KDKDialect.h - The kdk dialect ---------------------------*- C++ -*-===//
//
// Thin header: the generated dialect class of `kdk`.
//
//===----------------------------------------------------------------------===//
#ifndef KDK_KDKDIALECT_H
#define KDK_KDKDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Dialect.h"

#include "KDK/KDKDialect.h.inc"

#endif // KDK_KDKDIALECT_H
