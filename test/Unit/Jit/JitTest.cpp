//===- JitTest.cpp - The JIT without a GPU: arguments and NVRTC matrix ----===//
//
// What CI can prove without a GPU: launch arguments are checked against the
// spec with clear messages, a missing driver is reported rather than
// crashing, and every spec of the support matrix generates CUDA that NVRTC
// compiles to sm_90a and sm_80 cubins.
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/Codegen.h"
#include "kdac/Jit/Jit.h"
#include "kdac/runtime/Nvrtc.h"

#include <gtest/gtest.h>

#include "llvm/Support/raw_ostream.h"

#include <dlfcn.h>
#include <future>

using namespace kdac;

namespace {

KernelSpec smallSpec() {
  KernelSpec spec;
  spec.H = 2;
  spec.HV = 4;
  spec.K = 64;
  spec.V = 32;
  spec.dtype = DType::BF16;
  spec.betaDType = DType::BF16;
  spec.hasInitialState = true;
  spec.hasFinalState = true;
  return spec;
}

/// Arguments that match smallSpec() for B = 2, T = 10 (fake addresses: only
/// the checks run).
KdaLaunchArgs matchingArgs() {
  KdaLaunchArgs a;
  a.q = {0x1000, TensorDType::BF16, {2, 10, 2, 64}};
  a.k = {0x2000, TensorDType::BF16, {2, 10, 2, 64}};
  a.v = {0x3000, TensorDType::BF16, {2, 10, 4, 32}};
  a.g = {0x4000, TensorDType::F32, {2, 10, 4, 64}};
  a.beta = {0x5000, TensorDType::BF16, {2, 10, 4}};
  a.initialState = {0x6000, TensorDType::F32, {2, 4, 64, 32}};
  a.o = {0x7000, TensorDType::BF16, {2, 10, 4, 32}};
  a.finalState = {0x8000, TensorDType::F32, {2, 4, 64, 32}};
  return a;
}

std::string errorOf(const KernelSpec &spec, const KdaLaunchArgs &args) {
  rt::Expected<rt::RuntimeSizes> sizes = checkLaunchArgs(spec, 64, args);
  return sizes ? "" : sizes.error();
}

TEST(JitArgs, MatchingArgumentsGiveTheSizes) {
  rt::Expected<rt::RuntimeSizes> sizes =
      checkLaunchArgs(smallSpec(), 64, matchingArgs());
  ASSERT_TRUE(static_cast<bool>(sizes)) << sizes.error();
  EXPECT_EQ(sizes->B, 2);
  EXPECT_EQ(sizes->T, 10);
  EXPECT_EQ(sizes->N, 2);
  EXPECT_EQ(sizes->chunkSlots, 2); // one chunk of 64 per batch row
}

TEST(JitArgs, EveryMismatchIsNamed) {
  KernelSpec spec = smallSpec();
  KdaLaunchArgs a = matchingArgs();
  a.k.shape = {2, 10, 2, 32};
  EXPECT_EQ(errorOf(spec, a), "kdac launch: k has shape [2, 10, 2, 32], the "
                              "spec needs [2, 10, 2, 64]");
  a = matchingArgs();
  a.v.dtype = TensorDType::F16;
  EXPECT_EQ(errorOf(spec, a), "kdac launch: v has dtype F16, the spec needs BF16");
  a = matchingArgs();
  a.finalState = {};
  EXPECT_EQ(errorOf(spec, a),
            "kdac launch: final_state is required by the spec but missing");
  a = matchingArgs();
  a.aLog = {0x9000, TensorDType::F32, {4}};
  EXPECT_EQ(errorOf(spec, a),
            "kdac launch: A_log was passed but the kernel's spec has none");
  a = matchingArgs();
  a.q = {};
  EXPECT_EQ(errorOf(spec, a), "kdac launch: q must be a [B, T, H, K] device tensor");
}

TEST(JitArgs, VarlenNeedsOneRowAndOffsets) {
  KernelSpec spec = smallSpec();
  spec.varlen = true;
  KdaLaunchArgs a = matchingArgs();
  EXPECT_EQ(errorOf(spec, a),
            "kdac launch: varlen (cu_seqlens) needs B == 1, q has B = 2");
  for (DeviceTensor *t : {&a.q, &a.k, &a.v, &a.g, &a.beta, &a.o})
    t->shape[0] = 1;
  EXPECT_EQ(errorOf(spec, a), "kdac launch: cu_seqlens must be an int64 [N + 1] "
                              "tensor with N >= 1");
  a.cuSeqlens = {0xA000, TensorDType::I64, {4}};
  a.initialState.shape[0] = a.finalState.shape[0] = 3;
  rt::Expected<rt::RuntimeSizes> sizes = checkLaunchArgs(spec, 64, a);
  ASSERT_TRUE(static_cast<bool>(sizes)) << sizes.error();
  EXPECT_EQ(sizes->N, 3);
  EXPECT_EQ(sizes->chunkSlots, 1 + 3); // ceil(10 / 64) + N
}

/// The JIT keeps a decode spec's T up to kMaxStaticDecodeTokens (one token
/// keeps a 16-bit state 16-bit, a few run as one chunk), so that kernel
/// refuses another T; other specs' kernels take any T.
TEST(JitArgs, OneTokenDecodeKernelTakesOneToken) {
  KernelSpec spec = smallSpec();
  spec.op = KernelOp::Decode;
  spec.T = 1;
  KernelSpec served = kernelSpecFor(spec);
  EXPECT_EQ(served.T, 1);
  EXPECT_EQ(errorOf(served, matchingArgs()),
            "kdac launch: q has T = 10, the kernel was compiled for T = 1 "
            "(decode specs keep T static up to 8); use a spec with T = -1 for "
            "any T");
  KdaLaunchArgs one = matchingArgs();
  for (DeviceTensor *t : {&one.q, &one.k, &one.v, &one.g, &one.beta, &one.o})
    t->shape[1] = 1;
  EXPECT_EQ(errorOf(served, one), "");
  // A few tokens keep their T too (the chunk form); more, or varlen, do not.
  spec.T = 8;
  EXPECT_EQ(kernelSpecFor(spec).T, 8);
  spec.T = 9;
  EXPECT_EQ(kernelSpecFor(spec).T, kDynamic);
  spec.op = KernelOp::Forward;
  spec.T = 1;
  EXPECT_EQ(kernelSpecFor(spec).T, kDynamic);
  spec.op = KernelOp::Decode;
  spec.varlen = true;
  EXPECT_EQ(kernelSpecFor(spec).T, kDynamic);
}

/// A decode spec with a per-token bf16 state pool, and matching arguments
/// (B = 2, T = 10, S = 12 slots per sequence, P = 50 slots).
KernelSpec pooledSpec() {
  KernelSpec spec = smallSpec();
  spec.op = KernelOp::Decode;
  spec.statePool = spec.perTokenStates = true;
  spec.hasInitialState = spec.hasFinalState = false;
  spec.stateDType = DType::BF16;
  return spec;
}
KdaLaunchArgs pooledArgs() {
  KdaLaunchArgs a = matchingArgs();
  a.initialState = a.finalState = {};
  a.statePool = {0x9000, TensorDType::BF16, {50, 4, 64, 32}};
  a.stateIndices = {0xA000, TensorDType::I32, {2, 12}};
  return a;
}

TEST(JitArgs, StatePoolArgumentsAreChecked) {
  KernelSpec spec = pooledSpec();
  rt::Expected<rt::RuntimeSizes> sizes =
      checkLaunchArgs(spec, 1, pooledArgs());
  ASSERT_TRUE(static_cast<bool>(sizes)) << sizes.error();
  EXPECT_EQ(sizes->S, 12);
  KdaLaunchArgs a = pooledArgs();
  a.statePool.dtype = TensorDType::F32;
  EXPECT_EQ(errorOf(spec, a),
            "kdac launch: state_pool has dtype F32, the spec needs BF16");
  a = pooledArgs();
  a.stateIndices.shape = {2, 8};
  EXPECT_EQ(errorOf(spec, a), "kdac launch: state_indices has 8 slots per "
                              "sequence, fewer than the T = 10 tokens of each");
  a = pooledArgs();
  a.stateIndices.shape = {3, 12};
  EXPECT_EQ(errorOf(spec, a), "kdac launch: state_indices has shape [3, 12], "
                              "the spec needs [2, ?]");
  a = pooledArgs();
  a.initialState = matchingArgs().initialState;
  EXPECT_EQ(errorOf(spec, a), "kdac launch: initial_state was passed but the "
                              "kernel's spec has none");
  a = pooledArgs();
  a.numAccepted = {0xB000, TensorDType::I32, {2}};
  EXPECT_EQ(errorOf(spec, a), "kdac launch: num_accepted was passed but the "
                              "kernel's spec has none");
  spec.acceptedCounts = true;
  EXPECT_EQ(errorOf(spec, pooledArgs()),
            "kdac launch: num_accepted is required by the spec but missing");
}

/// Token records: the decode call takes the pool and writes the records;
/// the commit takes only the pool, the indices, the counts and the records,
/// whose shape gives N and T.
TEST(JitArgs, TokenRecordArgumentsAreChecked) {
  KernelSpec spec = pooledSpec();
  spec.perTokenStates = false;
  spec.tokenRecords = true;
  spec.T = 4;
  ASSERT_EQ(validate(spec), "");
  KdaLaunchArgs a = pooledArgs();
  for (DeviceTensor *t : {&a.q, &a.k, &a.v, &a.g, &a.beta, &a.o})
    t->shape[1] = 4;
  a.stateIndices.shape = {2};
  EXPECT_EQ(errorOf(spec, a), "kdac launch: token_records is required by the "
                              "spec but missing");
  a.tokenRecords = {0xC000, TensorDType::F32, {2, 4, 4, 160}};
  EXPECT_EQ(errorOf(spec, a), "");
  a.tokenRecords.shape = {2, 4, 4, 96};
  EXPECT_EQ(errorOf(spec, a), "kdac launch: token_records has shape [2, 4, 4, "
                              "96], the spec needs [2, 4, 4, 160]");

  KernelSpec commit = spec;
  commit.op = KernelOp::Commit;
  commit.acceptedCounts = true;
  ASSERT_EQ(validate(commit), "");
  KdaLaunchArgs c;
  c.statePool = a.statePool;
  c.stateIndices = a.stateIndices;
  c.numAccepted = {0xB000, TensorDType::I32, {2}};
  EXPECT_EQ(errorOf(commit, c), "kdac launch: token_records must be a [N, T, "
                                "HV, 2K + V] device tensor");
  c.tokenRecords = {0xC000, TensorDType::F32, {2, 4, 4, 160}};
  rt::Expected<rt::RuntimeSizes> sizes = checkLaunchArgs(commit, 1, c);
  ASSERT_TRUE(static_cast<bool>(sizes)) << sizes.error();
  EXPECT_EQ(sizes->N, 2);
  c.q = a.q;
  EXPECT_EQ(errorOf(commit, c),
            "kdac launch: q was passed but the kernel's spec has none");
  c.q = {};
  c.tokenRecords.shape = {2, 3, 4, 160};
  EXPECT_EQ(errorOf(commit, c), "kdac launch: token_records has T = 3, the "
                                "kernel was compiled for T = 4 (token records "
                                "keep the call's T)");
}

TEST(Jit, NoDriverIsAClearError) {
  if (void *handle = dlopen("libcuda.so.1", RTLD_NOW)) {
    dlclose(handle);
    GTEST_SKIP() << "a CUDA driver is present; the GPU tests cover get()";
  }
  Jit jit;
  llvm::Expected<std::shared_ptr<KdaKernel>> kernel = jit.get(smallSpec());
  ASSERT_FALSE(static_cast<bool>(kernel));
  EXPECT_NE(llvm::toString(kernel.takeError()).find("no CUDA driver"),
            std::string::npos);
}

TEST(Jit, ConfigurationFollowsTheTuningDatabase) {
  KernelSpec spec = smallSpec();
  TuningDatabase db;
  TuningEntry entry;
  entry.arch = spec.arch;
  entry.spec = tuningSpecKey(spec);
  entry.bucket = 1024;
  entry.options.chunkSize = 32;
  entry.options.valueTile = 16;
  entry.milliseconds = 0.5;
  entry.measuredOn = "test";
  db.record(entry);
  std::string path = ::testing::TempDir() + "/kdac-tuning-test.json";
  ASSERT_FALSE(static_cast<bool>(db.save(path)));

  JitOptions options;
  options.tuningDatabase = path;
  Jit jit(options);
  std::string why;
  ChunkedPipelineOptions chosen = jit.configurationFor(spec, 1000, &why);
  EXPECT_EQ(chosen.chunkSize, 32);
  EXPECT_EQ(chosen.valueTile, 16);
  EXPECT_NE(why.find("tuning database"), std::string::npos) << why;

  KernelSpec other = spec;
  other.K = 32;
  chosen = jit.configurationFor(other, 1000, &why);
  EXPECT_EQ(chosen.chunkSize, JitOptions{}.pipeline.chunkSize);
  EXPECT_NE(why.find("defaults"), std::string::npos) << why;
}

TEST(Jit, MalformedTuningDatabaseIsReported) {
  std::string path = ::testing::TempDir() + "/kdac-tuning-bad.json";
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(path, ec);
    out << "{\"format\": \"kdac-tuning\", \"version\": 7}";
  }
  JitOptions options;
  options.tuningDatabase = path;
  Jit jit(options);
  llvm::Expected<std::shared_ptr<KdaKernel>> kernel = jit.get(smallSpec());
  ASSERT_FALSE(static_cast<bool>(kernel));
  EXPECT_NE(llvm::toString(kernel.takeError()).find("unsupported version"),
            std::string::npos);
}

struct MatrixEntry {
  std::string name;
  KernelSpec spec;
  std::string decodeStateIn = "auto";
};

/// The support matrix CI compiles: head dims, dtypes, GVA, varlen, every
/// fused option, state layouts, decode state homes and family members.
std::vector<MatrixEntry> supportMatrix() {
  std::vector<MatrixEntry> specs;
  auto add = [&](std::string name, auto mutate,
                 std::string decodeStateIn = "auto") {
    KernelSpec spec = smallSpec();
    mutate(spec);
    specs.push_back({std::move(name), spec, std::move(decodeStateIn)});
  };
  for (int64_t k : {64, 128, 256})
    for (int64_t v : {64, 128, 256})
      add("K" + std::to_string(k) + "V" + std::to_string(v), [&](KernelSpec &s) {
        s.K = k;
        s.V = v;
      });
  add("f16", [](KernelSpec &s) { s.dtype = s.betaDType = DType::F16; });
  add("f32", [](KernelSpec &s) { s.dtype = s.betaDType = DType::F32; });
  add("varlen_vk", [](KernelSpec &s) {
    s.varlen = true;
    s.stateLayout = StateLayout::VK;
  });
  add("fused_lowerbound", [](KernelSpec &s) {
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -5.0;
    s.hasALog = s.hasDtBias = s.qkL2Norm = s.betaSigmoid = true;
  });
  add("fused_softplus_scalar", [](KernelSpec &s) {
    s.gate = GateGranularity::Scalar;
    s.activation = GateActivation::Softplus;
    s.hasALog = s.hasDtBias = true;
  });
  add("decode_fused", [](KernelSpec &s) {
    s.op = KernelOp::Decode;
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -5.0;
    s.hasALog = s.hasDtBias = s.qkL2Norm = s.betaSigmoid = true;
  });
  add("decode_varlen_vk_scalar_K256", [](KernelSpec &s) {
    s.op = KernelOp::Decode;
    s.varlen = true;
    s.stateLayout = StateLayout::VK;
    s.gate = GateGranularity::Scalar;
    s.K = s.V = 256;
  });
  add("decode_pool_slots_bf16_state_vk", [](KernelSpec &s) {
    s.op = KernelOp::Decode;
    s.statePool = true;
    s.hasInitialState = s.hasFinalState = false;
    s.stateDType = DType::BF16;
    s.stateLayout = StateLayout::VK;
  });
  add("decode_pool_per_token_accepted_varlen_gva", [](KernelSpec &s) {
    s.op = KernelOp::Decode;
    s.statePool = s.perTokenStates = s.acceptedCounts = true;
    s.hasInitialState = s.hasFinalState = false;
    s.varlen = true;
    s.HV = 2 * s.H;
    s.qkL2Norm = s.betaSigmoid = true;
  });
  // A static T = 1 and a bf16 kv state: `auto` streams it through a bf16
  // shared tile (cp.async in, in-place delta_step, 16-byte copy out).
  add("decode_one_token_bf16_state_fused", [](KernelSpec &s) {
    s.op = KernelOp::Decode;
    s.T = 1;
    s.stateDType = DType::BF16;
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -5.0;
    s.hasALog = s.hasDtBias = s.qkL2Norm = s.betaSigmoid = true;
  });
  // Forced into shared memory: an f32 tile for several tokens, and a vk
  // state loaded with conversion.
  add("decode_shared_f32_tile_pool_per_token", [](KernelSpec &s) {
    s.op = KernelOp::Decode;
    s.statePool = s.perTokenStates = true;
    s.hasInitialState = s.hasFinalState = false;
    s.stateDType = DType::BF16;
  }, "shared");
  add("decode_shared_vk_additive", [](KernelSpec &s) {
    s.op = KernelOp::Decode;
    s.T = 1;
    s.stateLayout = StateLayout::VK;
    s.update = UpdateRule::Additive;
    s.stateDType = DType::BF16;
  }, "shared");
  // Speculative decoding by records: the decode call writing them and the
  // commit, for a bf16 and an f32 state.
  for (DType state : {DType::BF16, DType::F32}) {
    std::string tag = state == DType::BF16 ? "bf16" : "f32";
    add("decode_token_records_" + tag, [state](KernelSpec &s) {
      s.op = KernelOp::Decode;
      s.T = 4;
      s.statePool = s.tokenRecords = true;
      s.hasInitialState = s.hasFinalState = false;
      s.stateDType = state;
      s.activation = GateActivation::LowerBound;
      s.lowerBound = -5.0;
      s.qkL2Norm = s.betaSigmoid = true;
    });
    add("commit_token_records_" + tag, [state](KernelSpec &s) {
      s.op = KernelOp::Commit;
      s.T = 4;
      s.statePool = s.tokenRecords = s.acceptedCounts = true;
      s.hasInitialState = s.hasFinalState = false;
      s.stateDType = state;
    });
  }
  add("ungated_additive_bf16_state", [](KernelSpec &s) {
    s.gate = GateGranularity::None;
    s.update = UpdateRule::Additive;
    s.stateDType = DType::BF16;
  });
  return specs;
}

/// The backward's three kernels compile (NVRTC, no GPU needed) and have
/// their own cache key; a spec whose prologue adjoints have no kernel yet
/// is refused with a message instead of failing inside a pass.
TEST(JitCodegen, BackwardKernelsCompileWithNvrtc) {
  KernelSpec plain = smallSpec();
  plain.HV = plain.H;
  plain.op = KernelOp::Backward;
  // Every fused option at once: GVA's group sum and the gate parameters'
  // sums add two kernels.
  KernelSpec fused = smallSpec();
  fused.op = KernelOp::Backward;
  fused.qkL2Norm = fused.betaSigmoid = true;
  fused.activation = GateActivation::Softplus;
  fused.hasALog = fused.hasDtBias = true;
  ASSERT_NE(fused.HV, fused.H);
  rt::Expected<const rt::Nvrtc *> nvrtc = rt::Nvrtc::load();
  ASSERT_TRUE(nvrtc.ok()) << nvrtc.error();
  // Besides the defaults (auto products: tf32 for 16-bit inputs, prepared
  // scans split by 32 columns, thinned barriers), every other backward
  // choice compiles too: f32 FMA and forced tf32 products, narrower or no
  // column splits, every barrier, scans that compute everything, 256-thread
  // per-chunk kernels, a map that reads shared copies of the states,
  // 32-token chunks, scans with no registers bound and a 512-thread prep.
  ChunkedPipelineOptions fma, tf32, columns, unsplit, everyBarrier, unprepared,
      narrowMap, sharedStates, thirtyTwo, unboundedScansWidePrep;
  fma.gradProducts = "fma";
  tf32.gradProducts = "tf32";
  columns.gradValueTile = 16;
  unsplit.gradValueTile = 0;
  everyBarrier.thinBarriers = false;
  unprepared.gradScanPrep = false;
  narrowMap.gradMapBlockThreads = 256;
  sharedStates.gradMapStatesInPlace = false;
  unboundedScansWidePrep.gradScanBlocksPerSM = 0;
  unboundedScansWidePrep.gradPrepBlockThreads = 512;
  thirtyTwo.chunkSize = 32;
  thirtyTwo.utMethod = "forward-substitution";
  for (auto [spec, options] :
       {std::pair(plain, ChunkedPipelineOptions{}),
        std::pair(fused, ChunkedPipelineOptions{}), std::pair(fused, fma),
        std::pair(fused, tf32), std::pair(fused, columns),
        std::pair(fused, unsplit), std::pair(fused, everyBarrier),
        std::pair(plain, unprepared), std::pair(fused, unprepared),
        std::pair(fused, narrowMap), std::pair(plain, sharedStates),
        std::pair(fused, sharedStates), std::pair(fused, thirtyTwo),
        std::pair(fused, unboundedScansWidePrep)}) {
    llvm::Expected<EmittedCuda> cuda = generateCuda(spec, options);
    ASSERT_TRUE(static_cast<bool>(cuda)) << llvm::toString(cuda.takeError());
    std::vector<std::string> kernels = {"kda_bwd_states", "kda_bwd_state_grads",
                                        "kda_bwd_map"};
    if (options.gradScanPrep)
      kernels.insert(kernels.begin(), "kda_bwd_prep");
    if (spec.qkL2Norm)
      kernels.insert(kernels.end(), {"kda_bwd_group_sum", "kda_bwd_gate_params"});
    ASSERT_EQ(cuda->launch.kernels.size(), kernels.size());
    for (size_t i = 0; i < kernels.size(); ++i)
      EXPECT_EQ(cuda->launch.kernels[i].name, kernels[i]);
    bool tf32Products = options.gradProducts == "tf32" ||
                        (options.gradProducts == "auto" &&
                         spec.dtype != DType::F32);
    EXPECT_EQ(cuda->source.find("tileMmaTf32") != std::string::npos,
              tf32Products);
    rt::Expected<rt::CompileOutput> cubin =
        (*nvrtc)->compile(cuda->source, "backward.cu", "sm_90a");
    EXPECT_TRUE(cubin.ok()) << cubin.error();
  }

  KernelSpec forward = plain;
  forward.op = KernelOp::Forward;
  EXPECT_NE(specKey(plain, {}), specKey(forward, {}));
  EXPECT_EQ(parseKernelOp("backward"), KernelOp::Backward);
  EXPECT_EQ(parseKernelOp(toString(KernelOp::Decode)), KernelOp::Decode);
  EXPECT_FALSE(parseKernelOp("grad").has_value());
}

TEST(JitCodegen, SupportMatrixCompilesWithNvrtc) {
  rt::Expected<const rt::Nvrtc *> nvrtc = rt::Nvrtc::load();
  ASSERT_TRUE(nvrtc.ok()) << nvrtc.error();
  auto specs = supportMatrix();
  // NVRTC is thread-safe across programs; use both cores.
  std::vector<std::future<std::string>> results;
  for (const MatrixEntry &entry : specs)
    for (const char *arch : {"sm_90a", "sm_80"})
      results.push_back(std::async(std::launch::async, [&entry, &nvrtc, arch] {
        const std::string &name = entry.name;
        ChunkedPipelineOptions options;
        options.chunkSize = 0; // what the JIT does: the largest chunk that fits
        options.decodeStateIn = entry.decodeStateIn;
        KernelSpec target = entry.spec;
        target.arch = arch;
        llvm::Expected<EmittedCuda> cuda = generateCuda(target, options);
        if (!cuda)
          return name + ": " + llvm::toString(cuda.takeError());
        // What the JIT compiles: one program per kernel.
        if (cuda->kernelSources.size() != cuda->launch.kernels.size())
          return name + ": " + std::to_string(cuda->kernelSources.size()) +
                 " kernel sources for " +
                 std::to_string(cuda->launch.kernels.size()) + " kernels";
        for (size_t i = 0; i < cuda->kernelSources.size(); ++i) {
          rt::CompileRequest request;
          request.source = cuda->kernelSources[i];
          request.programName = name + "_" + cuda->launch.kernels[i].name + ".cu";
          request.arch = arch;
          rt::Expected<rt::CompileOutput> out = (*nvrtc)->compile(request);
          if (!out)
            return name + " " + arch + ": " + out.error();
          if (out->cubin.empty())
            return name + " " + arch + ": empty cubin";
        }
        return std::string();
      }));
  for (auto &result : results)
    EXPECT_EQ(result.get(), "");
}

} // namespace
