//===- KDKAttrs.cpp - The attributes of the kdk dialect -------------------===//
//
// #kdk.target (the code-generation target's limits), #kdk.grid (a kernel's
// launch geometry, with its own syntax for the launch-time extents) and the
// argument bindings #kdk.tensor, #kdk.workspace and #kdk.size: their
// verifiers, and the lookups passes make of the target.
//
//===----------------------------------------------------------------------===//
#include "KDK/KDKOps.h"

#include "kdac/Spec/KernelSpec.h"
#include "kdac/Spec/Limits.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::kdk;

#define GET_ATTRDEF_CLASSES
#include "KDK/KDKAttrs.cpp.inc"

void KDKDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "KDK/KDKAttrs.cpp.inc"
      >();
}

LogicalResult TargetAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 StringRef arch, int64_t sharedMemory,
                                 int64_t registers) {
  const kdac::limits::TargetLimits *target =
      kdac::limits::findTarget(arch.str());
  if (!target)
    return emitError() << kdac::limits::checkArch(arch.str(),
                                                  "the #kdk.target arch");
  if (sharedMemory < 1 || sharedMemory > target->maxSharedMemoryPerBlock)
    return emitError() << "#kdk.target shared_memory must be in [1, "
                       << target->maxSharedMemoryPerBlock << "] bytes on "
                       << arch << ", got " << sharedMemory;
  if (registers < 1 || registers > target->maxRegistersPerThread)
    return emitError() << "#kdk.target registers must be in [1, "
                       << target->maxRegistersPerThread << "] on " << arch
                       << ", got " << registers;
  return success();
}

TargetAttr mlir::kdk::getTargetAttr(MLIRContext *context, StringRef arch) {
  const kdac::limits::TargetLimits *target =
      kdac::limits::findTarget(arch.str());
  if (!target)
    return nullptr;
  return TargetAttr::get(context, target->arch,
                         target->maxSharedMemoryPerBlock,
                         target->maxRegistersPerThread);
}

std::optional<int64_t> mlir::kdk::targetSharedMemory(Operation *op) {
  for (Operation *at = op; at; at = at->getParentOp())
    if (auto target = at->getAttrOfType<TargetAttr>(kTargetAttr))
      return target.getSharedMemory();
  return std::nullopt;
}

std::optional<int64_t> GridAttr::launchExtent(StringRef name) {
  return llvm::StringSwitch<std::optional<int64_t>>(name)
      .Case("chunk_slots", kChunkSlots)
      .Case("sequences", kSequences)
      .Case("batch", kBatch)
      .Default(std::nullopt);
}

StringRef GridAttr::extentName(int64_t extent) {
  switch (extent) {
  case kChunkSlots:
    return "chunk_slots";
  case kSequences:
    return "sequences";
  case kBatch:
    return "batch";
  default:
    return "";
  }
}

Attribute GridAttr::parse(AsmParser &parser, Type) {
  SmallVector<int64_t, 3> extents;
  auto parseExtent = [&]() -> ParseResult {
    SMLoc at = parser.getCurrentLocation();
    int64_t count = 0;
    OptionalParseResult number = parser.parseOptionalInteger(count);
    if (number.has_value()) {
      // Negative numbers are the launch-time extents' codes, never written.
      if (succeeded(*number) && count < 1)
        return parser.emitError(at) << "grid extent " << count
                                    << " is not a positive integer";
      extents.push_back(count);
      return *number;
    }
    StringRef name;
    if (parser.parseKeyword(&name))
      return failure();
    std::optional<int64_t> extent = launchExtent(name);
    if (!extent)
      return parser.emitError(at)
             << "grid extent '" << name
             << "' is not a positive integer, chunk_slots, sequences or "
                "batch";
    extents.push_back(*extent);
    return success();
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::LessGreater,
                                     parseExtent))
    return {};
  return parser.getChecked<GridAttr>(parser.getContext(), extents);
}

void GridAttr::print(AsmPrinter &printer) const {
  printer << "<";
  llvm::interleaveComma(getExtents(), printer, [&](int64_t extent) {
    StringRef name = extentName(extent);
    if (name.empty())
      printer << extent;
    else
      printer << name;
  });
  printer << ">";
}

LogicalResult GridAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               ArrayRef<int64_t> extents) {
  if (extents.size() != 3)
    return emitError() << "#kdk.grid needs three extents (x, y, z), got "
                       << extents.size();
  for (auto [axis, extent] : llvm::enumerate(extents))
    if (extent < 1 && extentName(extent).empty())
      return emitError() << "#kdk.grid extent " << axis << " (" << extent
                         << ") is not a positive integer";
  return success();
}

LogicalResult
TensorArgAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      StringRef name) {
  if (llvm::none_of(kdac::kTensorNames,
                    [&](StringRef tensor) { return tensor == name; }))
    return emitError() << "#kdk.tensor \"" << name
                       << "\" is not a KDA tensor name";
  return success();
}

LogicalResult
WorkspaceArgAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         StringRef name, int64_t bytesPerSlot) {
  if (name.empty())
    return emitError() << "#kdk.workspace needs a name";
  if (bytesPerSlot <= 0)
    return emitError() << "#kdk.workspace \"" << name
                       << "\" needs a positive bytes_per_slot, got "
                       << bytesPerSlot;
  return success();
}

LogicalResult SizeArgAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  StringRef name) {
  if (!llvm::is_contained(kSizeParams, name))
    return emitError() << "#kdk.size \"" << name
                       << "\" is not T, N, B, S or chunk_slots";
  return success();
}

LogicalResult
FragmentLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                           int64_t axis, int64_t vector, int64_t lanes) {
  using kdac::limits::isPowerOfTwo;
  if ((axis != 0 && axis != 1) || !isPowerOfTwo(vector) || vector > 16 ||
      !isPowerOfTwo(lanes) || lanes > 32)
    return emitError() << "expects #kdk.fragment axis 0 or 1 and powers of "
                          "two for vector (<= 16) and lanes (<= 32)";
  return success();
}

std::string FragmentLayoutAttr::spreadProblem(int64_t rows, int64_t cols,
                                              int64_t elementBits,
                                              int64_t threads) const {
  int64_t axis = getAxis(), vector = getVector(), lanes = getLanes();
  std::string shape = std::to_string(rows) + "x" + std::to_string(cols);
  if (elementBits < 32 && vector < 2)
    return "a 16-bit fragment needs runs of at least 2 elements (it packs "
           "pairs)";
  int64_t contiguous = axis == 1 ? cols : rows, other = axis == 1 ? rows : cols;
  if (contiguous % (vector * lanes) != 0 || other % (32 / lanes) != 0)
    return "cannot spread a " + shape + " fragment as runs of " +
           std::to_string(vector) + " over " + std::to_string(lanes) + " x " +
           std::to_string(32 / lanes) + " lanes";
  if (threads == 0)
    return "";
  // Over the block: each warp owns whole columns, which divide into the
  // lanes' runs, as the rows do.
  int64_t warps = threads / 32;
  int64_t rowLanes = axis == 1 ? 32 / lanes : lanes;
  int64_t colLanes = 32 / rowLanes;
  int64_t vecRows = axis == 1 ? 1 : vector, vecCols = axis == 1 ? vector : 1;
  if (cols % warps != 0 || (cols / warps) % (colLanes * vecCols) != 0 ||
      rows % (rowLanes * vecRows) != 0)
    return "cannot spread a " + shape + " register fragment over " +
           std::to_string(threads) + " threads with #kdk.fragment<" +
           std::to_string(axis) + ", " + std::to_string(vector) + ", " +
           std::to_string(lanes) +
           ">: each warp needs whole columns, and the rows and a warp's "
           "columns must divide into runs over the lanes";
  return "";
}

std::string MmaFragmentAttr::holdProblem(int64_t rows, int64_t cols,
                                         Type element, int64_t threads) {
  if (!element.isF32() || rows % 16 != 0 || cols % 16 != 0)
    return "expects an mma_fragment tile to be f32 with rows and columns "
           "multiples of 16";
  // Each warp holds whole 16-column tiles.
  if (threads && cols % (16 * (threads / 32)) != 0)
    return "cannot hold a " + std::to_string(rows) + "x" +
           std::to_string(cols) + " mma_fragment tile over " +
           std::to_string(threads) +
           " threads: its 16-column tiles do not divide evenly over the "
           "warps";
  return "";
}
