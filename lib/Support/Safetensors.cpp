//===- Safetensors.cpp - Read and write .safetensors tensor files ---------===//
//
// The header is parsed with llvm::json; every malformed input becomes one
// llvm::Error line naming the file. Float conversions round directly from
// double to the target format (ties to even) so that no value is rounded
// twice, which matters when the oracle must see bit-exactly what a bf16
// kernel reads.
//
//===----------------------------------------------------------------------===//
#include "kdac/Support/Safetensors.h"

#include "kdac/Spec/Limits.h"
#include "kdac/Support/BoundedJson.h"
#include "kdac/Support/FileIO.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

using namespace kdac;
using llvm::StringRef;
using llvm::Twine;

//===----------------------------------------------------------------------===//
// DTypes and exact conversions
//===----------------------------------------------------------------------===//

std::optional<TensorDType> kdac::parseTensorDType(StringRef s) {
  for (TensorDType t : {TensorDType::F64, TensorDType::F32, TensorDType::F16,
                        TensorDType::BF16, TensorDType::I64, TensorDType::I32})
    if (s == toString(t))
      return t;
  return std::nullopt;
}

/// Rounds to a binary format with `precision` significand bits (implicit bit
/// included), smallest normal exponent `minExp` and largest finite value
/// `maxFinite`. Dividing by the quantum (a power of two) is exact, so one
/// nearbyint (ties to even in the default rounding mode) is the only rounding.
static double roundToFormat(double x, int precision, int minExp,
                            double maxFinite) {
  if (!std::isfinite(x) || x == 0.0)
    return x;
  int e;
  std::frexp(x, &e); // |x| = f * 2^e with f in [0.5, 1): exponent is e - 1.
  int exponent = std::max(e - 1, minExp); // below minExp: subnormal quantum
  double quantum = std::ldexp(1.0, exponent - (precision - 1));
  double r = std::nearbyint(x / quantum) * quantum;
  // Rounding up past the largest finite value is IEEE overflow to infinity.
  if (std::fabs(r) > maxFinite)
    return std::copysign(std::numeric_limits<double>::infinity(), x);
  return r;
}

static constexpr double kF16Max = 65504.0;
static const double kBF16Max = std::ldexp(255.0, 120); // (2 - 2^-7) * 2^127

double kdac::roundToDType(double x, TensorDType t) {
  switch (t) {
  case TensorDType::F64:
    return x;
  case TensorDType::F32:
    return roundToFormat(x, 24, -126, FLT_MAX);
  case TensorDType::F16:
    return roundToFormat(x, 11, -14, kF16Max);
  case TensorDType::BF16:
    return roundToFormat(x, 8, -126, kBF16Max);
  case TensorDType::I64:
    return std::nearbyint(x);
  case TensorDType::I32:
    return std::min(std::max(std::nearbyint(x), -2147483648.0), 2147483647.0);
  }
  return x;
}

static uint64_t loadLE(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v |= uint64_t(p[i]) << (8 * i);
  return v;
}

static void storeLE(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i)
    p[i] = uint8_t(v >> (8 * i));
}

static double f16BitsToDouble(uint16_t h) {
  double sign = (h & 0x8000) ? -1.0 : 1.0;
  int e = (h >> 10) & 0x1f;
  int m = h & 0x3ff;
  if (e == 0)
    return sign * std::ldexp(double(m), -24);
  if (e == 31)
    return m ? std::numeric_limits<double>::quiet_NaN()
             : sign * std::numeric_limits<double>::infinity();
  return sign * std::ldexp(double(m + 1024), e - 25);
}

/// \p r must already be representable in f16 (see roundToDType).
static uint16_t doubleToF16Bits(double r) {
  uint16_t sign = std::signbit(r) ? 0x8000 : 0;
  if (std::isnan(r))
    return 0x7e00;
  double a = std::fabs(r);
  if (std::isinf(a))
    return sign | 0x7c00;
  if (a < std::ldexp(1.0, -14)) // subnormal or zero: a multiple of 2^-24
    return sign | uint16_t(std::ldexp(a, 24));
  int e;
  std::frexp(a, &e);
  int exponent = e - 1;
  uint16_t mantissa = uint16_t(std::ldexp(a, 10 - exponent) - 1024.0);
  return sign | uint16_t((exponent + 15) << 10) | mantissa;
}

static double bf16BitsToDouble(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// \p r must already be representable in bf16, hence exactly in float.
static uint16_t doubleToBF16Bits(double r) {
  if (std::isnan(r))
    return 0x7fc0;
  float f = float(r);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return uint16_t(bits >> 16);
}

//===----------------------------------------------------------------------===//
// Tensor
//===----------------------------------------------------------------------===//

/// The reader bounds every non-empty shape's byte count; an empty one may
/// have huge other dims, so its zero must win before they are multiplied.
static int64_t product(const std::vector<int64_t> &shape) {
  if (llvm::is_contained(shape, 0))
    return 0;
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t Tensor::numElements() const { return product(shape); }

double Tensor::at(int64_t i) const {
  int64_t size = itemSize(dtype);
  if (i < 0 || (i + 1) * size > int64_t(bytes.size()))
    llvm::report_fatal_error("Tensor::at: index out of range");
  const uint8_t *p = bytes.data() + i * size;
  switch (dtype) {
  case TensorDType::F64: {
    uint64_t bits = loadLE(p, 8);
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  case TensorDType::F32: {
    uint32_t bits = uint32_t(loadLE(p, 4));
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  case TensorDType::F16:
    return f16BitsToDouble(uint16_t(loadLE(p, 2)));
  case TensorDType::BF16:
    return bf16BitsToDouble(uint16_t(loadLE(p, 2)));
  case TensorDType::I64:
    return double(int64_t(loadLE(p, 8)));
  case TensorDType::I32:
    return double(int32_t(uint32_t(loadLE(p, 4))));
  }
  return 0.0;
}

std::vector<double> Tensor::toDoubles() const {
  std::vector<double> out(numElements());
  for (int64_t i = 0, e = out.size(); i < e; ++i)
    out[i] = at(i);
  return out;
}

std::vector<int64_t> Tensor::toInts() const {
  std::vector<int64_t> out(numElements());
  for (int64_t i = 0, e = out.size(); i < e; ++i) {
    if (dtype == TensorDType::I64) {
      out[i] = int64_t(loadLE(bytes.data() + 8 * i, 8));
    } else if (dtype == TensorDType::I32) {
      out[i] = int32_t(uint32_t(loadLE(bytes.data() + 4 * i, 4)));
    } else {
      double d = at(i);
      out[i] = std::isfinite(d) ? int64_t(d) : 0;
    }
  }
  return out;
}

Tensor Tensor::fromDoubles(TensorDType dtype, std::vector<int64_t> shape,
                           const std::vector<double> &values) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  if (int64_t(values.size()) != t.numElements())
    llvm::report_fatal_error("Tensor::fromDoubles: value count does not match "
                             "the shape");
  int64_t size = itemSize(dtype);
  t.bytes.resize(values.size() * size);
  for (size_t i = 0; i < values.size(); ++i) {
    uint8_t *p = t.bytes.data() + i * size;
    double r = roundToDType(values[i], dtype);
    switch (dtype) {
    case TensorDType::F64: {
      uint64_t bits;
      std::memcpy(&bits, &r, 8);
      storeLE(p, bits, 8);
      break;
    }
    case TensorDType::F32: {
      float f = float(r);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      storeLE(p, bits, 4);
      break;
    }
    case TensorDType::F16:
      storeLE(p, doubleToF16Bits(r), 2);
      break;
    case TensorDType::BF16:
      storeLE(p, doubleToBF16Bits(r), 2);
      break;
    case TensorDType::I64:
      storeLE(p, uint64_t(std::isfinite(r) ? int64_t(r) : 0), 8);
      break;
    case TensorDType::I32:
      storeLE(p, uint32_t(std::isfinite(r) ? int32_t(r) : 0), 4);
      break;
    }
  }
  return t;
}

Tensor Tensor::fromInts(TensorDType dtype, std::vector<int64_t> shape,
                        const std::vector<int64_t> &values) {
  if (isFloatingPoint(dtype))
    return fromDoubles(dtype, std::move(shape),
                       std::vector<double>(values.begin(), values.end()));
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  if (int64_t(values.size()) != t.numElements())
    llvm::report_fatal_error("Tensor::fromInts: value count does not match "
                             "the shape");
  int64_t size = itemSize(dtype);
  t.bytes.resize(values.size() * size);
  for (size_t i = 0; i < values.size(); ++i)
    storeLE(t.bytes.data() + i * size, uint64_t(values[i]), int(size));
  return t;
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

static llvm::Error fail(StringRef name, const Twine &msg) {
  return llvm::make_error<llvm::StringError>((name + ": " + msg).str(),
                                             llvm::inconvertibleErrorCode());
}

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Reads one tensor entry of the header; `data` is the byte region after it.
static llvm::Expected<Tensor> parseEntry(StringRef file, StringRef name,
                                         const llvm::json::Value &value,
                                         StringRef data) {
  // A std::string, not a Twine: a Twine must not outlive its operands.
  std::string where = ("tensor '" + name + "'").str();
  const llvm::json::Object *entry = value.getAsObject();
  if (!entry)
    return fail(file, where + " is not a JSON object");

  std::optional<StringRef> dtypeName = entry->getString("dtype");
  if (!dtypeName)
    return fail(file, where + " has no string 'dtype'");
  std::optional<TensorDType> dtype = parseTensorDType(*dtypeName);
  if (!dtype)
    return fail(file, where + " has unknown dtype '" + *dtypeName +
                          "' (supported: F64, F32, F16, BF16, I64, I32)");

  const llvm::json::Array *shapeArray = entry->getArray("shape");
  if (!shapeArray)
    return fail(file, where + " has no 'shape' list");
  Tensor t;
  t.dtype = *dtype;
  int64_t numBytes = itemSize(*dtype);
  for (const llvm::json::Value &dim : *shapeArray) {
    std::optional<int64_t> d = dim.getAsInteger();
    if (!d)
      return fail(file, where + " has a non-integer entry in 'shape'");
    t.shape.push_back(*d);
  }
  // An empty tensor holds no bytes however large its other dims.
  bool empty = llvm::is_contained(t.shape, 0);
  for (int64_t d : t.shape) {
    if (d < 0)
      return fail(file, where + " has negative dimension " + Twine(d) +
                            " in shape " + shapeString(t.shape));
    if (empty)
      numBytes = 0;
    else if (llvm::MulOverflow(numBytes, d, numBytes))
      return fail(file,
                  where + " shape " + shapeString(t.shape) + " is too large");
  }

  const llvm::json::Array *offsets = entry->getArray("data_offsets");
  if (!offsets)
    return fail(file, where + " has no 'data_offsets' list");
  std::optional<int64_t> begin, end;
  if (offsets->size() == 2) {
    begin = (*offsets)[0].getAsInteger();
    end = (*offsets)[1].getAsInteger();
  }
  if (!begin || !end)
    return fail(file, where + " 'data_offsets' is not a pair of integers");
  if (*begin < 0 || *end < *begin || *end > int64_t(data.size()))
    return fail(file, where + " data_offsets [" + Twine(*begin) + ", " +
                          Twine(*end) + "] out of range of the data (" +
                          Twine(uint64_t(data.size())) + " bytes)");
  if (*end - *begin != numBytes)
    return fail(file, where + " data_offsets [" + Twine(*begin) + ", " +
                          Twine(*end) + "] hold " + Twine(*end - *begin) +
                          " bytes, but dtype " + toString(*dtype) +
                          " and shape " + shapeString(t.shape) + " need " +
                          Twine(numBytes));
  t.bytes.assign(data.bytes_begin() + *begin, data.bytes_begin() + *end);
  return t;
}

llvm::Expected<SafetensorsFile> kdac::parseSafetensors(StringRef bytes,
                                                       StringRef name) {
  if (bytes.size() < 8)
    return fail(name, "file too short (" + Twine(uint64_t(bytes.size())) +
                          " bytes) to hold the 8-byte header length");
  uint64_t headerLen = loadLE(bytes.bytes_begin(), 8);
  if (headerLen > bytes.size() - 8)
    return fail(name, "header length " + Twine(headerLen) +
                          " goes beyond the end of the file (" +
                          Twine(uint64_t(bytes.size())) + " bytes)");
  StringRef header = bytes.substr(8, headerLen);
  StringRef data = bytes.substr(8 + headerLen);

  llvm::Expected<llvm::json::Value> json = parseBoundedJson(header);
  if (!json)
    return fail(name, "header is not valid JSON: " +
                          llvm::toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    return fail(name, "header is not a JSON object");

  SafetensorsFile file;
  for (const auto &kv : *root) {
    StringRef key = kv.first;
    if (key == "__metadata__") {
      const llvm::json::Object *meta = kv.second.getAsObject();
      if (!meta)
        return fail(name, "__metadata__ is not a JSON object");
      for (const auto &m : *meta) {
        std::optional<StringRef> s = m.second.getAsString();
        if (!s)
          return fail(name, "metadata value for '" + StringRef(m.first) +
                                "' is not a string");
        file.metadata[StringRef(m.first).str()] = s->str();
      }
      continue;
    }
    llvm::Expected<Tensor> t = parseEntry(name, key, kv.second, data);
    if (!t)
      return t.takeError();
    file.tensors[key.str()] = std::move(*t);
  }
  return file;
}

llvm::Expected<SafetensorsFile> kdac::readSafetensors(StringRef path) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      readRegularFile(path, limits::kMaxCaseFileBytes);
  if (!buffer)
    return buffer.takeError();
  return parseSafetensors((*buffer)->getBuffer(), path);
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

std::string kdac::serializeSafetensors(const SafetensorsFile &file) {
  llvm::json::Object root;
  int64_t offset = 0;
  // std::map iterates in name order, which fixes the data order; the JSON
  // printer sorts keys too, so the file is byte-for-byte deterministic.
  for (const auto &[name, t] : file.tensors) {
    if (int64_t(t.bytes.size()) != t.numElements() * itemSize(t.dtype))
      llvm::report_fatal_error(llvm::Twine("serializeSafetensors: tensor '") +
                               name + "' bytes do not match its shape");
    llvm::json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d);
    int64_t end = offset + int64_t(t.bytes.size());
    root[name] =
        llvm::json::Object{{"dtype", toString(t.dtype)},
                           {"shape", std::move(shape)},
                           {"data_offsets", llvm::json::Array{offset, end}}};
    offset = end;
  }
  if (!file.metadata.empty()) {
    llvm::json::Object meta;
    for (const auto &[key, value] : file.metadata)
      meta[key] = value;
    root["__metadata__"] = std::move(meta);
  }
  std::string header;
  llvm::raw_string_ostream os(header);
  os << llvm::json::Value(std::move(root));
  os.flush();
  // Pad with spaces (valid JSON whitespace) so the data is 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');

  std::string out(8, '\0');
  storeLE(reinterpret_cast<uint8_t *>(&out[0]), header.size(), 8);
  out += header;
  out.reserve(out.size() + offset);
  for (const auto &entry : file.tensors)
    out.append(entry.second.bytes.begin(), entry.second.bytes.end());
  return out;
}

llvm::Error kdac::writeSafetensors(StringRef path,
                                   const SafetensorsFile &file) {
  return writeFileAtomically(path, serializeSafetensors(file));
}

