//===- CudaEmitter.cpp - Driver of the CUDA emitter -----------------------===//
//
// Turns each kdk kernel function into an extern "C" __global__ function and
// its KernelLaunch: reads the launch attributes, binds parameters, plans the
// one dynamic shared-memory buffer, then emits the body op by op through the
// TypeSwitch in CudaEmitter::emitOperation.
//
//===----------------------------------------------------------------------===//
#include "Emitter.h"

#include "kdac/Target/CUDA/CudaEmitter.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace mlir;
using namespace kdac;
using namespace kdac::cuda;

/// Shared tiles start at multiples of this many bytes: enough for 16-byte
/// vector and ldmatrix accesses and for future TMA/wgmma layouts.
static constexpr int64_t kTileAlignment = kdk::kSharedTileAlignment;

//===----------------------------------------------------------------------===//
// Types and literals.
//===----------------------------------------------------------------------===//

FailureOr<StringRef> kdac::cuda::getCppType(Type type) {
  if (type.isIndex() || type.isInteger(64))
    return StringRef("long long");
  if (type.isInteger(32))
    return StringRef("int");
  if (type.isInteger(1))
    return StringRef("bool");
  if (type.isF32())
    return StringRef("float");
  if (type.isF64())
    return StringRef("double");
  if (type.isBF16())
    return StringRef("__nv_bfloat16");
  if (type.isF16())
    return StringRef("__half");
  return failure();
}

FailureOr<StringRef> kdac::cuda::getCppType(Operation *op, Type type) {
  FailureOr<StringRef> name = getCppType(type);
  if (failed(name))
    return op->emitError() << "CUDA emitter: type " << type
                           << " has no C++ spelling";
  return name;
}

std::string kdac::cuda::formatFloatLiteral(double value, bool isDouble) {
  // Non-finite values have no literal; spell their bit patterns.
  if (std::isnan(value))
    return isDouble ? "__longlong_as_double(0x7ff8000000000000ll)"
                    : "__int_as_float(0x7fc00000)";
  if (std::isinf(value)) {
    if (isDouble)
      return value > 0 ? "__longlong_as_double(0x7ff0000000000000ll)"
                       : "__longlong_as_double(0xfff0000000000000ll)";
    return value > 0 ? "__int_as_float(0x7f800000)"
                     : "__int_as_float(0xff800000)";
  }
  // The shortest spelling that reads back as the same float / double.
  char buffer[64];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", digits,
                  isDouble ? value : double(float(value)));
    if (isDouble ? std::strtod(buffer, nullptr) == value
                 : std::strtof(buffer, nullptr) == float(value))
      break;
  }
  std::string text = buffer;
  if (text.find_first_of(".e") == std::string::npos)
    text += ".0";
  return isDouble ? text : text + "f";
}

int64_t kdac::cuda::getElementBytes(Type type) {
  return (type.getIntOrFloatBitWidth() + 7) / 8;
}

FailureOr<TileRef> kdac::cuda::getTileLayout(Operation *at, MemRefType type) {
  bool inRegisters = kdk::isRegisterFragment(type);
  if (!inRegisters && !kdk::isSharedTile(type))
    return at->emitError() << "CUDA emitter: expected a shared-memory tile "
                              "(memory space 3) or a register fragment "
                              "(#kdk.fragment, #kdk.mma_fragment), got "
                           << type;
  if (inRegisters && (type.getRank() != 2 || !type.hasStaticShape() ||
                      !type.getLayout().isIdentity()))
    return at->emitError() << "CUDA emitter: a register fragment must be a "
                              "contiguous static 2-D tile, got "
                           << type;
  if (!type.hasStaticShape() || type.getRank() < 1 || type.getRank() > 2)
    return at->emitError() << "CUDA emitter: a tile must be a static 1-D or "
                              "2-D memref, got "
                           << type;
  Type element = type.getElementType();
  if (!element.isF32() && !element.isBF16() && !element.isF16())
    return at->emitError() << "CUDA emitter: tile elements must be f32, bf16 "
                              "or f16, got "
                           << type;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)) ||
      ShapedType::isDynamic(offset) ||
      llvm::any_of(strides, ShapedType::isDynamic))
    return at->emitError() << "CUDA emitter: a tile needs a static strided "
                              "layout, got "
                           << type;
  TileRef tile;
  tile.elementType = element;
  tile.rows = type.getDimSize(0);
  tile.isVector = type.getRank() == 1;
  tile.cols = tile.isVector ? 1 : type.getDimSize(1);
  tile.ld = strides[0];
  tile.inRegisters = inRegisters;
  if (!tile.isVector && strides[1] != 1)
    return at->emitError() << "CUDA emitter: a 2-D tile must have contiguous "
                              "rows (inner stride 1), got "
                           << type;
  return tile;
}

//===----------------------------------------------------------------------===//
// CudaEmitter.
//===----------------------------------------------------------------------===//

CudaEmitter::CudaEmitter(raw_ostream &os, int64_t blockThreads,
                         llvm::DenseMap<Operation *, int64_t> allocOffsets)
    : os(os), blockThreads(blockThreads),
      allocOffsets(std::move(allocOffsets)) {}

StringRef CudaEmitter::bindNewName(Value value) {
  std::string &name = names[value];
  name = "v" + std::to_string(nextName++);
  return name;
}

void CudaEmitter::bindName(Value value, StringRef name) {
  names[value] = name.str();
}

FailureOr<std::string> CudaEmitter::getName(Operation *user, Value value) {
  auto it = names.find(value);
  if (it == names.end())
    return user->emitError()
           << "CUDA emitter: operand has no C++ value (it is not a kernel "
              "argument and its defining op was not emitted)";
  return it->second;
}

void CudaEmitter::bindTile(Value value, TileRef tile) {
  tiles[value] = std::move(tile);
}

FailureOr<std::optional<TileRef>>
CudaEmitter::getOptionalTile(Operation *user, Value value) {
  if (!value)
    return std::optional<TileRef>();
  FailureOr<TileRef> tile = getTile(user, value);
  if (failed(tile))
    return failure();
  return std::optional<TileRef>(*tile);
}

FailureOr<TileRef> CudaEmitter::getTile(Operation *user, Value value) {
  FailureOr<TileRef> tile = getTileOrFragment(user, value);
  if (succeeded(tile) && tile->inRegisters)
    return user->emitOpError() << "has no form for a register fragment "
                                  "(memory space 5) operand in the CUDA "
                                  "emitter";
  return tile;
}

FailureOr<TileRef> CudaEmitter::getTileOrFragment(Operation *user,
                                                  Value value) {
  auto it = tiles.find(value);
  if (it != tiles.end())
    return it->second;
  return user->emitError() << "CUDA emitter: operand of type "
                           << value.getType()
                           << " is not a tile made by kdk.alloc_tile or a "
                              "memref.subview of one";
}

int64_t CudaEmitter::getAllocOffset(Operation *alloc) const {
  return allocOffsets.lookup(alloc);
}

LogicalResult CudaEmitter::emitBlockBody(Block &block) {
  for (Operation &op : block.without_terminator())
    if (failed(emitOperation(op)))
      return failure();
  return success();
}

LogicalResult CudaEmitter::emitOperation(Operation &op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(&op)
      // scf
      .Case<scf::ForOp, scf::IfOp>(
          [&](auto op) { return printOperation(*this, op); })
      // arith
      .Case<arith::ConstantOp, arith::CmpIOp, arith::SelectOp,
            arith::IndexCastOp, arith::IndexCastUIOp>(
          [&](auto op) { return printOperation(*this, op); })
      .Case<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::DivSIOp,
            arith::DivUIOp, arith::RemSIOp, arith::RemUIOp, arith::MinSIOp,
            arith::MinUIOp, arith::MaxSIOp, arith::MaxUIOp, arith::CeilDivSIOp,
            arith::CeilDivUIOp, arith::AndIOp, arith::OrIOp, arith::XOrIOp>(
          [&](Operation *op) { return printIntegerBinaryOperation(*this, op); })
      // memref
      .Case<memref::SubViewOp>(
          [&](auto op) { return printOperation(*this, op); })
      // kdk
      .Case<kdk::BlockIdOp, kdk::LocateChunkOp, kdk::SequenceRangeOp,
            kdk::AllocTileOp, kdk::GlobalTileOp, kdk::BarrierOp,
            kdk::WaitAsyncOp, kdk::LoadTileOp,
            kdk::StoreTileOp, kdk::ConvertOp, kdk::FillOp, kdk::L2NormRowsOp,
            kdk::SigmoidOp, kdk::GateActivationOp, kdk::CumsumRowsOp,
            kdk::DecayedGramOp, kdk::TriInverseOp, kdk::MmaOp, kdk::SubOp,
            kdk::AddIdentityOp, kdk::DecayRowsOp, kdk::StoreDecayedRowsOp,
            kdk::LastRowExpOp, kdk::ExpOp,
            kdk::ScaleRowsOp, kdk::LoadIndexOp, kdk::DeltaStepOp,
            kdk::ChunkStateStoreOp, kdk::AddOp,
            kdk::MulOp, kdk::RowDotOp, kdk::ColumnSumOp, kdk::AddToLastRowOp,
            kdk::TrilOp, kdk::DecayedGramGradOp, kdk::RowSumOp,
            kdk::L2NormRowsGradOp, kdk::SigmoidGradOp,
            kdk::GateActivationGradOp>(
          [&](auto op) { return printOperation(*this, op); })
      .Default([](Operation *op) {
        return op->emitOpError() << "is not supported by the CUDA emitter";
      });
}

//===----------------------------------------------------------------------===//
// Kernels.
//===----------------------------------------------------------------------===//

namespace {

/// A kernel parameter as the C++ signature writes it.
struct CppParam {
  std::string type;
  std::string name;
};

/// Everything known about a kernel before its body is emitted.
struct KernelPlan {
  rt::KernelLaunch launch;
  /// kdk.min_blocks_per_sm, 0 when absent.
  int64_t minBlocksPerSM = 0;
  SmallVector<CppParam> params;
  llvm::DenseMap<Operation *, int64_t> allocOffsets;
};

} // namespace

/// A C++ identifier made of `name` (any character outside [A-Za-z0-9_]
/// becomes '_').
static std::string sanitizeIdentifier(StringRef name) {
  std::string id = name.str();
  for (char &c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      c = '_';
  // A tensor named like a C++ keyword (the backward's "do") gets a suffix.
  static constexpr llvm::StringLiteral kKeywords[] = {
      "do", "if", "for", "int", "long", "char", "auto", "case", "else",
      "goto", "void", "while", "float", "double", "return", "switch"};
  if (llvm::is_contained(kKeywords, id))
    id += "_";
  return id;
}

/// A verified kdk.grid extent as the launch descriptor states it.
static rt::GridExtent gridExtent(int64_t extent) {
  rt::GridExtent result;
  switch (extent) {
  case kdk::GridAttr::kChunkSlots:
    result.constant = 0;
    result.perChunkSlot = 1;
    break;
  case kdk::GridAttr::kSequences:
    result.constant = 0;
    result.perSequence = 1;
    break;
  case kdk::GridAttr::kBatch:
    result.constant = 0;
    result.perBatch = 1;
    break;
  default:
    result.constant = extent;
  }
  return result;
}

/// Binds one kernel argument: its launch parameter, C++ declaration and name.
/// The kdk dialect verified the binding (every kernel argument's kdk.arg,
/// its value and the argument's type).
static LogicalResult planParam(func::FuncOp func, unsigned index,
                               const llvm::DenseSet<Value> &written,
                               KernelPlan &plan,
                               llvm::StringMap<int64_t> &workspaces,
                               rt::LaunchDescriptor &launch) {
  BlockArgument arg = func.getArgument(index);
  Attribute binding = func.getArgAttr(index, kdk::kArgAttr);
  if (auto size = dyn_cast_or_null<kdk::SizeArgAttr>(binding)) {
    rt::ParamKind kind = llvm::StringSwitch<rt::ParamKind>(size.getName())
                             .Case("T", rt::ParamKind::SizeT)
                             .Case("N", rt::ParamKind::SizeN)
                             .Case("B", rt::ParamKind::SizeB)
                             .Case("S", rt::ParamKind::SizeS)
                             .Default(rt::ParamKind::SizeChunkSlots);
    plan.launch.params.push_back({kind, size.getName().str()});
    plan.params.push_back({"long long", size.getName().str()});
    return success();
  }
  if (!binding)
    return emitError(func.getLoc())
           << "CUDA emitter: argument #" << index << " of @"
           << func.getSymName() << " has no " << kdk::kArgAttr
           << " (the IR was not verified)";

  Type element = cast<MemRefType>(arg.getType()).getElementType();
  FailureOr<StringRef> elementName = getCppType(element);
  if (failed(elementName))
    return failure();
  std::string type = (written.contains(arg) ? "" : "const ") +
                     elementName->str() + " *__restrict__";

  if (auto tensor = dyn_cast<kdk::TensorArgAttr>(binding)) {
    StringRef name = tensor.getName();
    plan.launch.params.push_back({rt::ParamKind::Tensor, name.str()});
    plan.params.push_back({type, sanitizeIdentifier(name)});
    return success();
  }

  auto workspace = cast<kdk::WorkspaceArgAttr>(binding);
  int64_t bytes = workspace.getBytesPerSlot();
  StringRef name = workspace.getName();
  // The kdk verifier checked that kernels sharing a workspace agree on its
  // size; the launch allocates it once.
  if (workspaces.try_emplace(name, bytes).second)
    launch.workspaces.push_back({name.str(), bytes});
  plan.launch.params.push_back({rt::ParamKind::Workspace, name.str()});
  plan.params.push_back({type, "ws_" + sanitizeIdentifier(name)});
  return success();
}

/// Reads the shared-memory plan kdk-allocate-shared-memory wrote (and the
/// kdk verifier checked): each shared tile's offset, the kernel's total.
static LogicalResult planSharedMemory(func::FuncOp func, KernelPlan &plan) {
  auto total = func->getAttrOfType<IntegerAttr>(kdk::kSharedMemoryBytesAttr);
  WalkResult result = func.walk<WalkOrder::PreOrder>([&](kdk::AllocTileOp op) {
    FailureOr<TileRef> layout = getTileLayout(op, op.getTile().getType());
    if (failed(layout))
      return WalkResult::interrupt();
    if (layout->inRegisters)
      return WalkResult::advance();
    std::optional<int64_t> offset = op.getOffset();
    if (!offset || !total) {
      op.emitOpError() << "has no shared-memory offset: run "
                          "kdk-allocate-shared-memory before the CUDA emitter";
      return WalkResult::interrupt();
    }
    plan.allocOffsets[op] = *offset;
    return WalkResult::advance();
  });
  plan.launch.dynamicSharedBytes = total ? total.getInt() : 0;
  return failure(result.wasInterrupted());
}

static FailureOr<KernelPlan> planKernel(func::FuncOp func,
                                        llvm::StringMap<int64_t> &workspaces,
                                        rt::LaunchDescriptor &launch) {
  KernelPlan plan;
  plan.launch.name = func.getSymName().str();
  if (sanitizeIdentifier(plan.launch.name) != plan.launch.name ||
      std::isdigit(static_cast<unsigned char>(plan.launch.name[0])))
    return emitError(func.getLoc()) << "CUDA emitter: kernel name \"" << plan.launch.name
                            << "\" is not a C identifier";

  // kdk.block_threads and kdk.grid are verified by the kdk dialect; a
  // kernel must have them.
  auto threads = func->getAttrOfType<IntegerAttr>(kdk::kBlockThreadsAttr);
  auto grid = func->getAttrOfType<kdk::GridAttr>(kdk::kGridAttr);
  if (!threads || !grid)
    return emitError(func.getLoc()) << "CUDA emitter: a kernel needs "
                                    << kdk::kBlockThreadsAttr << " and "
                                    << kdk::kGridAttr;
  plan.launch.blockThreads = threads.getInt();
  if (auto blocks = func->getAttrOfType<IntegerAttr>(kdk::kMinBlocksPerSMAttr))
    plan.minBlocksPerSM = blocks.getInt();
  for (auto [axis, extent] : llvm::enumerate(grid.getExtents()))
    plan.launch.grid[axis] = gridExtent(extent);

  // Buffers the kernel stores to lose `const` (and so the read-only path):
  // the arguments some op declares a write to.
  llvm::DenseSet<Value> written;
  func.walk([&](MemoryEffectOpInterface op) {
    SmallVector<MemoryEffects::EffectInstance> effects;
    op.getEffects(effects);
    for (const MemoryEffects::EffectInstance &effect : effects)
      if (isa<MemoryEffects::Write>(effect.getEffect()))
        if (auto arg = dyn_cast_or_null<BlockArgument>(effect.getValue()))
          if (arg.getOwner()->getParentOp() == func)
            written.insert(arg);
  });
  llvm::StringSet<> cppNames;
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    if (failed(planParam(func, i, written, plan, workspaces, launch)))
      return failure();
    if (!cppNames.insert(plan.params.back().name).second)
      return emitError(func.getLoc()) << "CUDA emitter: two arguments of @"
                              << func.getSymName() << " bind \""
                              << plan.params.back().name << "\"";
  }
  if (failed(planSharedMemory(func, plan)))
    return failure();
  return plan;
}

static LogicalResult emitKernel(func::FuncOp func, const KernelPlan &plan,
                                raw_ostream &out) {
  CudaEmitter emitter(out, plan.launch.blockThreads, plan.allocOffsets);
  raw_indented_ostream &os = emitter.ostream();
  os << "extern \"C\" __global__ void __launch_bounds__("
     << plan.launch.blockThreads;
  if (plan.minBlocksPerSM)
    os << ", " << plan.minBlocksPerSM;
  os << ") " << plan.launch.name << "(";
  llvm::interleaveComma(plan.params, os, [&](const CppParam &param) {
    os << param.type << " " << param.name;
  });
  os << ") {\n";
  os.indent();
  // Device functions take the thread count as a template parameter, so
  // their loops stride by a constant.
  os << "constexpr int NT = " << plan.launch.blockThreads << ";\n";
  if (!plan.allocOffsets.empty())
    os << "extern __shared__ __align__(" << kTileAlignment
       << ") unsigned char kdac_smem[]; // " << plan.launch.dynamicSharedBytes
       << " bytes\n";
  for (auto [arg, param] : llvm::zip(func.getArguments(), plan.params))
    emitter.bindName(arg, param.name);

  Block &body = func.getBody().front();
  if (failed(emitter.emitBlockBody(body)))
    return failure();
  auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
  if (!ret || ret.getNumOperands() != 0)
    return body.getTerminator()->emitOpError()
           << "is not supported by the CUDA emitter as a kernel terminator";
  os.unindent();
  os << "}\n";
  return success();
}

/// Whether `root` calls a function of kdac_grad.cuh (the backward's tile
/// primitives): only such kernels include it, so forward kernels compile as
/// before.
static bool usesGradLibrary(Operation *root) {
  WalkResult found = root->walk([](Operation *op) {
    bool grad = isa<kdk::AddOp, kdk::MulOp, kdk::RowDotOp, kdk::ColumnSumOp,
                    kdk::AddToLastRowOp, kdk::TrilOp, kdk::DecayedGramGradOp,
                    kdk::RowSumOp, kdk::L2NormRowsGradOp, kdk::SigmoidGradOp,
                    kdk::GateActivationGradOp>(op);
    if (auto mma = dyn_cast<kdk::MmaOp>(op))
      grad = mma.getTransposeRhs() || mma.getTf32();
    if (auto cumsum = dyn_cast<kdk::CumsumRowsOp>(op))
      grad = cumsum.getReverse();
    return grad ? WalkResult::interrupt() : WalkResult::advance();
  });
  return found.wasInterrupted();
}

FailureOr<EmittedCuda> kdac::emitCuda(ModuleOp module) {
  EmittedCuda result;
  auto chunkSize = module->getAttrOfType<IntegerAttr>(kdk::kChunkSizeAttr);
  if (!chunkSize || chunkSize.getInt() <= 0)
    return module.emitError() << "CUDA emitter: the module needs a positive "
                              << kdk::kChunkSizeAttr;
  result.launch.chunkSize = chunkSize.getInt();

  static constexpr llvm::StringLiteral kTileInclude =
      "#include \"kdac/kdac_tile.cuh\"\n";
  static constexpr llvm::StringLiteral kGradInclude =
      "#include \"kdac/kdac_grad.cuh\"\n";
  auto includeFor = [](Operation *root) {
    return usesGradLibrary(root) ? kGradInclude : kTileInclude;
  };
  llvm::StringMap<int64_t> workspaces;
  std::string kernels;
  llvm::raw_string_ostream kernelStream(kernels);
  for (Operation &op : module.getBody()->getOperations()) {
    auto func = dyn_cast<func::FuncOp>(op);
    if (!func || !func->hasAttr(kdk::kKernelAttr))
      return op.emitOpError()
             << "is not supported by the CUDA emitter at module level (only "
                "func.func kernels marked "
             << kdk::kKernelAttr << ")";
    FailureOr<KernelPlan> plan = planKernel(func, workspaces, result.launch);
    if (failed(plan))
      return failure();
    std::string kernel;
    llvm::raw_string_ostream oneKernel(kernel);
    if (failed(emitKernel(func, *plan, oneKernel)))
      return failure();
    kernelStream << "\n" << kernel;
    result.kernelSources.push_back(
        ("// Kernel \"" + plan->launch.name +
         "\" alone, generated by kdac's CUDA emitter; do not edit.\n" +
         includeFor(func) + "\n" + kernel)
            .str());
    result.launch.kernels.push_back(std::move(plan->launch));
  }
  if (result.launch.kernels.empty())
    return module.emitError() << "CUDA emitter: the module has no kernel";

  std::string &source = result.source;
  llvm::raw_string_ostream os(source);
  os << "// Generated by kdac's CUDA emitter (lib/Target/CUDA); do not edit.\n"
        "//\n";
  std::string descriptor = printLaunchDescriptor(result.launch);
  SmallVector<StringRef> lines;
  StringRef(descriptor).split(lines, '\n', -1, false);
  for (StringRef line : lines)
    os << "// " << line << "\n";
  os << "\n" << includeFor(module) << kernels;
  return result;
}
