//===- SpecToIR.cpp - Between KernelSpec and kda.recurrence ---------------===//
//
// Builds the entry function for a spec, and reads a spec back from IR.
//
//===----------------------------------------------------------------------===//
#include "kdac/Frontend/SpecToIR.h"

#include "KDA/KDAOps.h"
#include "KDK/KDKOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;

namespace kdac {

static Type elementType(MLIRContext &ctx, DType dtype) {
  switch (dtype) {
  case DType::F32: return Float32Type::get(&ctx);
  case DType::F16: return Float16Type::get(&ctx);
  case DType::BF16: return BFloat16Type::get(&ctx);
  }
  llvm_unreachable("unknown dtype");
}

static DType dtypeOf(Type type) {
  if (type.isBF16()) return DType::BF16;
  if (type.isF16()) return DType::F16;
  return DType::F32;
}

static int64_t irDim(int64_t dim) {
  return dim == kDynamic ? ShapedType::kDynamic : dim;
}

static int64_t specDim(int64_t dim) {
  return ShapedType::isDynamic(dim) ? kDynamic : dim;
}

void registerKdacDialects(DialectRegistry &registry) {
  registry.insert<kda::KDADialect, kdk::KDKDialect, func::FuncDialect,
                  arith::ArithDialect, memref::MemRefDialect, scf::SCFDialect,
                  tensor::TensorDialect>();
}

namespace {
/// The types of a spec's tensors in IR and the entry function's arguments,
/// in FLA's chunk_kda order.
struct EntryTypes {
  Type vType, stateType;
  /// With token records: the records result.
  Type recordsType;
  SmallVector<Type> args;
  bool readsState = false, writesState = false;
};
} // namespace

static EntryTypes entryTypes(MLIRContext &ctx, const KernelSpec &spec) {
  Builder builder(&ctx);
  EntryTypes e;
  int64_t b = irDim(spec.B), t = irDim(spec.T);
  auto tensor = [&](ArrayRef<int64_t> shape, DType dtype) -> Type {
    return RankedTensorType::get(shape, elementType(ctx, dtype));
  };
  Type qkType = tensor({b, t, spec.H, spec.K}, spec.dtype);
  e.vType = tensor({b, t, spec.HV, spec.V}, spec.dtype);
  Type betaType = tensor({b, t, spec.HV}, spec.betaDType);
  // A pool holds any number of slots.
  int64_t numStates =
      spec.varlen || spec.statePool ? ShapedType::kDynamic : b;
  e.readsState = spec.hasInitialState || spec.statePool;
  e.writesState =
      spec.hasFinalState || (spec.statePool && !spec.tokenRecords);
  bool kv = spec.stateLayout == StateLayout::KV;
  e.stateType = tensor({numStates, spec.HV, kv ? spec.K : spec.V,
                        kv ? spec.V : spec.K},
                       spec.stateDType);
  Type f32 = Float32Type::get(&ctx);
  if (spec.tokenRecords)
    e.recordsType =
        RankedTensorType::get({b, t, spec.HV, spec.recordWidth()}, f32);

  SmallVector<Type> &argTypes = e.args;
  argTypes = {qkType, qkType, e.vType};
  if (spec.gate == GateGranularity::Channel)
    argTypes.push_back(tensor({b, t, spec.HV, spec.K}, spec.gateDType));
  else if (spec.gate == GateGranularity::Scalar)
    argTypes.push_back(tensor({b, t, spec.HV}, spec.gateDType));
  argTypes.push_back(betaType);
  if (spec.hasALog)
    argTypes.push_back(RankedTensorType::get({spec.HV}, f32));
  if (spec.hasDtBias) {
    int64_t width = spec.gate == GateGranularity::Channel ? spec.HV * spec.K
                                                          : spec.HV;
    argTypes.push_back(RankedTensorType::get({width}, f32));
  }
  if (e.readsState)
    argTypes.push_back(e.stateType);
  if (spec.varlen)
    argTypes.push_back(RankedTensorType::get({ShapedType::kDynamic},
                                             builder.getI64Type()));
  Type i32 = builder.getI32Type();
  int64_t numSequences = spec.varlen ? ShapedType::kDynamic : b;
  if (spec.statePool)
    argTypes.push_back(
        spec.perTokenStates
            ? RankedTensorType::get({numSequences, ShapedType::kDynamic}, i32)
            : RankedTensorType::get({numSequences}, i32));
  if (spec.acceptedCounts)
    argTypes.push_back(RankedTensorType::get({numSequences}, i32));
  return e;
}

static FloatAttr optionalF64(Builder &b, std::optional<double> value) {
  return value ? b.getF64FloatAttr(*value) : FloatAttr();
}

/// The spec's code-generation target on the module (#kdk.target), so the
/// passes plan against its limits.
static void attachTarget(ModuleOp module, const KernelSpec &spec) {
  MLIRContext *ctx = module.getContext();
  ctx->loadDialect<kdk::KDKDialect>();
  if (kdk::TargetAttr target = kdk::getTargetAttr(ctx, spec.arch))
    module->setAttr(kdk::kTargetAttr, target);
}

/// An empty module for `spec`'s entry function, with its target.
static OwningOpRef<ModuleOp> newSpecModule(MLIRContext &ctx,
                                           const KernelSpec &spec,
                                           Location loc) {
  ctx.loadDialect<kda::KDADialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  attachTarget(*module, spec);
  return module;
}

OwningOpRef<ModuleOp> buildRecurrenceModule(MLIRContext &ctx,
                                            const KernelSpec &spec) {
  OpBuilder builder(&ctx);
  Location loc = builder.getUnknownLoc();
  OwningOpRef<ModuleOp> module = newSpecModule(ctx, spec, loc);
  EntryTypes types = entryTypes(ctx, spec);
  Type vType = types.vType, stateType = types.stateType;
  const SmallVector<Type> &argTypes = types.args;
  bool readsState = types.readsState, writesState = types.writesState;
  SmallVector<Type> resultTypes = {vType};
  if (writesState)
    resultTypes.push_back(stateType);
  // The second result: the state written back, or the records.
  Type secondType = writesState ? stateType : types.recordsType;
  if (types.recordsType)
    resultTypes.push_back(types.recordsType);

  builder.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(builder, loc, kEntryFunctionName,
                                   builder.getFunctionType(argTypes, resultTypes));
  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToStart(entry);

  unsigned next = 0;
  auto arg = [&]() -> Value { return entry->getArgument(next++); };
  auto optionalArg = [&](bool present) -> Value {
    return present ? arg() : Value();
  };
  Value q = arg(), k = arg(), v = arg();
  Value g = optionalArg(spec.gate != GateGranularity::None);
  Value beta = arg();
  Value aLog = optionalArg(spec.hasALog);
  Value dtBias = optionalArg(spec.hasDtBias);
  Value initial = optionalArg(readsState);
  Value cuSeqlens = optionalArg(spec.varlen);
  Value stateIndices = optionalArg(spec.statePool);
  Value numAccepted = optionalArg(spec.acceptedCounts);

  auto op = kda::RecurrenceOp::create(
      builder, loc, vType, secondType, q, k, v, g,
      beta, aLog, dtBias, initial, cuSeqlens, stateIndices, numAccepted,
      static_cast<kda::GateGranularity>(spec.gate),
      static_cast<kda::UpdateRule>(spec.update),
      static_cast<kda::GateActivation>(spec.activation),
      optionalF64(builder, spec.lowerBound), spec.qkL2Norm, spec.betaSigmoid,
      static_cast<kda::StateLayout>(spec.stateLayout),
      optionalF64(builder, spec.scale), spec.tokenRecords);
  func::ReturnOp::create(builder, loc, op->getResults());

  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> buildCommitModule(MLIRContext &ctx,
                                        const KernelSpec &spec) {
  if (!spec.isCommit())
    return nullptr;
  OpBuilder builder(&ctx);
  Location loc = builder.getUnknownLoc();
  OwningOpRef<ModuleOp> module = newSpecModule(ctx, spec, loc);
  EntryTypes types = entryTypes(ctx, spec);
  Type i32 = builder.getI32Type();
  int64_t n = irDim(spec.B);
  Type indexType = RankedTensorType::get({n}, i32);
  SmallVector<Type> argTypes = {types.stateType, indexType, indexType,
                                types.recordsType};
  builder.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(
      builder, loc, kCommitFunctionName,
      builder.getFunctionType(argTypes, {types.stateType}));
  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToStart(entry);
  auto op = kda::CommitRecordsOp::create(
      builder, loc, types.stateType, entry->getArgument(0),
      entry->getArgument(1), entry->getArgument(2), entry->getArgument(3),
      static_cast<kda::StateLayout>(spec.stateLayout));
  func::ReturnOp::create(builder, loc, op->getResults());
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> buildRecurrenceGradModule(MLIRContext &ctx,
                                                const KernelSpec &spec) {
  if (spec.statePool || spec.isDecode())
    return nullptr;
  OpBuilder builder(&ctx);
  Location loc = builder.getUnknownLoc();
  OwningOpRef<ModuleOp> module = newSpecModule(ctx, spec, loc);
  EntryTypes types = entryTypes(ctx, spec);
  Type f32 = builder.getF32Type();
  auto asF32 = [&](Type type) {
    return cast<RankedTensorType>(type).clone(f32);
  };
  SmallVector<Type> argTypes = types.args;
  argTypes.push_back(asF32(types.vType)); // do
  if (spec.hasFinalState)
    argTypes.push_back(asF32(types.stateType)); // dht

  builder.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(builder, loc, kGradientFunctionName,
                                   builder.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToStart(entry);
  unsigned next = 0;
  auto arg = [&]() -> Value { return entry->getArgument(next++); };
  auto optionalArg = [&](bool present) -> Value {
    return present ? arg() : Value();
  };
  Value q = arg(), k = arg(), v = arg();
  Value g = optionalArg(spec.gate != GateGranularity::None);
  Value beta = arg();
  Value aLog = optionalArg(spec.hasALog);
  Value dtBias = optionalArg(spec.hasDtBias);
  Value initial = optionalArg(spec.hasInitialState);
  Value cuSeqlens = optionalArg(spec.varlen);
  Value dOut = arg();
  Value dht = optionalArg(spec.hasFinalState);

  SmallVector<Type> gradTypes;
  for (Value input : {q, k, v, g, beta, aLog, dtBias, initial})
    if (input)
      gradTypes.push_back(asF32(input.getType()));
  auto op = kda::RecurrenceGradOp::create(
      builder, loc, gradTypes, q, k, v, g, beta, aLog, dtBias, initial,
      cuSeqlens, dOut, dht, static_cast<kda::GateGranularity>(spec.gate),
      static_cast<kda::UpdateRule>(spec.update),
      static_cast<kda::GateActivation>(spec.activation),
      optionalF64(builder, spec.lowerBound), spec.qkL2Norm, spec.betaSigmoid,
      static_cast<kda::StateLayout>(spec.stateLayout),
      optionalF64(builder, spec.scale));
  func::ReturnOp::create(builder, loc, op->getResults());
  func.setType(builder.getFunctionType(argTypes, gradTypes));

  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> buildSpecModule(MLIRContext &ctx,
                                      const KernelSpec &spec) {
  switch (spec.op) {
  case KernelOp::Backward:
    return buildRecurrenceGradModule(ctx, spec);
  case KernelOp::Commit:
    return buildCommitModule(ctx, spec);
  case KernelOp::Forward:
  case KernelOp::Decode:
    break;
  }
  return buildRecurrenceModule(ctx, spec);
}

bool holdsCommit(ModuleOp module) {
  return module
      ->walk([](kda::CommitRecordsOp) { return WalkResult::interrupt(); })
      .wasInterrupted();
}

KernelSpec specFromRecurrence(kda::RecurrenceOp op) {
  KernelSpec spec;
  auto qType = op.getQ().getType();
  spec.B = specDim(qType.getDimSize(0));
  spec.T = specDim(qType.getDimSize(1));
  spec.H = op.getNumQKHeads();
  spec.HV = op.getNumValueHeads();
  spec.K = op.getKeyDim();
  spec.V = op.getValueDim();
  spec.varlen = static_cast<bool>(op.getCuSeqlens());
  spec.dtype = dtypeOf(qType.getElementType());
  if (Value g = op.getG())
    spec.gateDType = dtypeOf(cast<RankedTensorType>(g.getType()).getElementType());
  spec.betaDType = dtypeOf(op.getBeta().getType().getElementType());
  spec.gate = static_cast<GateGranularity>(op.getGate());
  spec.update = static_cast<UpdateRule>(op.getUpdate());
  spec.activation = static_cast<GateActivation>(op.getActivation());
  spec.lowerBound = op.getLowerBoundValue();
  spec.hasALog = static_cast<bool>(op.getALog());
  spec.hasDtBias = static_cast<bool>(op.getDtBias());
  spec.qkL2Norm = op.getQkL2norm();
  spec.betaSigmoid = op.getBetaSigmoid();
  spec.statePool = static_cast<bool>(op.getStateIndices());
  spec.perTokenStates =
      spec.statePool && op.getStateIndices().getType().getRank() == 2;
  spec.acceptedCounts = static_cast<bool>(op.getNumAccepted());
  spec.hasInitialState = !spec.statePool && op.getInitialState();
  spec.hasFinalState = !spec.statePool && op.getWrittenState();
  spec.tokenRecords = op.getTokenRecords();
  // Only the decode lowering implements pools.
  if (spec.statePool)
    spec.op = KernelOp::Decode;
  spec.stateLayout = static_cast<StateLayout>(op.getLayout());
  if (Value state = op.getInitialState() ? op.getInitialState()
                                         : op.getWrittenState())
    spec.stateDType =
        dtypeOf(cast<RankedTensorType>(state.getType()).getElementType());
  spec.scale = op.getScaleValue();
  return spec;
}

} // namespace kdac
