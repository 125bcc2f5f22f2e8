//===- KDAGradOps.cpp - Verifiers of the backward kda ops -----------------===//
//
// A gradient has its input's shape; an adjoint op's results have the shapes
// of the forward op's operands. Checking that here means a malformed
// backward (written by hand or by a buggy kda-chunk-adjoint) fails at the op
// with a located message rather than in the interpreter.
//
//===----------------------------------------------------------------------===//
#include "KDA/KDAOps.h"
#include "KDAShapeChecks.h"

#include "kdac/Spec/Limits.h"

#include "llvm/ADT/StringExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kda;

static RankedTensorType typeOf(Value value) {
  return cast<RankedTensorType>(value.getType());
}

/// `got` has `want`'s shape (dynamic sizes match anything).
static bool sameShape(RankedTensorType got, RankedTensorType want) {
  if (got.getRank() != want.getRank())
    return false;
  for (int64_t i = 0; i < got.getRank(); ++i)
    if (!got.isDynamicDim(i) && !want.isDynamicDim(i) &&
        got.getDimSize(i) != want.getDimSize(i))
      return false;
  return true;
}

/// Each result i is the cotangent of `of[i]`: same shape. `names` label
/// them in the message.
static LogicalResult verifyCotangents(Operation *op, ValueRange results,
                                      ArrayRef<Value> of,
                                      ArrayRef<StringRef> names) {
  if (results.size() != of.size())
    return op->emitOpError() << "expects " << of.size() << " results ("
                             << llvm::join(names, ", ") << "), got "
                             << results.size();
  for (auto [i, result, input] : llvm::enumerate(results, of))
    if (!sameShape(typeOf(result), typeOf(input)))
      return op->emitOpError()
             << "expects result #" << i << " (" << names[i] << ") of shape "
             << typeOf(input) << "'s, got " << result.getType();
  return success();
}

/// Each operand, by name, is a static f32 tile of the given shape.
static LogicalResult verifyTiles(
    Operation *op,
    std::initializer_list<std::tuple<StringRef, Value, SmallVector<int64_t>>>
        tiles) {
  for (auto &[name, value, shape] : tiles) {
    RankedTensorType type = typeOf(value);
    if (!type.hasStaticShape() || type.getShape() != ArrayRef<int64_t>(shape))
      return op->emitOpError()
             << "expects " << name << " of shape ["
             << llvm::join(llvm::map_range(shape, [](int64_t d) {
                             return std::to_string(d);
                           }), ", ")
             << "], got " << type;
  }
  return success();
}

/// The [rows, cols] of a static matrix operand, or failure.
static FailureOr<std::pair<int64_t, int64_t>> matrixDims(Operation *op,
                                                         StringRef name,
                                                         Value value) {
  RankedTensorType type = typeOf(value);
  if (!type.hasStaticShape() || type.getRank() != 2)
    return op->emitOpError() << "expects " << name
                             << " to be a static matrix, got " << type;
  return std::make_pair(type.getDimSize(0), type.getDimSize(1));
}

/// do has o's shape; its element type is the cotangent's own (f32 for a bf16
/// o), so it is checked as an output of v's element type.
static RankedTensorType cotangentAsOutput(Value dOut, Value v) {
  return typeOf(dOut).clone(typeOf(v).getElementType());
}

//===----------------------------------------------------------------------===//
// kda.recurrence_grad
//===----------------------------------------------------------------------===//

double RecurrenceGradOp::getEffectiveScale() {
  if (FloatAttr scale = getScaleAttr())
    return scale.getValueAsDouble();
  return 1.0 / std::sqrt(double(typeOf(getQ()).getDimSize(3)));
}

SmallVector<Value> RecurrenceGradOp::getDifferentiatedInputs() {
  SmallVector<Value> inputs = {getQ(), getK(), getV()};
  if (getG())
    inputs.push_back(getG());
  inputs.push_back(getBeta());
  for (Value optional : {getALog(), getDtBias(), getInitialState()})
    if (optional)
      inputs.push_back(optional);
  return inputs;
}

/// Names of the inputs with a gradient, as getDifferentiatedInputs orders
/// them.
static SmallVector<StringRef> gradientNames(bool g, bool aLog, bool dtBias,
                                            bool initial) {
  SmallVector<StringRef> names = {"dq", "dk", "dv"};
  if (g)
    names.push_back("dg");
  names.push_back("dbeta");
  if (aLog)
    names.push_back("dA_log");
  if (dtBias)
    names.push_back("ddt_bias");
  if (initial)
    names.push_back("dh0");
  return names;
}

LogicalResult RecurrenceGradOp::verify() {
  ShapeChecker shapes(*this);
  FailureOr<HeadDims> dims = verifyHeadTensors(
      shapes, {"q", typeOf(getQ())}, {"k", typeOf(getK())},
      {"v", typeOf(getV())}, {"do", cotangentAsOutput(getDOut(), getV())},
      {"beta", typeOf(getBeta())}, /*oneInputType=*/true);
  if (failed(dims) || failed(verifyGateTensor(shapes, getG(), getGate(), *dims)))
    return failure();
  if (getActivation() != GateActivation::none &&
      getGate() == GateGranularity::none)
    return emitOpError() << "expects a gate with activation = "
                         << stringifyGateActivation(getActivation());
  std::optional<double> lowerBound, scale;
  if (FloatAttr bound = getLowerBoundAttr())
    lowerBound = bound.getValueAsDouble();
  if (FloatAttr s = getScaleAttr())
    scale = s.getValueAsDouble();
  if (failed(verifyGateParameters(shapes, getGate(), getActivation(), getALog(),
                                  getDtBias(), lowerBound, dims->hv, dims->k)) ||
      failed(verifyScale(shapes, scale)))
    return failure();
  FailureOr<int64_t> numStates = verifyCuSeqlens(shapes, getCuSeqlens(), *dims);
  if (failed(numStates))
    return failure();
  for (auto [name, state] :
       {std::pair<StringRef, Value>{"initial_state", getInitialState()},
        {"dht", getDht()}})
    if (state && failed(verifyStateTensor(shapes, {name, typeOf(state)},
                                          getLayout(), *numStates, *dims)))
      return failure();
  SmallVector<Value> inputs = getDifferentiatedInputs();
  SmallVector<StringRef> names =
      gradientNames(bool(getG()), bool(getALog()), bool(getDtBias()),
                    bool(getInitialState()));
  if (failed(verifyCotangents(*this, getGrads(), inputs, names)))
    return failure();
  // Exactly the input's shape in f32, so that the chunked form's gradients
  // (computed in f32) can replace these results.
  for (auto [i, result, input] : llvm::enumerate(getGrads(), inputs)) {
    auto want = typeOf(input).clone(Float32Type::get(getContext()));
    if (result.getType() != want)
      return emitOpError() << "expects result #" << i << " (" << names[i]
                           << ") of type " << want << ", got "
                           << result.getType();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// kda.chunk_grad_loop
//===----------------------------------------------------------------------===//

/// A backward body on [C, K] / [C, V] tiles: q, k, v, g, beta, the entering
/// state, do and the leaving state's cotangent, ending in kda.grad_yield of
/// the chunk's dq, dk, dv, dg, dbeta and the entering state's cotangent.
static LogicalResult verifyBackwardBody(Operation *op, Region &region,
                                        int64_t c, int64_t kDim, int64_t vDim,
                                        TypeRange prepared = {}) {
  if (region.empty())
    return op->emitOpError() << "expects a backward body block ending in "
                                "kda.grad_yield";
  Block &body = region.front();
  Type f32 = Float32Type::get(op->getContext());
  auto tile = [&](ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, f32);
  };
  SmallVector<Type> args = {tile({c, kDim}), tile({c, kDim}), tile({c, vDim}),
                            tile({c, kDim}), tile({c}),       tile({kDim, vDim}),
                            tile({c, vDim}), tile({kDim, vDim})};
  args.append(prepared.begin(), prepared.end());
  if (body.getNumArguments() != args.size())
    return op->emitOpError() << "expects a backward body with " << args.size()
                             << " arguments (q, k, v, g, beta, state, do, "
                                "dstate"
                             << (prepared.empty() ? "" : ", prepared...")
                             << "), got " << body.getNumArguments();
  for (auto [i, type] : llvm::enumerate(args))
    if (body.getArgument(i).getType() != type)
      return op->emitOpError() << "expects backward argument #" << i
                               << " of type " << type << ", got "
                               << body.getArgument(i).getType();
  auto yield = body.mightHaveTerminator()
                   ? dyn_cast<GradYieldOp>(body.getTerminator())
                   : GradYieldOp();
  if (!yield)
    return op->emitOpError()
           << "expects the backward body to end in kda.grad_yield";
  using Arg = ChunkGradLoopOp::BackwardArg;
  SmallVector<Type> yielded = {args[Arg::kQ],    args[Arg::kK],
                               args[Arg::kV],    args[Arg::kG],
                               args[Arg::kBeta], args[Arg::kState]};
  if (TypeRange(yield.getOperands()) != TypeRange(yielded))
    return yield.emitOpError() << "expects dq, dk ([C, K]), dv ([C, V]), dg "
                                  "([C, K]), dbeta ([C]) and dstate ([K, V])";
  return success();
}

int64_t ChunkGradLoopOp::getKeyDim() { return typeOf(getQ()).getDimSize(3); }
int64_t ChunkGradLoopOp::getValueDim() { return typeOf(getV()).getDimSize(3); }

LogicalResult ChunkGradLoopOp::verify() {
  int64_t c = getChunkSize();
  std::string problem = kdac::limits::checkIRChunkSize(c, "chunk_size");
  if (!problem.empty())
    return emitOpError() << "expects " << problem;
  ShapeChecker shapes(*this);
  FailureOr<HeadDims> dims = verifyHeadTensors(
      shapes, {"q", typeOf(getQ())}, {"k", typeOf(getK())},
      {"v", typeOf(getV())}, {"do", cotangentAsOutput(getDOut(), getV())},
      {"beta", typeOf(getBeta())}, /*oneInputType=*/false);
  if (failed(dims) || failed(verifyGateTensor(shapes, getG(), getGate(), *dims)))
    return failure();
  FailureOr<int64_t> numStates = verifyCuSeqlens(shapes, getCuSeqlens(), *dims);
  if (failed(numStates))
    return failure();
  for (auto [name, state] :
       {std::pair<StringRef, Value>{"initial_state", getInitialState()},
        {"dht", getDht()}})
    if (state && failed(verifyStateTensor(shapes, {name, typeOf(state)},
                                          getLayout(), *numStates, *dims)))
      return failure();

  // dq and dk are per value head: [B, T, HV, K].
  auto qType = typeOf(getQ());
  auto perValueHead = RankedTensorType::get(
      {qType.getDimSize(0), qType.getDimSize(1), dims->hv, dims->k},
      Float32Type::get(getContext()));
  SmallVector<StringRef> names = {"dq", "dk", "dv"};
  if (getG())
    names.push_back("dg");
  names.push_back("dbeta");
  if (getInitialState())
    names.push_back("dh0");
  if (getGrads().size() != names.size())
    return emitOpError() << "expects " << names.size() << " results ("
                         << llvm::join(names, ", ") << "), got "
                         << getGrads().size();
  SmallVector<RankedTensorType> want = {perValueHead, perValueHead,
                                        typeOf(getV())};
  if (getG())
    want.push_back(typeOf(getG()));
  want.push_back(typeOf(getBeta()));
  if (getInitialState())
    want.push_back(typeOf(getInitialState()));
  for (auto [i, result, type] : llvm::enumerate(getGrads(), want))
    if (!sameShape(typeOf(result), type))
      return emitOpError() << "expects result #" << i << " (" << names[i]
                           << ") of shape " << type << "'s, got "
                           << result.getType();

  int64_t kDim = getKeyDim(), vDim = getValueDim();
  if (failed(verifyChunkBody(*this, getForward(), c, kDim, vDim)))
    return failure();
  if (getBackward().empty())
    return success();
  return verifyBackwardBody(*this, getBackward(), c, kDim, vDim);
}

//===----------------------------------------------------------------------===//
// The split backward: kda.chunk_states, kda.chunk_state_grads,
// kda.chunk_grad_map
//===----------------------------------------------------------------------===//

/// The checks the split loops share: chunk size, the head tensors (with
/// `output` standing for o), the gate, cu_seqlens; returns the head dims and
/// the state slot count through \p numStates.
/// Per-chunk-slot states or cotangents: [slots, HV, K, V] in f32.
static LogicalResult verifySlotStates(Operation *op, StringRef name, Value value,
                                      const HeadDims &dims) {
  auto type = typeOf(value);
  if (type.getRank() != 4 || !type.getElementType().isF32() ||
      type.getDimSize(1) != dims.hv || type.getDimSize(2) != dims.k ||
      type.getDimSize(3) != dims.v)
    return op->emitOpError() << "expects " << name << " of type tensor<?x"
                             << dims.hv << "x" << dims.k << "x" << dims.v
                             << "xf32> (per chunk slot, K x V), got " << type;
  return success();
}

LogicalResult ChunkStatesOp::verify() {
  int64_t numStates = 0;
  FailureOr<HeadDims> dims =
      verifyChunkLoopTensors(*this, getChunkSize(), getQ(), getK(), getV(), getV(),
                      getBeta(), getG(), getGate(), getCuSeqlens(), numStates);
  if (failed(dims))
    return failure();
  ShapeChecker shapes(*this);
  if (Value initial = getInitialState())
    if (failed(verifyStateTensor(shapes, {"initial_state", typeOf(initial)},
                                 getLayout(), numStates, *dims)))
      return failure();
  if (failed(verifySlotStates(*this, "the states", getStates(), *dims)))
    return failure();
  FailureOr<SmallVector<Type>> prepared =
      verifyPrepared(*this, getPrepared(), dims->hv);
  if (failed(prepared))
    return failure();
  return verifyChunkBody(*this, getBody(), getChunkSize(), dims->k, dims->v,
                         *prepared);
}

LogicalResult ChunkStateGradsOp::verify() {
  int64_t numStates = 0;
  FailureOr<HeadDims> dims = verifyChunkLoopTensors(
      *this, getChunkSize(), getQ(), getK(), getV(), getDOut(), getBeta(),
      getG(), getGate(), getCuSeqlens(), numStates);
  if (failed(dims))
    return failure();
  ShapeChecker shapes(*this);
  for (auto [name, state] :
       {std::pair<StringRef, Value>{"dht", getDht()}, {"dh0", getDh0()}})
    if (state && failed(verifyStateTensor(shapes, {name, typeOf(state)},
                                          getLayout(), numStates, *dims)))
      return failure();
  if (failed(verifySlotStates(*this, "states", getStates(), *dims)) ||
      failed(verifySlotStates(*this, "the state cotangents",
                              getNextStateGrads(), *dims)))
    return failure();
  FailureOr<SmallVector<Type>> prepared =
      verifyPrepared(*this, getPrepared(), dims->hv);
  if (failed(prepared))
    return failure();
  return verifyBackwardBody(*this, getBody(), getChunkSize(), dims->k, dims->v,
                            *prepared);
}

LogicalResult ChunkGradMapOp::verify() {
  int64_t numStates = 0;
  FailureOr<HeadDims> dims = verifyChunkLoopTensors(
      *this, getChunkSize(), getQ(), getK(), getV(), getDOut(), getBeta(),
      getG(), getGate(), getCuSeqlens(), numStates);
  if (failed(dims))
    return failure();
  if (failed(verifySlotStates(*this, "states", getStates(), *dims)) ||
      failed(verifySlotStates(*this, "next_state_grads", getNextStateGrads(),
                              *dims)))
    return failure();
  auto qType = typeOf(getQ());
  auto perValueHead = RankedTensorType::get(
      {qType.getDimSize(0), qType.getDimSize(1), dims->hv, dims->k},
      Float32Type::get(getContext()));
  SmallVector<RankedTensorType> want = {perValueHead, perValueHead,
                                        typeOf(getV())};
  SmallVector<StringRef> names = {"dq", "dk", "dv"};
  if (getG()) {
    want.push_back(typeOf(getG()));
    names.push_back("dg");
  }
  want.push_back(typeOf(getBeta()));
  names.push_back("dbeta");
  if (getGrads().size() != want.size())
    return emitOpError() << "expects " << want.size() << " results ("
                         << llvm::join(names, ", ") << "), got "
                         << getGrads().size();
  for (auto [i, result, type] : llvm::enumerate(getGrads(), want))
    if (!sameShape(typeOf(result), type))
      return emitOpError() << "expects result #" << i << " (" << names[i]
                           << ") of shape " << type << "'s, got "
                           << result.getType();
  return verifyBackwardBody(*this, getBody(), getChunkSize(), dims->k,
                            dims->v);
}

//===----------------------------------------------------------------------===//
// Adjoints of the per-chunk ops
//===----------------------------------------------------------------------===//

LogicalResult ReverseCumsumOp::verify() {
  int64_t rank = getInput().getType().getRank();
  if (rank != 1 && rank != 2)
    return emitOpError() << "expects a [C] or [C, K] input";
  return success();
}

LogicalResult DecayedGramGradOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> lhs = matrixDims(*this, "lhs", getLhs());
  if (failed(lhs))
    return failure();
  auto [c, d] = *lhs;
  if (failed(verifyTiles(*this, {{"dA", getDA(), {c, c}},
                                 {"rhs", getRhs(), {c, d}},
                                 {"gc", getGc(), {c, d}}})))
    return failure();
  SmallVector<Value> of = {getLhs(), getRhs(), getGc()};
  SmallVector<StringRef> names = {"dlhs", "drhs", "dgc"};
  if (getRowScale()) {
    if (failed(verifyTiles(*this, {{"row_scale", getRowScale(), {c}}})))
      return failure();
    of.push_back(getRowScale());
    names.push_back("drow_scale");
  }
  return verifyCotangents(*this, getGrads(), of, names);
}

LogicalResult UTInverseGradOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> m = matrixDims(*this, "M", getM());
  if (failed(m))
    return failure();
  if (m->first != m->second)
    return emitOpError() << "expects a square M, got " << getM().getType();
  return success();
}

LogicalResult WYGradOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> k = matrixDims(*this, "k", getK());
  FailureOr<std::pair<int64_t, int64_t>> v = matrixDims(*this, "v", getV());
  if (failed(k) || failed(v))
    return failure();
  int64_t c = k->first, kDim = k->second, vDim = v->second;
  if (failed(verifyTiles(*this, {{"M", getM(), {c, c}},
                                 {"v", getV(), {c, vDim}},
                                 {"gc", getGc(), {c, kDim}},
                                 {"beta", getBeta(), {c}},
                                 {"dw", getDw(), {c, kDim}},
                                 {"du", getDu(), {c, vDim}}})))
    return failure();
  return verifyCotangents(*this, getResults(),
                          {getM(), getK(), getV(), getGc(), getBeta()},
                          {"dM", "dk", "dv", "dgc", "dbeta"});
}

LogicalResult StateApplyGradOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> w = matrixDims(*this, "w", getW());
  FailureOr<std::pair<int64_t, int64_t>> s =
      matrixDims(*this, "state", getState());
  if (failed(w) || failed(s))
    return failure();
  if (failed(verifyTiles(*this, {{"state", getState(), {w->second, s->second}},
                                 {"dvalues", getDvalues(), {w->first, s->second}}})))
    return failure();
  return verifyCotangents(*this, getResults(),
                          {getDvalues(), getW(), getState()},
                          {"du", "dw", "dstate"});
}

LogicalResult OutputGradOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> q = matrixDims(*this, "q", getQ());
  FailureOr<std::pair<int64_t, int64_t>> s =
      matrixDims(*this, "state", getState());
  if (failed(q) || failed(s))
    return failure();
  int64_t c = q->first, kDim = q->second, vDim = s->second;
  if (failed(verifyTiles(*this, {{"gc", getGc(), {c, kDim}},
                                 {"state", getState(), {kDim, vDim}},
                                 {"Aqk", getAqk(), {c, c}},
                                 {"values", getValues(), {c, vDim}},
                                 {"dO", getDO(), {c, vDim}}})))
    return failure();
  return verifyCotangents(*this, getResults(),
                          {getQ(), getGc(), getState(), getAqk(), getValues()},
                          {"dq", "dgc", "dstate", "dAqk", "dvalues"});
}

LogicalResult StateUpdateGradOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> k = matrixDims(*this, "k", getK());
  FailureOr<std::pair<int64_t, int64_t>> s =
      matrixDims(*this, "state", getState());
  if (failed(k) || failed(s))
    return failure();
  int64_t c = k->first, kDim = k->second, vDim = s->second;
  if (failed(verifyTiles(*this, {{"state", getState(), {kDim, vDim}},
                                 {"gc", getGc(), {c, kDim}},
                                 {"values", getValues(), {c, vDim}},
                                 {"dresult", getDresult(), {kDim, vDim}}})))
    return failure();
  return verifyCotangents(*this, getResults(),
                          {getState(), getK(), getGc(), getValues()},
                          {"dstate", "dk", "dgc", "dvalues"});
}

LogicalResult ScaleRowsGradOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> x =
      matrixDims(*this, "input", getInput());
  if (failed(x))
    return failure();
  if (failed(verifyTiles(*this, {{"row_scale", getRowScale(), {x->first}},
                                 {"dresult", getDresult(), {x->first, x->second}}})))
    return failure();
  return verifyCotangents(*this, getResults(), {getInput(), getRowScale()},
                          {"dinput", "drow_scale"});
}

//===----------------------------------------------------------------------===//
// Primitives of the decomposed backward
//===----------------------------------------------------------------------===//

static LogicalResult verifyFiniteScale(Operation *op, APFloat scale) {
  if (!std::isfinite(scale.convertToDouble()))
    return op->emitOpError() << "expects a finite scale";
  return success();
}

LogicalResult MulOp::verify() {
  if (!typeOf(getLhs()).hasStaticShape())
    return emitOpError() << "expects static tiles, got " << getLhs().getType();
  return verifyFiniteScale(*this, getScale());
}

LogicalResult RowDotOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> a = matrixDims(*this, "lhs", getLhs());
  if (failed(a))
    return failure();
  return verifyTiles(*this, {{"the result", getResult(), {a->first}}});
}

LogicalResult ColumnSumOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> x =
      matrixDims(*this, "input", getInput());
  if (failed(x))
    return failure();
  return verifyTiles(*this, {{"the result", getResult(), {x->second}}});
}

LogicalResult AddToLastRowOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> x =
      matrixDims(*this, "input", getInput());
  if (failed(x))
    return failure();
  return verifyTiles(*this, {{"row", getRow(), {x->second}}});
}

LogicalResult TrilOp::verify() {
  FailureOr<std::pair<int64_t, int64_t>> x =
      matrixDims(*this, "input", getInput());
  if (failed(x))
    return failure();
  if (x->first != x->second)
    return emitOpError() << "expects a square input, got "
                         << getInput().getType();
  return verifyFiniteScale(*this, getScale());
}

//===----------------------------------------------------------------------===//
// Adjoints of the prologue
//===----------------------------------------------------------------------===//

static LogicalResult verifyElementwiseGrad(Operation *op) {
  Value input = op->getOperand(0), cotangent = op->getOperand(1);
  if (typeOf(input).getRank() < 1)
    return op->emitOpError() << "expects an input of rank >= 1";
  if (!sameShape(typeOf(cotangent), typeOf(input)))
    return op->emitOpError() << "expects the cotangent in the input's shape, "
                                "got "
                             << cotangent.getType();
  return verifyCotangents(op, op->getResults(), {input}, {"dinput"});
}

LogicalResult L2NormGradOp::verify() { return verifyElementwiseGrad(*this); }
LogicalResult SigmoidGradOp::verify() { return verifyElementwiseGrad(*this); }

LogicalResult GateActivationGradOp::verify() {
  auto input = getInput().getType();
  if (input.getRank() != 3 && input.getRank() != 4)
    return emitOpError() << "expects a [B, T, HV] or [B, T, HV, K] gate, got "
                         << input;
  if (!sameShape(getDresult().getType(), input))
    return emitOpError() << "expects the cotangent in the gate's shape, got "
                         << getDresult().getType();
  if (getActivation() == GateActivation::none)
    return emitOpError() << "expects activation softplus or lowerbound";
  int64_t hv = input.getDimSize(2);
  int64_t kDim = input.getRank() == 4 ? input.getDimSize(3) : 1;
  if (ShapedType::isDynamic(hv) || ShapedType::isDynamic(kDim))
    return emitOpError() << "expects static HV and K, got " << input;
  ShapeChecker shapes(*this);
  std::optional<double> lowerBound;
  if (FloatAttr bound = getLowerBoundAttr())
    lowerBound = bound.getValueAsDouble();
  if (failed(verifyGateParameters(
          shapes,
          input.getRank() == 4 ? GateGranularity::channel
                               : GateGranularity::scalar,
          getActivation(), getALog(), getDtBias(), lowerBound, hv, kDim)))
    return failure();
  SmallVector<Value> of = {getInput()};
  SmallVector<StringRef> names = {"dg"};
  if (getALog()) {
    of.push_back(getALog());
    names.push_back("dA_log");
  }
  if (getDtBias()) {
    of.push_back(getDtBias());
    names.push_back("ddt_bias");
  }
  return verifyCotangents(*this, getGrads(), of, names);
}

LogicalResult GroupSumOp::verify() {
  auto input = getInput().getType(), result = getResult().getType();
  if (input.getRank() != 4 || result.getRank() != 4)
    return emitOpError() << "expects [B, T, HV, D] -> [B, T, H, D], got "
                         << input << " -> " << result;
  int64_t hv = input.getDimSize(2), h = result.getDimSize(2);
  if (ShapedType::isDynamic(hv) || ShapedType::isDynamic(h) || h <= 0 ||
      hv % h != 0)
    return emitOpError() << "expects static head counts with H dividing HV, "
                            "got "
                         << input << " -> " << result;
  for (int64_t i : {0, 1, 3})
    if (!input.isDynamicDim(i) && !result.isDynamicDim(i) &&
        input.getDimSize(i) != result.getDimSize(i))
      return emitOpError() << "expects B, T and D to agree, got " << input
                           << " -> " << result;
  return success();
}
