//===- HalfBits.h - bf16 / f16 bit patterns for GPU tests -------*- C++ -*-===//
//
// Host-side conversions between float and the 16-bit formats the GPU tests
// upload and read back. Round to nearest even; f16 covers zero and the
// normal range only (the tests keep |x| in [2^-14, 65504]).
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TEST_UNIT_HALFBITS_H
#define KDAC_TEST_UNIT_HALFBITS_H

#include <cstdint>
#include <cstring>

namespace kdac::test {

inline uint16_t floatToBf16Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

inline float bf16BitsToFloat(uint16_t bits) {
  uint32_t widened = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &widened, 4);
  return value;
}

inline uint16_t floatToF16Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  if ((bits & 0x7fffffffu) == 0)
    return uint16_t(sign);
  int32_t exponent = int32_t((bits >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = bits & 0x7fffffu;
  uint32_t half = sign | (uint32_t(exponent) << 10) | (mantissa >> 13);
  uint32_t remainder = mantissa & 0x1fffu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (half & 1u)))
    ++half;
  return uint16_t(half);
}

inline float f16BitsToFloat(uint16_t bits) {
  uint32_t sign = uint32_t(bits & 0x8000u) << 16;
  int32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ffu;
  uint32_t widened = sign;
  if (exponent != 0 || mantissa != 0)
    widened |= (uint32_t(exponent - 15 + 127) << 23) | (mantissa << 13);
  float value;
  std::memcpy(&value, &widened, 4);
  return value;
}

} // namespace kdac::test

#endif // KDAC_TEST_UNIT_HALFBITS_H
