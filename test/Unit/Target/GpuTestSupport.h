//===- GpuTestSupport.h - Launching emitted kernels in GPU unit tests -----===//
//
// A fixture that emits a kdk module, compiles it with NVRTC for the device's
// arch, loads it and launches one of its kernels with the block size and
// dynamic shared memory of the launch descriptor. Output buffers are
// poisoned with 0xFF bytes (NaN for floats) so an element a kernel fails to
// write cannot pass by accident. Host-side bf16/f16 rounding lets references
// use exactly the values the GPU saw.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TEST_UNIT_TARGET_GPUTESTSUPPORT_H
#define KDAC_TEST_UNIT_TARGET_GPUTESTSUPPORT_H

#include "EmitterTestSupport.h"
#include "../HalfBits.h"

#include "kdac/runtime/CudaDriver.h"
#include "kdac/runtime/KernelCompiler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace kdac::test {

//===----------------------------------------------------------------------===//
// Host element types.
//===----------------------------------------------------------------------===//

enum class Elem { F32, BF16, F16 };

inline const char *mlirName(Elem elem) {
  return elem == Elem::F32 ? "f32" : elem == Elem::BF16 ? "bf16" : "f16";
}
inline size_t elemBytes(Elem elem) { return elem == Elem::F32 ? 4 : 2; }


/// Values of one element type: the rounded floats (for references) and the
/// bytes the device gets.
struct HostArray {
  Elem elem = Elem::F32;
  std::vector<float> values;
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out(values.size() * elemBytes(elem));
    for (size_t i = 0; i < values.size(); ++i) {
      if (elem == Elem::F32) {
        std::memcpy(&out[4 * i], &values[i], 4);
      } else {
        uint16_t bits = elem == Elem::BF16 ? floatToBf16Bits(values[i])
                                           : floatToF16Bits(values[i]);
        std::memcpy(&out[2 * i], &bits, 2);
      }
    }
    return out;
  }
};

/// Rounds `values` to `elem` so host and device agree on the inputs.
inline HostArray makeArray(Elem elem, std::vector<float> values) {
  HostArray array{elem, std::move(values)};
  for (float &value : array.values) {
    if (elem == Elem::BF16)
      value = bf16BitsToFloat(floatToBf16Bits(value));
    else if (elem == Elem::F16)
      value = f16BitsToFloat(floatToF16Bits(value));
  }
  return array;
}

inline std::vector<float> uniform(size_t count, float low, float high,
                                  unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(count);
  for (float &value : values)
    value = distribution(generator);
  return values;
}

/// Checks every element: |got - expected| <= tolerance(i); reports how many
/// differ and the first few.
inline void expectClose(const std::vector<float> &got,
                        const std::vector<double> &expected,
                        const std::function<double(size_t)> &tolerance,
                        const std::string &what) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  size_t bad = 0;
  std::string firstBad;
  for (size_t i = 0; i < got.size(); ++i) {
    double difference = std::fabs(double(got[i]) - expected[i]);
    if (!(difference <= tolerance(i)) && bad++ < 6)
      firstBad += "\n  [" + std::to_string(i) + "] got " +
                  std::to_string(got[i]) + " expected " +
                  std::to_string(expected[i]);
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements wrong" << firstBad;
}

//===----------------------------------------------------------------------===//
// IR templates.
//===----------------------------------------------------------------------===//

/// A module of one kernel named @kernel with `args` and `body`; %c0, %c1 and
/// %c<N> for a few N are defined first.
inline std::string kernelModule(const std::string &args, const std::string &body,
                         int threads = 128, int chunkSize = 64,
                         const std::string &grid = "#kdk.grid<1, 1, 1>") {
  return fill(R"mlir(
module attributes {kdk.chunk_size = @C@ : i64} {
  func.func @kernel(@ARGS@)
      attributes {kdk.kernel, kdk.block_threads = @NT@ : i64, kdk.grid = @GRID@} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c16 = arith.constant 16 : index
    %c32 = arith.constant 32 : index
    %c64 = arith.constant 64 : index
    %c128 = arith.constant 128 : index
@BODY@
    return
  }
}
)mlir",
              {{"ARGS", args},
               {"BODY", body},
               {"NT", std::to_string(threads)},
               {"C", std::to_string(chunkSize)},
               {"GRID", grid}});
}

/// A workspace argument named `name` with elements `type`.
inline std::string buffer(const std::string &name, const std::string &type) {
  return "%" + name + ": memref<?x" + type + "> {kdk.arg = #kdk.workspace<\"" +
         name + "\", bytes_per_slot = 1>}";
}

inline std::string tileType(int rows, int cols, const std::string &elem) {
  return "memref<" + std::to_string(rows) + "x" + std::to_string(cols) + "x" +
         elem + ", 3>";
}

/// `kdk.load_tile` of a whole rows x cols row-major buffer into `tile`.
inline std::string loadAll(const std::string &src, const std::string &srcElem,
                    const std::string &tile, const std::string &type,
                    int rows, int cols) {
  return fill("    %r_@T@ = arith.constant @R@ : index\n"
              "    %s_@T@ = arith.constant @S@ : index\n"
              "    kdk.load_tile %@SRC@[%c0] rows(%r_@T@) row_stride(%s_@T@) "
              "col_stride = 1 into %@T@ : memref<?x@E@>, @TYPE@\n",
              {{"T", tile},
               {"R", std::to_string(rows)},
               {"S", std::to_string(cols)},
               {"SRC", src},
               {"E", srcElem},
               {"TYPE", type}});
}

/// `kdk.store_tile` of a whole rows x cols tile into a row-major buffer.
inline std::string storeAll(const std::string &tile, const std::string &type,
                     const std::string &dst, const std::string &dstElem,
                     int rows, int cols) {
  return fill("    %rs_@T@ = arith.constant @R@ : index\n"
              "    %ss_@T@ = arith.constant @S@ : index\n"
              "    kdk.store_tile %@T@ into %@DST@[%c0] rows(%rs_@T@) "
              "row_stride(%ss_@T@) col_stride = 1 : @TYPE@, memref<?x@E@>\n",
              {{"T", tile},
               {"R", std::to_string(rows)},
               {"S", std::to_string(cols)},
               {"DST", dst},
               {"E", dstElem},
               {"TYPE", type}});
}

/// Relative-plus-absolute tolerance.
inline std::function<double(size_t)> near(const std::vector<double> &ref,
                                   double relative, double absolute) {
  return [&ref, relative, absolute](size_t i) {
    return absolute + relative * std::fabs(ref[i]);
  };
}

//===----------------------------------------------------------------------===//
// The fixture.
//===----------------------------------------------------------------------===//

/// A kernel argument: a device buffer or a 64-bit integer (index params).
struct KernelArg {
  rt::DevicePtr pointer = 0;
  int64_t integer = 0;
  bool isPointer = true;
  static KernelArg size(int64_t value) { return {0, value, false}; }
};

class EmittedKernelTest : public ::testing::Test {
protected:
  void SetUp() override {
    rt::Expected<rt::Device> device = rt::Device::open(0);
    if (!device.ok())
      GTEST_SKIP() << "no CUDA driver/device: " << device.error();
    if (device->properties().computeCapabilityMajor < 8)
      GTEST_SKIP() << "the device library needs sm_80+, device is "
                   << device->properties().preferredArch();
    device_ = *device;
    arch_ = device_->properties().preferredArch();
  }

  /// Emits, compiles and loads `ir` (once per distinct text per process).
  struct Program {
    EmittedCuda emitted;
    std::unique_ptr<rt::Module> module;
  };
  const Program *build(const std::string &ir) {
    static std::map<std::string, Program> programs;
    auto it = programs.find(ir);
    if (it != programs.end())
      return &it->second;
    EmitterHarness harness;
    mlir::FailureOr<EmittedCuda> emitted = harness.emit(ir);
    if (failed(emitted)) {
      ADD_FAILURE() << "emitCuda failed:\n" << harness.diagnostics;
      return nullptr;
    }
    static rt::KernelCompiler compiler({"", false});
    rt::Expected<rt::CompiledKernel> kernel =
        compiler.getCubin(emitted->source, "emitted.cu", arch_);
    if (!kernel) {
      ADD_FAILURE() << "NVRTC failed: " << kernel.error() << "\n"
                    << emitted->source;
      return nullptr;
    }
    rt::Expected<rt::Module> module = rt::Module::load(*kernel->image);
    if (!module) {
      ADD_FAILURE() << "module load failed: " << module.error();
      return nullptr;
    }
    Program program{std::move(*emitted),
                    std::make_unique<rt::Module>(std::move(*module))};
    return &programs.emplace(ir, std::move(program)).first->second;
  }

  /// Launches `kernel` of `ir` on `grid` with the descriptor's block size
  /// and shared memory, then waits for it.
  void launch(const std::string &ir, const std::string &kernel,
              const std::vector<KernelArg> &args, rt::Dim3 grid = {1, 1, 1}) {
    const Program *program = build(ir);
    ASSERT_NE(program, nullptr);
    const rt::KernelLaunch *descriptor = nullptr;
    for (const rt::KernelLaunch &candidate : program->emitted.launch.kernels)
      if (candidate.name == kernel)
        descriptor = &candidate;
    ASSERT_NE(descriptor, nullptr) << "no kernel " << kernel;
    ASSERT_EQ(descriptor->params.size(), args.size()) << kernel;
    rt::Expected<rt::Function> function = program->module->function(kernel);
    ASSERT_TRUE(function.ok()) << function.error();
    int shared = int(descriptor->dynamicSharedBytes);
    if (shared > 48 * 1024) {
      rt::Status status = function->setMaxDynamicSharedMemory(shared);
      ASSERT_TRUE(status.ok()) << status.error();
    }
    std::vector<uint64_t> storage(args.size());
    std::vector<void *> params(args.size() + 1, nullptr);
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].isPointer)
        storage[i] = args[i].pointer;
      else
        std::memcpy(&storage[i], &args[i].integer, 8);
      params[i] = &storage[i];
    }
    rt::LaunchConfig config;
    config.grid = grid;
    config.block = {unsigned(descriptor->blockThreads), 1, 1};
    config.dynamicSharedMemoryBytes = unsigned(shared);
    rt::Status status = function->launchWithParams(config, params.data());
    ASSERT_TRUE(status.ok()) << status.error();
    status = device_->synchronize();
    ASSERT_TRUE(status.ok()) << kernel << ": " << status.error();
  }

  /// A device copy of `array`.
  rt::DeviceBuffer upload(const HostArray &array) {
    return uploadBytes(array.bytes());
  }
  template <typename T> rt::DeviceBuffer uploadRaw(const std::vector<T> &data) {
    std::vector<uint8_t> bytes(data.size() * sizeof(T));
    std::memcpy(bytes.data(), data.data(), bytes.size());
    return uploadBytes(bytes);
  }
  rt::DeviceBuffer uploadBytes(const std::vector<uint8_t> &bytes) {
    rt::Expected<rt::DeviceBuffer> buffer =
        rt::DeviceBuffer::allocate(bytes.empty() ? 1 : bytes.size());
    if (!buffer)
      std::abort(); // allocation on a working device; nothing to test
    if (!bytes.empty()) {
      EXPECT_TRUE(buffer->copyFromHost(bytes.data(), bytes.size()).ok());
    }
    return std::move(*buffer);
  }
  /// `count` elements of `elem`, every byte 0xFF.
  rt::DeviceBuffer poisoned(size_t count, Elem elem = Elem::F32) {
    return uploadBytes(std::vector<uint8_t>(count * elemBytes(elem), 0xFF));
  }
  /// Reads `count` elements of `elem` back as floats.
  std::vector<float> download(const rt::DeviceBuffer &buffer, size_t count,
                              Elem elem = Elem::F32) {
    std::vector<uint8_t> bytes(count * elemBytes(elem));
    EXPECT_TRUE(buffer.copyToHost(bytes.data(), bytes.size()).ok());
    std::vector<float> values(count);
    for (size_t i = 0; i < count; ++i) {
      if (elem == Elem::F32) {
        std::memcpy(&values[i], &bytes[4 * i], 4);
      } else {
        uint16_t bits;
        std::memcpy(&bits, &bytes[2 * i], 2);
        values[i] = elem == Elem::BF16 ? bf16BitsToFloat(bits) : f16BitsToFloat(bits);
      }
    }
    return values;
  }
  static KernelArg arg(const rt::DeviceBuffer &buffer) {
    return {buffer.get(), 0, true};
  }

  std::optional<rt::Device> device_;
  std::string arch_;
};

} // namespace kdac::test

#endif // KDAC_TEST_UNIT_TARGET_GPUTESTSUPPORT_H
