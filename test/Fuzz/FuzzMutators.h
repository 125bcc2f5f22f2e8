//===- FuzzMutators.h - Input mutations of kdac-fuzz ------------*- C++ -*-===//
//
// Deterministic mutations (std::mt19937_64) of three input kinds: byte-level
// edits for any input, and structured ones that set one field to an extreme
// value: a safetensors header length, shape entry, data offset, dtype or
// metadata value; a JSON number or string; an integer, a float, a tensor
// dimension or a line of MLIR text.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TEST_FUZZ_FUZZMUTATORS_H
#define KDAC_TEST_FUZZ_FUZZMUTATORS_H

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace kdac::fuzz {

enum class InputKind { Safetensors, Json, MlirText };

class Mutator {
public:
  Mutator(InputKind kind, uint64_t seed) : kind(kind), rng(seed) {}

  size_t pickSeed(size_t count) { return size_t(rng() % count); }
  /// One to four mutations of seeds[index]; sometimes spliced with another.
  std::string mutate(const std::vector<std::string> &seeds, size_t index);

private:
  std::string mutateBytes(std::string input);
  std::string mutateSafetensors(std::string input);
  std::string mutateJsonText(std::string input);
  std::string mutateMlir(std::string input);

  /// An integer from the list of values that break sizes: 0, +-1, powers of
  /// two and their neighbours, 2^31, 2^63 - 1, INT64_MIN...
  int64_t extremeInteger();
  /// A JSON value text: an extreme integer, a huge or odd float, a string,
  /// null, a boolean, an empty or nested array.
  std::string extremeJson();
  uint64_t below(uint64_t n) { return n ? rng() % n : 0; }

  InputKind kind;
  std::mt19937_64 rng;
};

} // namespace kdac::fuzz

#endif // KDAC_TEST_FUZZ_FUZZMUTATORS_H
