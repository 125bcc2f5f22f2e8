//===- Tensor.h - Host tensors and value bindings of the interpreter ------===//
//
// The interpreter's run-time values: dense row-major buffers in one scalar
// type, and the map from SSA values to them. A chunk loop's body gets a child
// environment per chunk, so its values die with the chunk while it can still
// read values defined above the loop.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_INTERPRETER_TENSOR_H
#define KDAC_LIB_INTERPRETER_TENSOR_H

#include "mlir/IR/Value.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace kdac::interp {

template <typename T> struct Tensor {
  llvm::SmallVector<int64_t, 4> shape;
  std::vector<T> data;
  /// Integer tensors (cu_seqlens) keep their elements here, exactly: offsets
  /// past 2^24 would not survive a trip through float.
  std::vector<int64_t> ints;
  bool isInteger = false;

  static Tensor zeros(llvm::ArrayRef<int64_t> shape) {
    Tensor t;
    t.shape.assign(shape.begin(), shape.end());
    t.data.assign(numElementsOf(shape), T(0));
    return t;
  }
  static int64_t numElementsOf(llvm::ArrayRef<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }

  unsigned rank() const { return shape.size(); }
  int64_t dim(unsigned i) const { return shape[i]; }
  /// Element (i, j) of a matrix; callers check the rank first.
  T &at(int64_t i, int64_t j) { return data[i * shape[1] + j]; }
  const T &at(int64_t i, int64_t j) const { return data[i * shape[1] + j]; }
};

template <typename T> class Env {
public:
  explicit Env(const Env *parent = nullptr) : parent(parent) {}

  void bind(mlir::Value value, Tensor<T> tensor) {
    // Boxed so that references stay valid while later results are bound.
    values[value] = std::make_unique<Tensor<T>>(std::move(tensor));
  }
  const Tensor<T> *lookup(mlir::Value value) const {
    auto it = values.find(value);
    if (it != values.end())
      return it->second.get();
    return parent ? parent->lookup(value) : nullptr;
  }
  /// For operands, which the dispatcher has checked are bound.
  const Tensor<T> &operator[](mlir::Value value) const {
    return *lookup(value);
  }

private:
  const Env *parent;
  llvm::DenseMap<mlir::Value, std::unique_ptr<Tensor<T>>> values;
};

/// a b, a^T b (transposeA), a b^T (transposeB) or a^T b^T, accumulated in
/// i, p, j order (the order every product of the interpreter rounds in).
template <typename T>
Tensor<T> matmul(const Tensor<T> &a, const Tensor<T> &b, bool transposeA,
                 bool transposeB = false) {
  const int64_t m = transposeA ? a.dim(1) : a.dim(0);
  const int64_t inner = transposeA ? a.dim(0) : a.dim(1);
  const int64_t n = transposeB ? b.dim(0) : b.dim(1);
  Tensor<T> c = Tensor<T>::zeros({m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < inner; ++p) {
      T x = transposeA ? a.at(p, i) : a.at(i, p);
      for (int64_t j = 0; j < n; ++j)
        c.at(i, j) += x * (transposeB ? b.at(j, p) : b.at(p, j));
    }
  return c;
}

} // namespace kdac::interp

#endif // KDAC_LIB_INTERPRETER_TENSOR_H
