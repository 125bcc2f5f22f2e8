//===- StatePool.cpp - The oracle of decode with a state pool -------------===//
//
// Token by token on the plain oracle (runReference with one token and an
// initial state), so pools add slot bookkeeping and nothing else to the
// arithmetic being trusted.
//
//===----------------------------------------------------------------------===//
#include "kdac/Reference/StatePool.h"

#include "kdac/Reference/Case.h"

#include <algorithm>
#include <limits>
#include <random>

using namespace kdac;

static llvm::Error fail(const llvm::Twine &message) {
  return llvm::createStringError("state pool: " + message);
}

/// Copies `count` elements at `offset` of `from` (empty stays empty).
static std::vector<double> slice(const std::vector<double> &from,
                                 int64_t offset, int64_t count) {
  if (from.empty())
    return {};
  return std::vector<double>(from.begin() + offset,
                             from.begin() + offset + count);
}

static void recordToken(const KernelSpec &step, const KdaInputs &token,
                        double *record, TokenPrologue &prologue);

llvm::Expected<std::vector<double>>
kdac::runPooledReference(const KernelSpec &spec, const KdaInputs &in,
                         StatePool &pool) {
  if (!spec.statePool)
    return fail("the spec has no state pool");
  if (spec.isCommit())
    return fail("a commit spec runs through commitPooledRecords");
  KernelSpec plain = spec;
  plain.statePool = plain.perTokenStates = plain.acceptedCounts = false;
  plain.tokenRecords = false;
  if (llvm::Error e = checkInputs(plain, in))
    return std::move(e);

  const int64_t H = spec.H, HV = spec.HV, K = spec.K, V = spec.V, T = in.T;
  const int64_t N = numSequences(spec, in), S = pool.slotsPerSequence;
  const int64_t slotSize = HV * K * V;
  if (pool.slots < 1 || int64_t(pool.states.size()) != pool.slots * slotSize)
    return fail("states must hold P * HV * K * V values with P >= 1");
  if (S < 1 || int64_t(pool.indices.size()) != N * S ||
      (!spec.perTokenStates && S != 1))
    return fail("indices must hold N (or N * S with per-token states) slots");
  if (spec.acceptedCounts != !pool.accepted.empty() ||
      (spec.acceptedCounts && int64_t(pool.accepted.size()) != N))
    return fail("accepted counts must hold N values exactly when the spec "
                "has them");
  auto checkSlot = [&](int64_t slot) -> llvm::Error {
    if (slot >= pool.slots)
      return fail("slot " + llvm::Twine(slot) + " is past the pool's " +
                  llvm::Twine(pool.slots) + " slots");
    return llvm::Error::success();
  };

  // One token of one sequence, with the running state as initial state.
  KernelSpec step = plain;
  step.B = 1;
  step.T = 1;
  step.varlen = false;
  step.hasInitialState = step.hasFinalState = true;
  const bool channel = spec.gate == GateGranularity::Channel;
  const int64_t gWidth = spec.gate == GateGranularity::None ? 0
                         : channel                          ? HV * K
                                                            : HV;

  std::vector<double> o(in.B * T * HV * V,
                        std::numeric_limits<double>::quiet_NaN());
  const int64_t width = spec.recordWidth();
  if (spec.tokenRecords)
    pool.records.assign(N * T * HV * width,
                        std::numeric_limits<double>::quiet_NaN());
  TokenPrologue prologue;
  for (int64_t n = 0; n < N; ++n) {
    int64_t batch = spec.varlen ? 0 : n;
    int64_t start = spec.varlen ? in.cuSeqlens[n] : 0;
    int64_t length = spec.varlen ? in.cuSeqlens[n + 1] - start : T;
    int64_t column = spec.acceptedCounts ? pool.accepted[n] - 1 : 0;
    if (column < 0 || column >= S)
      continue; // the kernel skips a sequence whose count points nowhere
    int64_t slot = pool.indices[n * S + column];
    if (slot < 0)
      continue;
    if (llvm::Error e = checkSlot(slot))
      return std::move(e);

    KdaInputs token;
    token.B = 1;
    token.T = 1;
    token.aLog = in.aLog;
    token.dtBias = in.dtBias;
    token.initialState = slice(pool.states, slot * slotSize, slotSize);
    for (int64_t t = 0; t < length; ++t) {
      int64_t row = batch * T + start + t;
      token.q = slice(in.q, row * H * K, H * K);
      token.k = slice(in.k, row * H * K, H * K);
      token.v = slice(in.v, row * HV * V, HV * V);
      token.g = slice(in.g, row * gWidth, gWidth);
      token.beta = slice(in.beta, row * HV, HV);
      if (spec.tokenRecords)
        recordToken(step, token, &pool.records[row * HV * width], prologue);
      llvm::Expected<KdaOutputs> out = runReference(step, token);
      if (!out)
        return out.takeError();
      std::copy(out->o.begin(), out->o.end(), o.begin() + row * HV * V);
      token.initialState = std::move(out->finalState);
      if (!spec.perTokenStates || t >= S)
        continue;
      int64_t tokenSlot = pool.indices[n * S + t];
      if (tokenSlot < 0)
        continue;
      if (llvm::Error e = checkSlot(tokenSlot))
        return std::move(e);
      std::copy(token.initialState.begin(), token.initialState.end(),
                pool.states.begin() + tokenSlot * slotSize);
    }
    if (!spec.perTokenStates && !spec.tokenRecords)
      std::copy(token.initialState.begin(), token.initialState.end(),
                pool.states.begin() + slot * slotSize);
  }
  return o;
}

/// The record of the one token of `token` (a one-token spec whose initial
/// state is the state before it, kv): per value head, k, g and
/// v' = beta (v - k^T Diag(exp g) S).
static void recordToken(const KernelSpec &step, const KdaInputs &token,
                        double *record, TokenPrologue &prologue) {
  const int64_t HV = step.HV, K = step.K, V = step.V;
  for (int64_t hv = 0; hv < HV; ++hv) {
    tokenPrologue(step, token, 0, hv, prologue);
    double *row = record + hv * step.recordWidth();
    const double *S = &token.initialState[hv * K * V];
    for (int64_t i = 0; i < K; ++i) {
      row[i] = prologue.k[i];
      row[K + i] = prologue.logDecay[i];
    }
    for (int64_t j = 0; j < V; ++j) {
      double correction = token.v[hv * V + j];
      for (int64_t i = 0; i < K; ++i)
        correction -=
            std::exp(prologue.logDecay[i]) * prologue.k[i] * S[i * V + j];
      row[2 * K + j] = prologue.beta * correction;
    }
  }
}

llvm::Error kdac::commitPooledRecords(const KernelSpec &spec, int64_t T,
                                      StatePool &pool) {
  if (!spec.isCommit())
    return fail("commitPooledRecords needs a commit spec");
  const int64_t HV = spec.HV, K = spec.K, V = spec.V;
  const int64_t N = int64_t(pool.indices.size()), width = spec.recordWidth();
  const int64_t slotSize = HV * K * V;
  if (int64_t(pool.accepted.size()) != N ||
      int64_t(pool.records.size()) != N * T * HV * width)
    return fail("a commit needs N accepted counts and N * T * HV * (2K + V) "
                "record values");
  for (int64_t n = 0; n < N; ++n) {
    int64_t slot = pool.indices[n];
    int64_t kept = std::min<int64_t>(pool.accepted[n], T);
    if (slot < 0 || kept <= 0)
      continue;
    if (slot >= pool.slots)
      return fail("slot " + llvm::Twine(slot) + " is past the pool's " +
                  llvm::Twine(pool.slots) + " slots");
    for (int64_t t = 0; t < kept; ++t)
      for (int64_t hv = 0; hv < HV; ++hv) {
        const double *row = &pool.records[((n * T + t) * HV + hv) * width];
        double *S = &pool.states[slot * slotSize + hv * K * V];
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j)
            S[i * V + j] = std::exp(row[K + i]) * S[i * V + j] +
                           row[i] * row[2 * K + j];
      }
  }
  return llvm::Error::success();
}

StatePool kdac::makeRandomPool(const KernelSpec &spec, int64_t numSequences,
                               int64_t slotsPerSequence, uint64_t seed) {
  StatePool pool;
  const int64_t N = numSequences, S = slotsPerSequence;
  pool.slots = 2 * N * S + 1;
  pool.slotsPerSequence = S;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  TensorDType dtype = toTensorDType(spec.stateDType);
  pool.states.resize(pool.slots * spec.HV * spec.K * spec.V);
  for (double &x : pool.states)
    x = roundToDType(normal(rng), dtype);
  std::vector<int32_t> order(pool.slots);
  for (int64_t i = 0; i < pool.slots; ++i)
    order[i] = int32_t(i);
  std::shuffle(order.begin(), order.end(), rng);
  pool.indices.assign(order.begin(), order.begin() + N * S);
  if (spec.acceptedCounts) {
    std::uniform_int_distribution<int32_t> count(1, int32_t(S));
    for (int64_t n = 0; n < N; ++n)
      pool.accepted.push_back(n == 1 ? 0 : count(rng));
  }
  for (int64_t n = 3; n < N; n += 4) {
    int64_t column = spec.acceptedCounts ? pool.accepted[n] - 1 : 0;
    pool.indices[n * S + column] = -1;
  }
  return pool;
}
