//===- KernelBuilder.cpp - Shared machinery of the kda -> kdk lowering ----===//
//
// Kernel function construction, index arithmetic and the tile pool.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;

namespace kdac::lowering {

MemRefType tileType(ArrayRef<int64_t> shape, Type elementType) {
  auto space = IntegerAttr::get(IntegerType::get(elementType.getContext(), 64),
                                kdk::kSharedMemorySpace);
  return MemRefType::get(shape, elementType, MemRefLayoutAttrInterface(), space);
}

int64_t WorkspaceSpec::bytesPerSlot(const LoopGeometry &g) const {
  int64_t elements = tileType.getNumElements();
  return g.hv * elements * tileType.getElementTypeBitWidth() / 8;
}

KernelFunction::KernelFunction(OpBuilder &builder, ModuleOp module,
                               StringRef name, int64_t blockThreads,
                               ArrayRef<int64_t> grid)
    : b(builder), loc(module.getLoc()), blockThreads(blockThreads) {
  b.setInsertionPointToEnd(module.getBody());
  func = func::FuncOp::create(b, loc, name, b.getFunctionType({}, {}));
  func->setAttr(kdk::kKernelAttr, b.getUnitAttr());
  func->setAttr(kdk::kBlockThreadsAttr, b.getI64IntegerAttr(blockThreads));
  func->setAttr(kdk::kGridAttr, kdk::GridAttr::get(b.getContext(), grid));
  // Arguments go on a detached block; beginBody() attaches it once the
  // signature is complete.
  entry = new Block();
}

static Type flatBuffer(Type elementType) {
  return MemRefType::get({ShapedType::kDynamic}, elementType);
}

Value KernelFunction::addArgument(Type type, ArrayRef<NamedAttribute> attrs) {
  argAttrs.push_back(b.getDictionaryAttr(attrs));
  return entry->addArgument(type, loc);
}

Value KernelFunction::addTensor(StringRef name, Type elementType) {
  return addArgument(
      flatBuffer(elementType),
      {b.getNamedAttr(kdk::kArgAttr,
                      kdk::TensorArgAttr::get(b.getContext(), name))});
}

Value KernelFunction::addWorkspace(const WorkspaceSpec &ws,
                                   const LoopGeometry &g) {
  return addArgument(
      flatBuffer(ws.tileType.getElementType()),
      {b.getNamedAttr(kdk::kArgAttr,
                      kdk::WorkspaceArgAttr::get(b.getContext(), ws.name,
                                                 ws.bytesPerSlot(g)))});
}

Value KernelFunction::addSize(StringRef name) {
  return addArgument(
      b.getIndexType(),
      {b.getNamedAttr(kdk::kArgAttr, kdk::SizeArgAttr::get(b.getContext(), name))});
}

void KernelFunction::beginBody() {
  func.setFunctionType(b.getFunctionType(entry->getArgumentTypes(), {}));
  func.setAllArgAttrs(argAttrs);
  func.getBody().push_back(entry);
  b.setInsertionPointToEnd(entry);
}

Value KernelFunction::index(int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}
Value KernelFunction::add(Value a, Value c) {
  return arith::AddIOp::create(b, loc, a, c);
}
Value KernelFunction::sub(Value a, Value c) {
  return arith::SubIOp::create(b, loc, a, c);
}
Value KernelFunction::mul(Value a, Value c) {
  return arith::MulIOp::create(b, loc, a, c);
}
Value KernelFunction::div(Value a, int64_t c) {
  return arith::DivUIOp::create(b, loc, a, index(c));
}
Value KernelFunction::min(Value a, Value c) {
  return arith::MinUIOp::create(b, loc, a, c);
}
Value KernelFunction::compare(arith::CmpIPredicate predicate, Value a,
                              Value c) {
  return arith::CmpIOp::create(b, loc, predicate, a, c);
}
void KernelFunction::enterIf(Value condition) {
  auto ifOp = scf::IfOp::create(b, loc, condition, /*withElseRegion=*/false);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
}
void KernelFunction::barrier() { kdk::BarrierOp::create(b, loc); }

Value TilePool::get(ArrayRef<int64_t> shape, Type elementType,
                    RowPadding padding) {
  bool padRows = padding != RowPadding::None;
  auto key = std::make_pair(std::vector<int64_t>(shape.begin(), shape.end()),
                            const_cast<void *>(elementType.getAsOpaquePointer()));
  auto &list = free[key];
  if (padRows && !list.empty())
    return list.pop_back_val();
  if (padRows && carve(shape, elementType, list))
    return list.pop_back_val();
  // Rows of a 2-D tile are padded by 16 bytes: with pitches that are
  // multiples of 128 bytes, the rows a warp reads together (ldmatrix, column
  // walks) would all fall in the same banks.
  int64_t bytesPerElement = elementType.getIntOrFloatBitWidth() / 8;
  int64_t pad =
      padRows && shape.size() == 2 && shape[1] * bytesPerElement >= 16
          ? (padding == RowPadding::OneElement ? 1 : 16 / bytesPerElement)
          : 0;
  SmallVector<int64_t> stored(shape.begin(), shape.end());
  if (pad)
    stored.back() += pad;
  MemRefType type = tileType(stored, elementType);
  allocated += llvm::alignTo(kdk::tileBytes(type), kdk::kSharedTileAlignment);
  // Tiles live for the whole kernel: allocate them in the entry block so
  // that a tile first needed inside a loop is not re-made per iteration.
  OpBuilder::InsertionGuard guard(kernel.b);
  Block *entry = &kernel.getFunction().getBody().front();
  kernel.b.setInsertionPointToStart(entry);
  Value tile = kdk::AllocTileOp::create(kernel.b, kernel.loc, type,
                                        /*offset=*/nullptr);
  if (!pad)
    return tile;
  kernel.b.setInsertionPointAfterValue(tile);
  return blockView(kernel.b, kernel.loc, tile, 0, 0, shape);
}

Value blockView(OpBuilder &b, Location loc, Value tile, int64_t row,
                int64_t col, ArrayRef<int64_t> shape) {
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(row), b.getIndexAttr(col)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(shape[0]),
                                     b.getIndexAttr(shape[1])};
  SmallVector<OpFoldResult> strides = {b.getIndexAttr(1), b.getIndexAttr(1)};
  return memref::SubViewOp::create(b, loc, tile, offsets, sizes, strides);
}

LogicalResult KernelFunction::finish(const TilePool &pool, Operation *anchor,
                                     StringRef what, StringRef remedy,
                                     StringRef pass) {
  b.setInsertionPointToEnd(&func.getBody().front());
  func::ReturnOp::create(b, loc);
  if (!pool.overLimit())
    return success();
  return anchor->emitError()
         << pass << ": the " << what << " needs "
         << pool.bytesAllocated() << " bytes of shared memory, over the "
         << pool.limitBytes() << "-byte limit; " << remedy;
}

bool TilePool::carve(ArrayRef<int64_t> shape, Type elementType,
                     SmallVectorImpl<Value> &into) {
  if (shape.size() != 2)
    return false;
  // A free tile with as many columns (so the same padded pitch) and a
  // multiple of the rows splits into row blocks: once a K x V state is
  // dead, its space holds C x K tiles. (Row blocks keep each tile's bytes
  // contiguous, as the emitter's overlap checks expect.)
  for (auto &[key, tiles] : free) {
    const std::vector<int64_t> &big = key.first;
    if (tiles.empty() || key.second != elementType.getAsOpaquePointer() ||
        big.size() != 2 || big[1] != shape[1] || big[0] <= shape[0] ||
        big[0] % shape[0] != 0)
      continue;
    Value tile = tiles.pop_back_val();
    OpBuilder::InsertionGuard guard(kernel.b);
    kernel.b.setInsertionPointAfterValue(tile);
    for (int64_t row = big[0] - shape[0]; row >= 0; row -= shape[0])
      into.push_back(blockView(kernel.b, kernel.loc, tile, row, 0, shape));
    return true;
  }
  return false;
}

void TilePool::release(Value tile) {
  auto type = cast<MemRefType>(tile.getType());
  auto key = std::make_pair(std::vector<int64_t>(type.getShape().begin(),
                                                 type.getShape().end()),
                            const_cast<void *>(type.getElementType().getAsOpaquePointer()));
  free[key].push_back(tile);
}

std::string checkConversionOptions(StringRef pass, int64_t blockThreads,
                                   int64_t recurrenceBlockThreads,
                                   int64_t valueTile,
                                   int64_t sharedMemoryLimit) {
  using namespace kdac::limits;
  std::string prefix = pass.str() + ": ";
  std::string problem = checkBlockThreads(blockThreads, prefix + "block-threads");
  if (problem.empty() && recurrenceBlockThreads != 0)
    problem = checkBlockThreads(recurrenceBlockThreads,
                                prefix + "recurrence-block-threads");
  if (problem.empty())
    problem = checkValueTile(valueTile, prefix + "v-tile");
  if (problem.empty())
    problem = checkSharedMemoryLimit(sharedMemoryLimit, prefix + "smem-limit");
  return problem;
}

Value tokenOffset(KernelFunction &k, Value batch, Value token, Value seqLen,
                  int64_t heads, Value head, int64_t width) {
  Value row = k.add(k.mul(batch, seqLen), token);
  return k.mul(k.add(k.mul(row, heads), head), width);
}

} // namespace kdac::lowering
