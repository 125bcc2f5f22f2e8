//===- StatePoolTest.cpp - The pooled decode oracle against the plain one -===//
//
// runPooledReference must be the plain oracle plus slot bookkeeping: a
// sequence's output and state are what runReference gives from the slot's
// state; skipped sequences touch nothing; per-token slots hold each prefix's
// state; accepted counts pick the start column.
//
//===----------------------------------------------------------------------===//
#include "kdac/Reference/Case.h"
#include "kdac/Reference/StatePool.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace kdac;

namespace {

KernelSpec pooledSpec(bool perToken, bool accepted) {
  KernelSpec spec;
  spec.H = 1;
  spec.HV = 2;
  spec.K = 8;
  spec.V = 4;
  spec.dtype = spec.betaDType = DType::F32;
  spec.B = kDynamic;
  spec.op = KernelOp::Decode;
  spec.statePool = true;
  spec.perTokenStates = perToken;
  spec.acceptedCounts = accepted;
  spec.qkL2Norm = spec.betaSigmoid = true;
  return spec;
}

/// The same problem without the pool: one sequence from a given state.
KdaOutputs plainRun(const KernelSpec &pooled, const KdaInputs &in, int64_t n,
                    int64_t tokens, const std::vector<double> &state) {
  KernelSpec spec = pooled;
  spec.statePool = spec.perTokenStates = spec.acceptedCounts = false;
  spec.tokenRecords = false;
  spec.T = kDynamic;
  spec.hasInitialState = spec.hasFinalState = true;
  KdaInputs one;
  one.B = 1;
  one.T = tokens;
  auto rows = [&](const std::vector<double> &x, int64_t width) {
    auto first = x.begin() + n * in.T * width;
    return std::vector<double>(first, first + tokens * width);
  };
  one.q = rows(in.q, spec.H * spec.K);
  one.k = rows(in.k, spec.H * spec.K);
  one.v = rows(in.v, spec.HV * spec.V);
  one.g = rows(in.g, spec.gate == GateGranularity::Channel ? spec.HV * spec.K
                                                         : spec.HV);
  one.aLog = in.aLog;
  one.dtBias = in.dtBias;
  one.beta = rows(in.beta, spec.HV);
  one.initialState = state;
  llvm::Expected<KdaOutputs> out = runReference(spec, one);
  EXPECT_TRUE(static_cast<bool>(out)) << llvm::toString(out.takeError());
  return *out;
}

std::vector<double> slotOf(const StatePool &pool, int64_t slot,
                           int64_t size) {
  auto first = pool.states.begin() + slot * size;
  return std::vector<double>(first, first + size);
}

void expectNear(const std::vector<double> &got, const std::vector<double> &want,
                const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-12) << what << " [" << i << "]";
}

TEST(StatePool, SlotsFollowIndicesAndNegativeSkips) {
  KernelSpec spec = pooledSpec(false, false);
  const int64_t N = 8, T = 2, slotSize = spec.HV * spec.K * spec.V;
  KernelSpec plain = spec;
  plain.statePool = false;
  KdaCase c = makeRandomCase(plain, N, T, {}, 5);
  StatePool pool = makeRandomPool(spec, N, 1, 6);
  const StatePool before = pool;
  llvm::Expected<std::vector<double>> o =
      runPooledReference(spec, c.inputs, pool);
  ASSERT_TRUE(static_cast<bool>(o)) << llvm::toString(o.takeError());
  for (int64_t n = 0; n < N; ++n) {
    int32_t slot = before.indices[n];
    auto oRow = [&](const std::vector<double> &x) {
      auto first = x.begin() + n * T * spec.HV * spec.V;
      return std::vector<double>(first, first + T * spec.HV * spec.V);
    };
    if (slot < 0) {
      for (double x : oRow(*o))
        EXPECT_TRUE(std::isnan(x)) << "skipped sequence " << n << " has output";
      continue;
    }
    KdaOutputs want = plainRun(spec, c.inputs, n, T,
                               slotOf(before, slot, slotSize));
    expectNear(oRow(*o), want.o, "o of sequence " + std::to_string(n));
    expectNear(slotOf(pool, slot, slotSize), want.finalState,
               "slot of sequence " + std::to_string(n));
  }
  // Slots no sequence names are untouched.
  for (int64_t slot = 0; slot < pool.slots; ++slot) {
    if (!llvm::is_contained(before.indices, slot)) {
      EXPECT_EQ(slotOf(pool, slot, slotSize), slotOf(before, slot, slotSize));
    }
  }
}

TEST(StatePool, PerTokenSlotsHoldPrefixStatesFromTheAcceptedColumn) {
  KernelSpec spec = pooledSpec(true, true);
  const int64_t N = 6, T = 3, S = 4, slotSize = spec.HV * spec.K * spec.V;
  KernelSpec plain = spec;
  plain.statePool = plain.perTokenStates = plain.acceptedCounts = false;
  KdaCase c = makeRandomCase(plain, N, T, {}, 7);
  StatePool pool = makeRandomPool(spec, N, S, 8);
  const StatePool before = pool;
  llvm::Expected<std::vector<double>> o =
      runPooledReference(spec, c.inputs, pool);
  ASSERT_TRUE(static_cast<bool>(o)) << llvm::toString(o.takeError());
  int checked = 0;
  for (int64_t n = 0; n < N; ++n) {
    int64_t column = before.accepted[n] - 1;
    if (column < 0 || before.indices[n * S + column] < 0)
      continue;
    std::vector<double> start =
        slotOf(before, before.indices[n * S + column], slotSize);
    for (int64_t t = 0; t < T; ++t) {
      KdaOutputs want = plainRun(spec, c.inputs, n, t + 1, start);
      int32_t slot = before.indices[n * S + t];
      if (slot >= 0)
        expectNear(slotOf(pool, slot, slotSize), want.finalState,
                   "state after token " + std::to_string(t));
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
  // Sequence 1 has accepted count 0: skipped, its output never written.
  for (int64_t i = 0; i < T * spec.HV * spec.V; ++i)
    EXPECT_TRUE(std::isnan((*o)[1 * T * spec.HV * spec.V + i]));
}

/// Token records instead of per-token states: the call's outputs are the
/// pool run's, the pool is untouched, and committing any accepted count
/// (0, within T, past T) rebuilds the state after that prefix exactly.
TEST(StatePool, CommittedRecordsRebuildThePrefixStates) {
  for (GateGranularity gate : {GateGranularity::Channel, GateGranularity::Scalar}) {
    KernelSpec spec = pooledSpec(false, false);
    spec.gate = gate;
    spec.activation = GateActivation::LowerBound;
    spec.lowerBound = -5.0;
    spec.hasALog = spec.hasDtBias = true;
    spec.T = 3;
    spec.tokenRecords = true;
    const int64_t N = 8, T = 3, slotSize = spec.HV * spec.K * spec.V;
    ASSERT_EQ(validate(spec), "");
    KernelSpec plain = spec;
    plain.statePool = plain.tokenRecords = false;
    KdaCase c = makeRandomCase(plain, N, T, {}, 11);
    StatePool pool = makeRandomPool(spec, N, 1, 12);
    const StatePool before = pool;
    KernelSpec slots = spec;
    slots.tokenRecords = false;
    StatePool slotted = pool;
    llvm::Expected<std::vector<double>> wantO =
        runPooledReference(slots, c.inputs, slotted);
    ASSERT_TRUE(static_cast<bool>(wantO)) << llvm::toString(wantO.takeError());
    llvm::Expected<std::vector<double>> o =
        runPooledReference(spec, c.inputs, pool);
    ASSERT_TRUE(static_cast<bool>(o)) << llvm::toString(o.takeError());
    for (size_t i = 0; i < o->size(); ++i) {
      if (!std::isnan((*wantO)[i])) {
        EXPECT_NEAR((*o)[i], (*wantO)[i], 1e-12) << "o [" << i << "]";
      }
    }
    EXPECT_EQ(pool.states, before.states) << "a records call wrote the pool";

    KernelSpec commit = spec;
    commit.op = KernelOp::Commit;
    commit.acceptedCounts = true;
    ASSERT_EQ(validate(commit), "");
    pool.accepted = {0, 1, 2, 3, 4, 1, 2, 3}; // 4: past T, clamped
    llvm::Error e = commitPooledRecords(commit, T, pool);
    ASSERT_FALSE(e) << llvm::toString(std::move(e));
    for (int64_t n = 0; n < N; ++n) {
      int32_t slot = before.indices[n];
      if (slot < 0)
        continue;
      int64_t kept = std::min<int64_t>(pool.accepted[n], T);
      std::vector<double> start = slotOf(before, slot, slotSize);
      std::vector<double> want =
          kept == 0 ? start : plainRun(spec, c.inputs, n, kept, start).finalState;
      expectNear(slotOf(pool, slot, slotSize), want,
                 std::string(toString(gate)) + " gate, sequence " +
                     std::to_string(n) + " keeping " + std::to_string(kept));
    }
  }
}

TEST(StatePool, MalformedPoolsAreReported) {
  KernelSpec spec = pooledSpec(false, false);
  KernelSpec plain = spec;
  plain.statePool = false;
  KdaCase c = makeRandomCase(plain, 2, 1, {}, 9);
  StatePool pool = makeRandomPool(spec, 2, 1, 10);
  pool.indices[0] = int32_t(pool.slots);
  llvm::Expected<std::vector<double>> o =
      runPooledReference(spec, c.inputs, pool);
  ASSERT_FALSE(static_cast<bool>(o));
  EXPECT_NE(llvm::toString(o.takeError()).find("past the pool"),
            std::string::npos);
}

} // namespace
