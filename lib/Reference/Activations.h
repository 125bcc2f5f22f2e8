//===- Activations.h - The oracle's gate and beta activations ---*- C++ -*-===//
//
// One definition of the fused prologue's scalar functions for the forward
// oracle and its backward, which must differentiate exactly these.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_REFERENCE_ACTIVATIONS_H
#define KDAC_LIB_REFERENCE_ACTIVATIONS_H

#include <cmath>

namespace kdac::reference {

/// PyTorch's F.softplus with beta = 1 and threshold = 20, which FLA's
/// reference gate uses: linear above the threshold, log1p(exp(x)) below
/// (exact for very negative x, where exp(x) underflows gracefully).
inline double softplus(double x) {
  return x > 20.0 ? x : std::log1p(std::exp(x));
}

/// Sigmoid that never evaluates exp of a large positive argument.
inline double sigmoid(double x) {
  if (x >= 0.0)
    return 1.0 / (1.0 + std::exp(-x));
  double e = std::exp(x);
  return e / (1.0 + e);
}

} // namespace kdac::reference

#endif // KDAC_LIB_REFERENCE_ACTIVATIONS_H
