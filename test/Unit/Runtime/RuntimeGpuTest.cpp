//===- RuntimeGpuTest.cpp - Compile, load and launch on a real GPU --------===//
//
// Labelled `gpu`: each test skips with "no CUDA driver/device: ..." where
// there is none. Outputs are poisoned with 0xFF (a NaN pattern) before every
// launch so an element the kernel failed to write cannot pass by accident.
// The device-library tests check the documented fragment layouts against a
// CPU reference computed from exactly the bf16/f16 values the GPU saw.
//
//===----------------------------------------------------------------------===//
#include "kdac/runtime/CudaDriver.h"
#include "kdac/runtime/KernelCompiler.h"

#include "RuntimeTestSupport.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <random>
#include <thread>

using namespace kdac::rt;
using kdac::rt::test::contains;

namespace {

const char *kVectorAdd = R"cuda(
extern "C" __global__ void vectorAdd(const float *a, const float *b, float *c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    c[i] = a[i] + b[i];
}
)cuda";

// D(16x8) = A(16x16, row-major) * B(16x8, row-major [k][n]) + C, with the
// operands gathered through the fragment index helpers.
const char *kMmaFragments = R"cuda(
#include "kdac/kdac_mma.cuh"
extern "C" __global__ void mmaFragments(const kdac::bf16 *A, const kdac::bf16 *B,
                                        const float *C, float *D) {
  int lane = threadIdx.x % 32;
  kdac::u32 a[4], b[2];
  for (int r = 0; r < 4; ++r) {
    int row = kdac::mmaARow(lane, r);
    a[r] = kdac::packBf16x2(kdac::toFloat(A[row * 16 + kdac::mmaACol(lane, r, 0)]),
                            kdac::toFloat(A[row * 16 + kdac::mmaACol(lane, r, 1)]));
  }
  for (int r = 0; r < 2; ++r) {
    int n = kdac::mmaBN(lane);
    b[r] = kdac::packBf16x2(kdac::toFloat(B[kdac::mmaBK(lane, r, 0) * 8 + n]),
                            kdac::toFloat(B[kdac::mmaBK(lane, r, 1) * 8 + n]));
  }
  float c[4], d[4];
  for (int i = 0; i < 4; ++i)
    c[i] = C[kdac::mmaCRow(lane, i) * 8 + kdac::mmaCCol(lane, i)];
  kdac::mmaBf16M16N8K16(d, a, b, c);
  for (int i = 0; i < 4; ++i)
    D[kdac::mmaCRow(lane, i) * 8 + kdac::mmaCCol(lane, i)] = d[i];
}
)cuda";

// The same product staged through cp.async and read back with ldmatrix:
// B row-major [k][n] (x2.trans), B stored [n][k] (x2), and a 16x16 B giving
// two n-tiles (x4.trans), for bf16 and f16.
const char *kMmaTiles = R"cuda(
#include "kdac/kdac_copy.cuh"
#include "kdac/kdac_mma.cuh"

template <typename T>
__device__ void loadA(T *tileA, const T *A, kdac::u32 (&a)[4], int lane) {
  kdac::cpAsync16(&tileA[lane * 8], &A[lane * 8]);
  kdac::cpAsyncCommit();
  kdac::cpAsyncWait<0>();
  kdac::blockBarrier();
  kdac::ldmatrixX4(a, &tileA[kdac::ldmatrixX4Row(lane) * 16 + kdac::ldmatrixX4Col(lane)]);
}

__device__ void storeD(const float *C, float *D, const float (&d)[4], int ldc, int col0,
                       int lane) {
  for (int i = 0; i < 4; ++i)
    D[kdac::mmaCRow(lane, i) * ldc + col0 + kdac::mmaCCol(lane, i)] = d[i];
}

__device__ void loadC(const float *C, float (&c)[4], int ldc, int col0, int lane) {
  for (int i = 0; i < 4; ++i)
    c[i] = C[kdac::mmaCRow(lane, i) * ldc + col0 + kdac::mmaCCol(lane, i)];
}

// B row-major [k][n], 16x8.
template <typename T>
__device__ void mmaTilesKN(const T *A, const T *B, const float *C, float *D) {
  __shared__ __align__(16) T tileA[16 * 16];
  __shared__ __align__(16) T tileB[16 * 8];
  int lane = threadIdx.x % 32;
  if (lane < 16)
    kdac::cpAsync16(&tileB[lane * 8], &B[lane * 8]);
  kdac::u32 a[4], b[2];
  loadA(tileA, A, a, lane);
  kdac::ldmatrixX2Trans(b, &tileB[kdac::ldmatrixX2TransRow(lane) * 8]);
  float c[4], d[4];
  loadC(C, c, 8, 0, lane);
  kdac::mmaM16N8K16<T>(d, a, b, c);
  storeD(C, D, d, 8, 0, lane);
}

// B stored [n][k], 8x16 (the "col" operand as it sits in memory).
template <typename T>
__device__ void mmaTilesNK(const T *A, const T *Bt, const float *C, float *D) {
  __shared__ __align__(16) T tileA[16 * 16];
  __shared__ __align__(16) T tileB[8 * 16];
  int lane = threadIdx.x % 32;
  if (lane < 16)
    kdac::cpAsync16(&tileB[lane * 8], &Bt[lane * 8]);
  kdac::u32 a[4], b[2];
  loadA(tileA, A, a, lane);
  kdac::ldmatrixX2(b, &tileB[kdac::ldmatrixX2Row(lane) * 16 + kdac::ldmatrixX2Col(lane)]);
  float c[4], d[4];
  loadC(C, c, 8, 0, lane);
  kdac::mmaM16N8K16<T>(d, a, b, c);
  storeD(C, D, d, 8, 0, lane);
}

// B row-major [k][n], 16x16: D is 16x16, two mma per warp.
template <typename T>
__device__ void mmaTilesWide(const T *A, const T *B, const float *C, float *D) {
  __shared__ __align__(16) T tileA[16 * 16];
  __shared__ __align__(16) T tileB[16 * 16];
  int lane = threadIdx.x % 32;
  kdac::cpAsync16(&tileB[lane * 8], &B[lane * 8]);
  kdac::u32 a[4], b[4];
  loadA(tileA, A, a, lane);
  kdac::ldmatrixX4Trans(b, &tileB[kdac::ldmatrixX4Row(lane) * 16 + kdac::ldmatrixX4Col(lane)]);
  for (int tile = 0; tile < 2; ++tile) {
    kdac::u32 bTile[2] = {b[2 * tile], b[2 * tile + 1]};
    float c[4], d[4];
    loadC(C, c, 16, 8 * tile, lane);
    kdac::mmaM16N8K16<T>(d, a, bTile, c);
    storeD(C, D, d, 16, 8 * tile, lane);
  }
}

#define KDAC_TEST_INSTANTIATE(NAME, TYPE, IMPL)                                    \
  extern "C" __global__ void NAME(const TYPE *A, const TYPE *B, const float *C,    \
                                  float *D) {                                      \
    IMPL<TYPE>(A, B, C, D);                                                        \
  }
KDAC_TEST_INSTANTIATE(mmaTilesKNBf16, kdac::bf16, mmaTilesKN)
KDAC_TEST_INSTANTIATE(mmaTilesKNF16, kdac::f16, mmaTilesKN)
KDAC_TEST_INSTANTIATE(mmaTilesNKBf16, kdac::bf16, mmaTilesNK)
KDAC_TEST_INSTANTIATE(mmaTilesWideBf16, kdac::bf16, mmaTilesWide)
KDAC_TEST_INSTANTIATE(mmaTilesWideF16, kdac::f16, mmaTilesWide)
)cuda";

const char *kMath = R"cuda(
#include "kdac/kdac_math.cuh"
extern "C" __global__ void mathOps(const float *x, float *out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = x[i];
  float sum = kdac::warpReduceSum(v);
  float max = kdac::warpReduceMax(v);
  float quadSum = kdac::warpReduceSum<4>(v);
  out[6 * i + 0] = kdac::expFast(v);
  out[6 * i + 1] = kdac::sigmoidFast(v);
  out[6 * i + 2] = kdac::softplusFast(v);
  out[6 * i + 3] = sum;
  out[6 * i + 4] = max;
  out[6 * i + 5] = quadSum;
}
)cuda";

const char *kBigShared = R"cuda(
extern "C" __global__ void bigShared(float *out, int count) {
  extern __shared__ float buffer[];
  for (int i = threadIdx.x; i < count; i += blockDim.x)
    buffer[i] = float(i) * 0.5f;
  __syncthreads();
  for (int i = threadIdx.x; i < count; i += blockDim.x)
    out[i] = buffer[count - 1 - i];
}
)cuda";

constexpr uint8_t kPoison = 0xFF;

/// Checks every element; reports how many differ and the first few.
void expectAllClose(const std::vector<float> &got,
                    const std::vector<double> &expected,
                    const std::function<double(size_t)> &tolerance,
                    const std::string &what) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  size_t bad = 0;
  std::string firstBad;
  for (size_t i = 0; i < got.size(); ++i) {
    double difference = std::fabs(double(got[i]) - expected[i]);
    bool same = (std::isinf(expected[i]) && got[i] == expected[i]) ||
                difference <= tolerance(i);
    if (!same && bad++ < 5)
      firstBad += "\n  [" + std::to_string(i) + "] got " +
                  std::to_string(got[i]) + " expected " +
                  std::to_string(expected[i]);
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements wrong" << firstBad;
}

class RuntimeGpu : public ::testing::Test {
protected:
  void SetUp() override {
    Expected<Device> device = Device::open(0);
    if (!device.ok())
      GTEST_SKIP() << "no CUDA driver/device: " << device.error();
    if (device->properties().computeCapabilityMajor < 8)
      GTEST_SKIP() << "the device library needs sm_80+, device is "
                   << device->properties().preferredArch();
    device_ = *device;
    arch_ = device_->properties().preferredArch();
  }

  /// Compiles (memory cache shared by the tests) and loads.
  Expected<Module> build(const std::string &source, const std::string &name,
                         std::string arch = "") {
    static KernelCompiler compiler({"", false});
    Expected<CompiledKernel> kernel =
        compiler.getCubin(source, name, arch.empty() ? arch_ : arch);
    if (!kernel)
      return makeError(kernel.error());
    return Module::load(*kernel->image);
  }

  Expected<DeviceBuffer> upload(const void *data, size_t bytes) {
    Expected<DeviceBuffer> buffer = DeviceBuffer::allocate(bytes);
    if (buffer)
      if (Status status = buffer->copyFromHost(data, bytes); !status)
        return makeError(status.error());
    return buffer;
  }

  std::optional<Device> device_;
  std::string arch_;
};

#define ASSERT_OK(expression)                                                  \
  do {                                                                         \
    auto result_ = (expression);                                               \
    ASSERT_TRUE(result_.ok()) << #expression << ": " << result_.error();       \
  } while (0)

/// Runs vectorAdd from `module` on n elements and checks every output.
void runVectorAdd(const Device &device, const Module &module,
                  StreamHandle stream, int n) {
  std::vector<float> a(n), b(n);
  for (int i = 0; i < n; ++i) {
    a[i] = float(i) * 0.25f - 1000.0f;
    b[i] = float(i % 977) * 3.0f + 0.125f;
  }
  Expected<Function> kernel = module.function("vectorAdd");
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  Expected<DeviceBuffer> dA = DeviceBuffer::allocate(n * sizeof(float));
  Expected<DeviceBuffer> dB = DeviceBuffer::allocate(n * sizeof(float));
  Expected<DeviceBuffer> dC = DeviceBuffer::allocate(n * sizeof(float));
  ASSERT_TRUE(dA.ok() && dB.ok() && dC.ok())
      << dA.error() << dB.error() << dC.error();
  ASSERT_OK(dA->upload(a));
  ASSERT_OK(dB->upload(b));
  ASSERT_OK(dC->fill(kPoison));
  LaunchConfig config;
  config.block = {256, 1, 1};
  config.grid = {unsigned((n + 255) / 256), 1, 1};
  config.stream = stream;
  ASSERT_OK(kernel->launch(config, dA->get(), dB->get(), dC->get(), n));
  if (stream) {
    Event done = *Event::create();
    ASSERT_OK(done.record(stream));
    ASSERT_OK(done.synchronize());
  }
  ASSERT_OK(device.synchronize());
  Expected<std::vector<float>> c = dC->download<float>(n);
  ASSERT_TRUE(c.ok()) << c.error();
  std::vector<double> expected(n);
  for (int i = 0; i < n; ++i)
    expected[i] = double(a[i] + b[i]);
  expectAllClose(
      *c, expected, [](size_t) { return 0.0; }, "vectorAdd");
}

} // namespace

TEST_F(RuntimeGpu, DeviceProperties) {
  const DeviceProperties &properties = device_->properties();
  EXPECT_FALSE(properties.name.empty());
  EXPECT_GT(properties.multiprocessorCount, 0);
  EXPECT_GE(properties.maxSharedMemoryPerBlockOptin,
            properties.maxSharedMemoryPerBlock);
  EXPECT_GE(properties.maxThreadsPerBlock, 1024);
  EXPECT_GT(properties.totalMemoryBytes, size_t(1) << 30);
  Expected<const CudaDriver *> driver = CudaDriver::load();
  ASSERT_TRUE(driver.ok());
  std::printf(
      "device 0: %s, sm_%d%d, %d SMs, %d KiB opt-in smem, driver %d, arch %s\n",
      properties.name.c_str(), properties.computeCapabilityMajor,
      properties.computeCapabilityMinor, properties.multiprocessorCount,
      properties.maxSharedMemoryPerBlockOptin / 1024,
      (*driver)->driverVersion(), arch_.c_str());
}

TEST_F(RuntimeGpu, VectorAddFromCubin) {
  Expected<Module> module = build(kVectorAdd, "vector_add.cu");
  ASSERT_TRUE(module.ok()) << module.error();
  runVectorAdd(*device_, *module, nullptr, (1 << 20) + 37);
  runVectorAdd(*device_, *module, nullptr, 1);
}

TEST_F(RuntimeGpu, VectorAddFromPtxOnAStreamWithEvents) {
  // compute_XY: the driver JIT-compiles the PTX at module load.
  std::string virtualArch = "compute_" + arch_.substr(3);
  Expected<Module> module = build(kVectorAdd, "vector_add.cu", virtualArch);
  ASSERT_TRUE(module.ok()) << module.error();
  Expected<Stream> stream = Stream::create();
  ASSERT_TRUE(stream.ok()) << stream.error();
  Expected<Event> start = Event::create(), stop = Event::create();
  ASSERT_TRUE(start.ok() && stop.ok()) << start.error() << stop.error();
  ASSERT_OK(start->record(stream->get()));
  runVectorAdd(*device_, *module, stream->get(), 1 << 16);
  ASSERT_OK(stop->record(stream->get()));
  ASSERT_OK(stop->synchronize());
  Expected<float> elapsed = Event::elapsedMilliseconds(*start, *stop);
  ASSERT_TRUE(elapsed.ok()) << elapsed.error();
  EXPECT_GE(*elapsed, 0.0f);
  ASSERT_OK(stream->synchronize());
}

TEST_F(RuntimeGpu, CubinFromTheDiskCacheLoads) {
  test::TemporaryDirectory dir;
  ASSERT_TRUE(KernelCompiler({dir.path(), true})
                  .getCubin(kVectorAdd, "v.cu", arch_)
                  .ok());
  KernelCompiler fresh({dir.path(), true});
  Expected<CompiledKernel> kernel = fresh.getCubin(kVectorAdd, "v.cu", arch_);
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  EXPECT_EQ(kernel->source, CacheSource::Disk);
  Expected<Module> module = Module::load(*kernel->image);
  ASSERT_TRUE(module.ok()) << module.error();
  runVectorAdd(*device_, *module, nullptr, 4099);
}

namespace {

struct MmaProblem {
  int n = 8; // columns of B, C and D
  std::vector<uint16_t> a, b, bTransposed;
  std::vector<float> c;
  std::vector<double> reference;
  std::vector<double> magnitude; // sum |a||b| + |c|, for the tolerance
};

/// Random A (16x16), B (16xn), C; the reference uses the rounded inputs.
MmaProblem makeMmaProblem(int n, bool bf16, unsigned seed) {
  MmaProblem problem;
  problem.n = n;
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  auto round = [&](float value) {
    return bf16 ? test::floatToBf16Bits(value) : test::floatToF16Bits(value);
  };
  auto widen = [&](uint16_t bits) {
    return double(bf16 ? test::bf16BitsToFloat(bits)
                       : test::f16BitsToFloat(bits));
  };
  // Keep away from zero so the f16 rounding helper stays in its normal range.
  auto sample = [&] {
    float value = uniform(generator);
    return std::fabs(value) < 1e-3f ? 0.5f : value;
  };
  for (int i = 0; i < 16 * 16; ++i)
    problem.a.push_back(round(sample()));
  for (int i = 0; i < 16 * n; ++i)
    problem.b.push_back(round(sample()));
  problem.bTransposed.resize(16 * n);
  for (int k = 0; k < 16; ++k)
    for (int col = 0; col < n; ++col)
      problem.bTransposed[col * 16 + k] = problem.b[k * n + col];
  for (int i = 0; i < 16 * n; ++i)
    problem.c.push_back(uniform(generator));
  for (int row = 0; row < 16; ++row)
    for (int col = 0; col < n; ++col) {
      double sum = problem.c[row * n + col], magnitude = std::fabs(sum);
      for (int k = 0; k < 16; ++k) {
        double product =
            widen(problem.a[row * 16 + k]) * widen(problem.b[k * n + col]);
        sum += product;
        magnitude += std::fabs(product);
      }
      problem.reference.push_back(sum);
      problem.magnitude.push_back(magnitude);
    }
  return problem;
}

} // namespace

// Runs one single-warp mma kernel on `problem` and checks all of D.
#define RUN_MMA_KERNEL(MODULE, NAME, PROBLEM, B_HOST)                          \
  do {                                                                         \
    Expected<Function> kernel = (MODULE).function(NAME);                       \
    ASSERT_TRUE(kernel.ok()) << kernel.error();                                \
    Expected<DeviceBuffer> dA =                                                \
        upload((PROBLEM).a.data(), (PROBLEM).a.size() * 2);                    \
    Expected<DeviceBuffer> dB = upload((B_HOST).data(), (B_HOST).size() * 2);  \
    Expected<DeviceBuffer> dC =                                                \
        upload((PROBLEM).c.data(), (PROBLEM).c.size() * 4);                    \
    Expected<DeviceBuffer> dD =                                                \
        DeviceBuffer::allocate((PROBLEM).c.size() * 4);                        \
    ASSERT_TRUE(dA.ok() && dB.ok() && dC.ok() && dD.ok())                      \
        << dA.error() << dB.error() << dC.error() << dD.error();               \
    ASSERT_OK(dD->fill(kPoison));                                              \
    LaunchConfig config;                                                       \
    config.block = {32, 1, 1};                                                 \
    ASSERT_OK(                                                                 \
        kernel->launch(config, dA->get(), dB->get(), dC->get(), dD->get()));   \
    ASSERT_OK(device_->synchronize());                                         \
    Expected<std::vector<float>> d = dD->download<float>((PROBLEM).c.size());  \
    ASSERT_TRUE(d.ok()) << d.error();                                          \
    const MmaProblem &checked = (PROBLEM);                                     \
    expectAllClose(                                                            \
        *d, checked.reference,                                                 \
        [&](size_t i) { return 1e-5 * checked.magnitude[i] + 1e-6; }, NAME);   \
  } while (0)

TEST_F(RuntimeGpu, MmaBf16ThroughFragmentHelpersMatchesCpu) {
  Expected<Module> module = build(kMmaFragments, "mma_fragments.cu");
  ASSERT_TRUE(module.ok()) << module.error();
  for (unsigned seed : {1u, 2u, 3u}) {
    MmaProblem problem = makeMmaProblem(8, true, seed);
    RUN_MMA_KERNEL(*module, "mmaFragments", problem, problem.b);
  }
}

TEST_F(RuntimeGpu, MmaThroughCpAsyncAndLdmatrixMatchesCpu) {
  Expected<Module> module = build(kMmaTiles, "mma_tiles.cu");
  ASSERT_TRUE(module.ok()) << module.error();
  MmaProblem bf16 = makeMmaProblem(8, true, 11);
  RUN_MMA_KERNEL(*module, "mmaTilesKNBf16", bf16, bf16.b);
  RUN_MMA_KERNEL(*module, "mmaTilesNKBf16", bf16, bf16.bTransposed);
  MmaProblem f16 = makeMmaProblem(8, false, 12);
  RUN_MMA_KERNEL(*module, "mmaTilesKNF16", f16, f16.b);
  MmaProblem wideBf16 = makeMmaProblem(16, true, 13);
  RUN_MMA_KERNEL(*module, "mmaTilesWideBf16", wideBf16, wideBf16.b);
  MmaProblem wideF16 = makeMmaProblem(16, false, 14);
  RUN_MMA_KERNEL(*module, "mmaTilesWideF16", wideF16, wideF16.b);
}

TEST_F(RuntimeGpu, MathHelpersMatchCpu) {
  Expected<Module> module = build(kMath, "math.cu");
  ASSERT_TRUE(module.ok()) << module.error();
  Expected<Function> kernel = module->function("mathOps");
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  constexpr int kCount = 1024;
  std::vector<float> x(kCount);
  for (int i = 0; i < kCount; ++i)
    x[i] = -30.0f + 60.0f * float(i) / float(kCount - 1);
  const float specials[] = {-100.0f, 100.0f, 0.0f,   20.0f,
                            20.5f,   19.9f,  -20.0f, 1e-3f};
  for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); ++i)
    x[37 * i + 5] = specials[i];
  Expected<DeviceBuffer> dX = upload(x.data(), x.size() * 4);
  Expected<DeviceBuffer> dOut = DeviceBuffer::allocate(6 * kCount * 4);
  ASSERT_TRUE(dX.ok() && dOut.ok()) << dX.error() << dOut.error();
  ASSERT_OK(dOut->fill(kPoison));
  LaunchConfig config;
  config.block = {256, 1, 1};
  config.grid = {kCount / 256, 1, 1};
  ASSERT_OK(kernel->launch(config, dX->get(), dOut->get()));
  ASSERT_OK(device_->synchronize());
  Expected<std::vector<float>> out = dOut->download<float>(6 * kCount);
  ASSERT_TRUE(out.ok()) << out.error();

  std::vector<float> gotExp, gotSigmoid, gotSoftplus, gotSum, gotMax, gotQuad;
  std::vector<double> refExp, refSigmoid, refSoftplus, refSum, refMax, refQuad,
      sumScale;
  for (int i = 0; i < kCount; ++i) {
    double v = x[i];
    gotExp.push_back((*out)[6 * i]);
    gotSigmoid.push_back((*out)[6 * i + 1]);
    gotSoftplus.push_back((*out)[6 * i + 2]);
    gotSum.push_back((*out)[6 * i + 3]);
    gotMax.push_back((*out)[6 * i + 4]);
    gotQuad.push_back((*out)[6 * i + 5]);
    refExp.push_back(double(float(std::exp(v)))); // inf where float overflows
    refSigmoid.push_back(1.0 / (1.0 + std::exp(-v)));
    refSoftplus.push_back(v > 20.0 ? v : std::log1p(std::exp(v)));
    int warp = i / 32 * 32, quad = i / 4 * 4;
    double sum = 0, maximum = -1e30, quadSum = 0, scale = 0;
    for (int j = 0; j < 32; ++j) {
      sum += x[warp + j];
      scale += std::fabs(x[warp + j]);
      maximum = std::max(maximum, double(x[warp + j]));
    }
    for (int j = 0; j < 4; ++j)
      quadSum += x[quad + j];
    refSum.push_back(sum);
    refMax.push_back(maximum);
    refQuad.push_back(quadSum);
    sumScale.push_back(scale);
  }
  expectAllClose(
      gotExp, refExp,
      [&](size_t i) { return 4e-6 * std::fabs(refExp[i]) + 1e-30; }, "expFast");
  expectAllClose(
      gotSigmoid, refSigmoid, [](size_t) { return 1e-6; }, "sigmoidFast");
  expectAllClose(
      gotSoftplus, refSoftplus,
      [&](size_t i) { return 4e-6 * std::fabs(refSoftplus[i]) + 1e-30; },
      "softplusFast");
  expectAllClose(
      gotSum, refSum, [&](size_t i) { return 1e-6 * sumScale[i] + 1e-6; },
      "warpReduceSum");
  expectAllClose(
      gotMax, refMax, [](size_t) { return 0.0; }, "warpReduceMax");
  expectAllClose(
      gotQuad, refQuad, [](size_t) { return 1e-5; }, "warpReduceSum<4>");
}

TEST_F(RuntimeGpu, DeviceLibrarySmokeKernelRuns) {
  Expected<Module> module = build(test::deviceLibrarySmokeKernel(), "smoke.cu");
  ASSERT_TRUE(module.ok()) << module.error();
  Expected<Function> kernel = module->function("smoke");
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  std::vector<uint16_t> a(16 * 16, test::floatToBf16Bits(0.5f));
  std::vector<uint16_t> b(16 * 8, test::floatToBf16Bits(0.25f));
  Expected<DeviceBuffer> dA = upload(a.data(), a.size() * 2);
  Expected<DeviceBuffer> dB = upload(b.data(), b.size() * 2);
  Expected<DeviceBuffer> dOut = DeviceBuffer::allocate(128 * 4);
  ASSERT_TRUE(dA.ok() && dB.ok() && dOut.ok());
  ASSERT_OK(dOut->fill(kPoison));
  LaunchConfig config;
  config.block = {32, 1, 1};
  ASSERT_OK(kernel->launch(config, dA->get(), dB->get(), dOut->get()));
  ASSERT_OK(device_->synchronize());
  Expected<std::vector<float>> out = dOut->download<float>(128);
  ASSERT_TRUE(out.ok()) << out.error();
  for (size_t i = 0; i < out->size(); ++i)
    ASSERT_FALSE(std::isnan((*out)[i])) << "element " << i << " not written";
}

TEST_F(RuntimeGpu, LargeDynamicSharedMemoryNeedsTheAttribute) {
  Expected<Module> module = build(kBigShared, "big_shared.cu");
  ASSERT_TRUE(module.ok()) << module.error();
  Expected<Function> kernel = module->function("bigShared");
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  Expected<FunctionAttributes> attributes = kernel->attributes();
  ASSERT_TRUE(attributes.ok()) << attributes.error();
  EXPECT_GT(attributes->numRegisters, 0);

  int bytes = std::min(device_->properties().maxSharedMemoryPerBlockOptin -
                           attributes->staticSharedMemoryBytes,
                       200 * 1024);
  ASSERT_GT(bytes, 48 * 1024)
      << "device offers no opt-in shared memory above 48 KiB";
  int count = bytes / 4;
  Expected<DeviceBuffer> dOut = DeviceBuffer::allocate(size_t(count) * 4);
  ASSERT_TRUE(dOut.ok()) << dOut.error();
  LaunchConfig config;
  config.block = {512, 1, 1};
  config.dynamicSharedMemoryBytes = unsigned(bytes);

  // Without opting in, the launch is refused and the error says which launch.
  Status refused = kernel->launch(config, dOut->get(), count);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.error(), "cuLaunchKernel(bigShared"))
      << refused.error();

  ASSERT_OK(kernel->setMaxDynamicSharedMemory(bytes));
  ASSERT_OK(dOut->fill(kPoison));
  ASSERT_OK(kernel->launch(config, dOut->get(), count));
  ASSERT_OK(device_->synchronize());
  Expected<std::vector<float>> out = dOut->download<float>(count);
  ASSERT_TRUE(out.ok()) << out.error();
  std::vector<double> expected(count);
  for (int i = 0; i < count; ++i)
    expected[i] = double(count - 1 - i) * 0.5;
  expectAllClose(
      *out, expected, [](size_t) { return 0.0; }, "bigShared");
}

TEST_F(RuntimeGpu, ErrorsCarryContext) {
  Expected<Module> module = build(kVectorAdd, "vector_add.cu");
  ASSERT_TRUE(module.ok()) << module.error();
  Expected<Function> missing = module->function("noSuchKernel");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.error(), "noSuchKernel")) << missing.error();
  EXPECT_TRUE(contains(missing.error(), "CUDA_ERROR_NOT_FOUND"))
      << missing.error();

  std::vector<char> garbage(4096, 'x');
  garbage.back() = '\0';
  Expected<Module> bad = Module::load(garbage);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.error(), "cuModuleLoadDataEx failed"))
      << bad.error();

  Expected<DeviceBuffer> buffer = DeviceBuffer::allocate(64);
  ASSERT_TRUE(buffer.ok()) << buffer.error();
  std::vector<char> host(128);
  Status outOfRange = buffer->copyToHost(host.data(), 128);
  ASSERT_FALSE(outOfRange.ok());
  EXPECT_TRUE(contains(outOfRange.error(), "outside a buffer of 64 bytes"))
      << outOfRange.error();

  Expected<DeviceBuffer> huge = DeviceBuffer::allocate(size_t(1) << 50);
  ASSERT_FALSE(huge.ok());
  EXPECT_TRUE(contains(huge.error(), "cuMemAlloc")) << huge.error();
}

TEST_F(RuntimeGpu, OtherThreadsCanUseTheDevice) {
  std::string error;
  std::thread worker([&] {
    Expected<Device> device = Device::open(0);
    if (!device) {
      error = device.error();
      return;
    }
    Expected<DeviceBuffer> buffer = DeviceBuffer::allocate(1024);
    if (!buffer) {
      error = buffer.error();
      return;
    }
    Status status = buffer->fill(0);
    if (!status)
      error = status.error();
  });
  worker.join();
  EXPECT_TRUE(error.empty()) << error;
}
