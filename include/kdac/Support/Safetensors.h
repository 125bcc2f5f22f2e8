//===- Safetensors.h - Read and write .safetensors tensor files -----------===//
//
// The golden vectors, the case files of the reference oracle and the GPU
// tests exchange tensors in the safetensors format (8-byte little-endian
// header length, a JSON header, then raw little-endian data). This is a small
// dependency-free (LLVM Support only) reader/writer plus exact conversions
// between the stored dtypes and double, so that the fp64 oracle sees exactly
// the values a kernel reads.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_SUPPORT_SAFETENSORS_H
#define KDAC_SUPPORT_SAFETENSORS_H

#include "kdac/Spec/KernelSpec.h"
#include "kdac/Spec/TensorDType.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kdac {

/// Inverse of toString(TensorDType); std::nullopt for anything else.
std::optional<TensorDType> parseTensorDType(llvm::StringRef s);

/// Rounds \p x to the nearest value representable in \p t, ties to even,
/// directly from double (no double rounding through float). Overflow gives
/// +-inf as IEEE round-to-nearest does; NaN stays NaN. F64 is the identity;
/// integer dtypes round to the nearest integer (ties to even).
double roundToDType(double x, TensorDType t);

/// A dense row-major tensor; `bytes` holds the little-endian encoding.
struct Tensor {
  TensorDType dtype = TensorDType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  int64_t numElements() const;
  /// Element \p flatIndex as a double. Exact for every float dtype; I64
  /// values beyond 2^53 lose precision (use toInts for those).
  double at(int64_t flatIndex) const;
  std::vector<double> toDoubles() const;
  /// Integer view; float elements are truncated toward zero.
  std::vector<int64_t> toInts() const;

  /// Encodes \p values (rounded to nearest-even into \p dtype).
  /// `values.size()` must equal the product of \p shape.
  static Tensor fromDoubles(TensorDType dtype, std::vector<int64_t> shape,
                            const std::vector<double> &values);
  /// Encodes integers; for a float dtype each value is rounded as a double.
  static Tensor fromInts(TensorDType dtype, std::vector<int64_t> shape,
                         const std::vector<int64_t> &values);
};

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  /// `__metadata__`: string to string. kdac stores JSON texts as the values.
  std::map<std::string, std::string> metadata;
};

/// Parses the bytes of a whole file. \p nameForErrors prefixes every error
/// message ("<name>: <problem>").
llvm::Expected<SafetensorsFile> parseSafetensors(llvm::StringRef bytes,
                                                 llvm::StringRef nameForErrors);
llvm::Expected<SafetensorsFile> readSafetensors(llvm::StringRef path);

/// Tensors sorted by name, data contiguous in that order, header padded with
/// spaces so that the data starts at a multiple of 8 bytes.
std::string serializeSafetensors(const SafetensorsFile &file);
llvm::Error writeSafetensors(llvm::StringRef path, const SafetensorsFile &file);

} // namespace kdac

#endif // KDAC_SUPPORT_SAFETENSORS_H
