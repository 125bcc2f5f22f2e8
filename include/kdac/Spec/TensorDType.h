//===- TensorDType.h - Element types of the tensors kdac reads and writes -*- C++ -*-===//
//
// The element types of tensors at the API (launch arguments, case files):
// plain C++, so the launch-only library and the safetensors reader share it
// without LLVM.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_SPEC_TENSORDTYPE_H
#define KDAC_SPEC_TENSORDTYPE_H

#include "kdac/Spec/KernelSpec.h"

#include <cstdint>

namespace kdac {

/// The element types kdac stores. Other safetensors dtypes (I8, U8, BOOL,
/// F8_*) are rejected on read with a clear error.
enum class TensorDType { F64, F32, F16, BF16, I64, I32 };

/// The safetensors spelling: "F64", "F32", "F16", "BF16", "I64", "I32".
const char *toString(TensorDType t);
/// Bytes per element.
int64_t itemSize(TensorDType t);
bool isFloatingPoint(TensorDType t);
/// The tensor dtype of a spec's element type.
TensorDType toTensorDType(DType t);

} // namespace kdac

#endif // KDAC_SPEC_TENSORDTYPE_H
