//===- Interpreter.cpp - Runs kda IR on the CPU ---------------------------===//
//
// The driver: finds @kda_forward, binds its arguments from the host inputs,
// evaluates the body op by op (dispatching to one evaluate function per op)
// and reads o and the final state off func.return. Also the shape checks the
// per-op evaluators share, so that malformed IR or mismatched inputs are
// reported as errors rather than read out of bounds.
//
//===----------------------------------------------------------------------===//
#include "kdac/Interpreter/Interpreter.h"

#include "Evaluator.h"

#include "kdac/Frontend/SpecToIR.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace kdac::interp;
// Named one by one: kdac also has a (safetensors) Tensor.
using kdac::GateGranularity;
using kdac::InterpreterOptions;
using kdac::KdaInputs;
using kdac::KdaOutputs;
using kdac::kEntryFunctionName;
using kdac::KernelSpec;
using kdac::StateLayout;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::make_error<llvm::StringError>(msg.str(),
                                             llvm::inconvertibleErrorCode());
}

template <typename Printable> static std::string print(Printable &&x) {
  std::string s;
  llvm::raw_string_ostream os(s);
  x.print(os);
  return s;
}

llvm::Error kdac::interp::opError(Operation *op, const llvm::Twine &msg) {
  return fail(op->getName().getStringRef() + " at " + print(op->getLoc()) +
              ": " + msg);
}

std::string kdac::interp::shapeString(ArrayRef<int64_t> shape) {
  if (shape.empty())
    return "scalar";
  std::string s;
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? "x" : "") + std::to_string(d);
  return s;
}

llvm::Error kdac::interp::expectShape(Operation *op, StringRef what,
                                      ArrayRef<int64_t> got,
                                      ArrayRef<int64_t> want) {
  if (got == want)
    return llvm::Error::success();
  return opError(op, what + " has shape " + shapeString(got) + ", expected " +
                         shapeString(want));
}

llvm::Expected<SmallVector<int64_t>> kdac::interp::staticShape(Operation *op,
                                                               Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return opError(op, "needs a static result shape, got " + print(type));
  return SmallVector<int64_t>(tensor.getShape());
}

SmallVector<int64_t, 4> SequenceGeometry::stateShape() const {
  return {N, HV, vkLayout ? V : K, vkLayout ? K : V};
}

llvm::Expected<SequenceGeometry>
kdac::interp::computeGeometry(Operation *op, const SequenceOperands &s) {
  SequenceGeometry geo;
  if (s.q.size() != 4)
    return opError(op, "q has shape " + shapeString(s.q) +
                           ", expected [B, T, H, K]");
  geo.B = s.q[0], geo.T = s.q[1], geo.H = s.q[2], geo.K = s.q[3];
  if (llvm::Error e = expectShape(op, "k", s.k, s.q))
    return std::move(e);
  if (s.v.size() != 4)
    return opError(op, "v has shape " + shapeString(s.v) +
                           ", expected [B, T, HV, V]");
  geo.HV = s.v[2], geo.V = s.v[3];
  if (llvm::Error e = expectShape(op, "v", s.v, {geo.B, geo.T, geo.HV, geo.V}))
    return std::move(e);
  if (geo.H <= 0 || geo.HV % geo.H != 0)
    return opError(op, "needs HV (" + llvm::Twine(geo.HV) +
                           ") to be a positive multiple of H (" +
                           llvm::Twine(geo.H) + ")");
  switch (s.gate) {
  case kda::GateGranularity::none:
    if (s.g)
      return opError(op, "has a g operand but gate = none");
    break;
  case kda::GateGranularity::scalar:
  case kda::GateGranularity::channel: {
    if (!s.g)
      return opError(op, "needs a g operand unless gate = none");
    SmallVector<int64_t, 4> want = {geo.B, geo.T, geo.HV};
    if (s.gate == kda::GateGranularity::channel)
      want.push_back(geo.K);
    if (llvm::Error e = expectShape(op, "g", *s.g, want))
      return std::move(e);
    break;
  }
  }
  if (llvm::Error e = expectShape(op, "beta", s.beta, {geo.B, geo.T, geo.HV}))
    return std::move(e);

  if (s.cuSeqlens) {
    const std::vector<int64_t> &cu = *s.cuSeqlens;
    if (geo.B != 1)
      return opError(op,
                     "cu_seqlens needs B == 1, got B = " + llvm::Twine(geo.B));
    if (cu.size() < 2 || cu.front() != 0 || cu.back() != geo.T)
      return opError(op, "cu_seqlens must run from 0 to T = " +
                             llvm::Twine(geo.T) + " in at least 2 entries");
    for (size_t i = 1; i < cu.size(); ++i)
      if (cu[i] < cu[i - 1])
        return opError(op, "cu_seqlens decreases at entry " +
                               llvm::Twine(uint64_t(i)));
    geo.N = int64_t(cu.size()) - 1;
    geo.bos.assign(cu.begin(), cu.end() - 1);
    geo.eos.assign(cu.begin() + 1, cu.end());
  } else {
    geo.N = geo.B;
    for (int64_t n = 0; n < geo.N; ++n) {
      geo.bos.push_back(n * geo.T);
      geo.eos.push_back((n + 1) * geo.T);
    }
  }
  geo.vkLayout = s.vkLayout;
  if (s.state)
    if (llvm::Error e =
            expectShape(op, "initial_state", *s.state, geo.stateShape()))
      return std::move(e);
  return geo;
}

template <typename T>
llvm::Error Evaluator<T>::evaluateOp(Operation *op, Env<T> &env) {
  for (auto [i, operand] : llvm::enumerate(op->getOperands())) {
    const Tensor<T> *value = env.lookup(operand);
    if (!value)
      return opError(op,
                     "operand #" + llvm::Twine(uint64_t(i)) + " has no value");
    // Only cu_seqlens is integer; anything else would be read as empty data.
    bool integerType = isa<IntegerType>(getElementTypeOrSelf(operand));
    if (value->isInteger != integerType)
      return opError(op, "operand #" + llvm::Twine(uint64_t(i)) + " of type " +
                             print(operand.getType()) + " holds " +
                             (value->isInteger ? "integer" : "float") +
                             " data");
  }
  return llvm::TypeSwitch<Operation *, llvm::Error>(op)
      .Case<kda::RecurrenceOp, kda::L2NormOp, kda::SigmoidOp,
            kda::GateActivationOp, kda::ChunkLoopOp, kda::CumsumOp,
            kda::DecayedGramOp, kda::UTInverseOp, kda::ForwardSubstitutionOp,
            kda::MatmulOp, kda::AddIdentityOp, kda::SubOp, kda::ExtractBlockOp,
            kda::InsertBlockOp, kda::ZeroOp, kda::WYOp, kda::ScaleRowsOp,
            kda::StateApplyOp, kda::OutputOp, kda::StateUpdateOp,
            kda::RecurrenceGradOp, kda::ChunkGradLoopOp, kda::ChunkStatesOp,
            kda::ChunkStateGradsOp, kda::ChunkGradMapOp, kda::AddOp,
            kda::ReverseCumsumOp, kda::DecayedGramGradOp, kda::UTInverseGradOp,
            kda::WYGradOp, kda::StateApplyGradOp, kda::OutputGradOp,
            kda::StateUpdateGradOp, kda::ScaleRowsGradOp, kda::L2NormGradOp,
            kda::SigmoidGradOp, kda::GateActivationGradOp, kda::GroupSumOp,
            kda::ChunkMapOp, kda::ChunkScanOp, kda::DecayRowsOp,
            kda::LastRowExpOp, kda::DecayedOutputOp,
            kda::DecayedStateUpdateOp, kda::MulOp, kda::RowDotOp,
            kda::ColumnSumOp, kda::AddToLastRowOp, kda::TrilOp>(
          [&](auto concrete) { return evaluate(concrete, env); })
      .Default([&](Operation *other) {
        return opError(other, "op not supported by the interpreter");
      });
}

namespace {
/// One argument of @kda_forward as the inputs supply it.
struct Argument {
  const char *name;
  SmallVector<int64_t, 4> shape;
  const std::vector<double> *data = nullptr;
  const std::vector<int64_t> *ints = nullptr;
};
} // namespace

/// The arguments buildRecurrenceModule gives @kda_forward for \p spec, with
/// the run-time shapes of \p in.
static SmallVector<Argument> expectedArguments(const KernelSpec &spec,
                                               const KdaInputs &in) {
  const int64_t B = in.B, T = in.T, H = spec.H, HV = spec.HV, K = spec.K,
                V = spec.V, N = kdac::numSequences(spec, in);
  bool channel = spec.gate == GateGranularity::Channel;
  SmallVector<Argument> args = {{"q", {B, T, H, K}, &in.q},
                                {"k", {B, T, H, K}, &in.k},
                                {"v", {B, T, HV, V}, &in.v}};
  if (spec.gate == GateGranularity::Channel)
    args.push_back({"g", {B, T, HV, K}, &in.g});
  else if (spec.gate == GateGranularity::Scalar)
    args.push_back({"g", {B, T, HV}, &in.g});
  args.push_back({"beta", {B, T, HV}, &in.beta});
  if (spec.hasALog)
    args.push_back({"A_log", {HV}, &in.aLog});
  if (spec.hasDtBias)
    args.push_back({"dt_bias", {channel ? HV * K : HV}, &in.dtBias});
  if (spec.hasInitialState) {
    bool kv = spec.stateLayout == StateLayout::KV;
    args.push_back(
        {"initial_state", {N, HV, kv ? K : V, kv ? V : K}, &in.initialState});
  }
  if (spec.varlen)
    args.push_back({"cu_seqlens", {N + 1}, nullptr, &in.cuSeqlens});
  return args;
}

/// Fails unless the IR type of an argument admits the inputs' shape.
static llvm::Error checkArgumentType(func::FuncOp func, unsigned index,
                                     const Argument &arg) {
  Type type = func.getArgument(index).getType();
  auto tensor = dyn_cast<RankedTensorType>(type);
  bool fits =
      tensor && tensor.getRank() == int64_t(arg.shape.size()) &&
      isa<IntegerType>(tensor.getElementType()) == (arg.ints != nullptr);
  for (unsigned d = 0; fits && d < arg.shape.size(); ++d)
    fits = tensor.isDynamicDim(d) || tensor.getDimSize(d) == arg.shape[d];
  if (fits)
    return llvm::Error::success();
  return opError(func, "argument #" + llvm::Twine(index) + " (" + arg.name +
                           ") has type " + print(type) +
                           ", which does not fit the inputs' " +
                           (arg.ints ? "integer" : "float") +
                           " tensor of shape " + shapeString(arg.shape));
}

static std::vector<double> toDoubles(const Tensor<double> &t) { return t.data; }
static std::vector<double> toDoubles(const Tensor<float> &t) {
  return std::vector<double>(t.data.begin(), t.data.end());
}

/// Runs \p func on \p args and returns its results as doubles.
template <typename T>
static llvm::Expected<std::vector<std::vector<double>>>
run(func::FuncOp func, ArrayRef<Argument> args) {
  Env<T> env;
  for (auto [i, arg] : llvm::enumerate(args)) {
    Tensor<T> t;
    t.shape = arg.shape;
    if (arg.ints) {
      t.isInteger = true;
      t.ints = *arg.ints;
    } else {
      t.data.assign(arg.data->begin(), arg.data->end());
    }
    env.bind(func.getArgument(i), std::move(t));
  }

  Block &body = func.getBody().front();
  for (Operation &op : body.without_terminator())
    if (llvm::Error e = Evaluator<T>::evaluateOp(&op, env))
      return std::move(e);

  auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
  if (!ret)
    return opError(body.getTerminator(),
                   "expected func.return to end @" + func.getSymName());
  std::vector<std::vector<double>> results;
  for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
    const Tensor<T> *t = env.lookup(value);
    if (!t || t->isInteger)
      return opError(ret, "result #" + llvm::Twine(uint64_t(i)) +
                              " has no float value");
    results.push_back(toDoubles(*t));
  }
  return results;
}

/// The entry function \p name of \p module, checked against \p args.
static llvm::Expected<func::FuncOp> entryFunction(ModuleOp module,
                                                  StringRef name,
                                                  ArrayRef<Argument> args) {
  auto func = module.lookupSymbol<func::FuncOp>(name);
  if (!func || func.isExternal())
    return fail("module has no function @" + name + " with a body");
  if (!func.getBody().hasOneBlock())
    return opError(func, "expected a body of one block");
  if (func.getNumArguments() != args.size())
    return opError(func, "has " + llvm::Twine(func.getNumArguments()) +
                             " arguments, but the spec implies " +
                             llvm::Twine(uint64_t(args.size())));
  for (auto [i, arg] : llvm::enumerate(args))
    if (llvm::Error e = checkArgumentType(func, i, arg))
      return std::move(e);
  return func;
}

static llvm::Expected<std::vector<std::vector<double>>>
runIn(func::FuncOp func, ArrayRef<Argument> args,
      const InterpreterOptions &options) {
  if (options.precision == InterpreterOptions::Precision::F32)
    return run<float>(func, args);
  return run<double>(func, args);
}

llvm::Expected<KdaOutputs> kdac::interpret(ModuleOp module,
                                           const KernelSpec &spec,
                                           const KdaInputs &inputs,
                                           const InterpreterOptions &options) {
  if (llvm::Error e = kdac::checkInputs(spec, inputs))
    return std::move(e);
  SmallVector<Argument> args = expectedArguments(spec, inputs);
  llvm::Expected<func::FuncOp> func =
      entryFunction(module, kEntryFunctionName, args);
  if (!func)
    return func.takeError();
  llvm::Expected<std::vector<std::vector<double>>> results =
      runIn(*func, args, options);
  if (!results)
    return results.takeError();
  auto ret = cast<func::ReturnOp>(func->getBody().front().getTerminator());
  if (results->size() < 1 || results->size() > 2)
    return opError(ret, "expected to return o and optionally the final "
                        "state, got " +
                            llvm::Twine(uint64_t(results->size())) + " values");
  KdaOutputs out;
  out.o = std::move((*results)[0]);
  if (results->size() == 2)
    out.finalState = std::move((*results)[1]);
  int64_t oElements = inputs.B * inputs.T * spec.HV * spec.V;
  if (int64_t(out.o.size()) != oElements)
    return opError(
        ret, "o has " + llvm::Twine(uint64_t(out.o.size())) +
                 " elements, expected B*T*HV*V = " + llvm::Twine(oElements));
  return out;
}

llvm::Expected<kdac::KdaGradients>
kdac::interpretGradients(ModuleOp module, const KernelSpec &spec,
                         const KdaInputs &inputs, const KdaCotangents &cot,
                         const InterpreterOptions &options) {
  if (llvm::Error e = kdac::checkInputs(spec, inputs))
    return std::move(e);
  SmallVector<Argument> args = expectedArguments(spec, inputs);
  const int64_t N = kdac::numSequences(spec, inputs);
  const bool kv = spec.stateLayout == StateLayout::KV;
  SmallVector<int64_t, 4> stateShape = {N, spec.HV, kv ? spec.K : spec.V,
                                        kv ? spec.V : spec.K};
  const SmallVector<int64_t, 4> oShape = {inputs.B, inputs.T, spec.HV, spec.V};
  if (int64_t(cot.dO.size()) != Tensor<double>::numElementsOf(oShape))
    return fail("do has " + llvm::Twine(uint64_t(cot.dO.size())) +
                " elements, expected B*T*HV*V");
  std::vector<double> zeroDht;
  args.push_back({"do", oShape, &cot.dO});
  if (spec.hasFinalState) {
    const std::vector<double> *dht = &cot.dFinalState;
    if (dht->empty()) {
      zeroDht.assign(Tensor<double>::numElementsOf(stateShape), 0.0);
      dht = &zeroDht;
    } else if (int64_t(dht->size()) != Tensor<double>::numElementsOf(stateShape)) {
      return fail("dht has " + llvm::Twine(uint64_t(dht->size())) +
                  " elements, expected the final state's");
    }
    args.push_back({"dht", stateShape, dht});
  }
  llvm::Expected<func::FuncOp> func =
      entryFunction(module, kGradientFunctionName, args);
  if (!func)
    return func.takeError();
  llvm::Expected<std::vector<std::vector<double>>> results =
      runIn(*func, args, options);
  if (!results)
    return results.takeError();
  kdac::KdaGradients grads;
  SmallVector<std::vector<double> *> slots = {&grads.dq, &grads.dk, &grads.dv};
  if (spec.gate != GateGranularity::None)
    slots.push_back(&grads.dg);
  slots.push_back(&grads.dbeta);
  if (spec.hasALog)
    slots.push_back(&grads.dALog);
  if (spec.hasDtBias)
    slots.push_back(&grads.dDtBias);
  if (spec.hasInitialState)
    slots.push_back(&grads.dInitialState);
  if (results->size() != slots.size())
    return opError(*func, "returns " + llvm::Twine(uint64_t(results->size())) +
                              " gradients, the spec implies " +
                              llvm::Twine(uint64_t(slots.size())));
  for (auto [slot, result] : llvm::zip(slots, *results))
    *slot = std::move(result);
  return grads;
}

template struct kdac::interp::Evaluator<double>;
template struct kdac::interp::Evaluator<float>;
