//===- TensorDType.cpp - Element types of the tensors kdac reads and writes -===//
//
// Names and sizes of the tensor element types.
//
//===----------------------------------------------------------------------===//
#include "kdac/Spec/TensorDType.h"

const char *kdac::toString(TensorDType t) {
  switch (t) {
  case TensorDType::F64:
    return "F64";
  case TensorDType::F32:
    return "F32";
  case TensorDType::F16:
    return "F16";
  case TensorDType::BF16:
    return "BF16";
  case TensorDType::I64:
    return "I64";
  case TensorDType::I32:
    return "I32";
  }
  return "?";
}

int64_t kdac::itemSize(TensorDType t) {
  switch (t) {
  case TensorDType::F64:
  case TensorDType::I64:
    return 8;
  case TensorDType::F32:
  case TensorDType::I32:
    return 4;
  case TensorDType::F16:
  case TensorDType::BF16:
    return 2;
  }
  return 0;
}

bool kdac::isFloatingPoint(TensorDType t) {
  return t != TensorDType::I64 && t != TensorDType::I32;
}

kdac::TensorDType kdac::toTensorDType(DType t) {
  switch (t) {
  case DType::F32:
    return TensorDType::F32;
  case DType::F16:
    return TensorDType::F16;
  case DType::BF16:
    return TensorDType::BF16;
  }
  return TensorDType::F32;
}
