//===- EmitControlFlow.cpp - scf and arith ops as C++ statements ----------===//
//
// Scalars are per-thread C++ values: an SSA result becomes a const local
// (index and i64 as long long), loop-carried and if-yielded values become
// mutable locals declared before the construct, so the loop/if results are
// simply those locals afterwards.
//
//===----------------------------------------------------------------------===//
#include "Emitter.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace kdac::cuda;

/// Every scalar op result is a fresh const local.
static FailureOr<StringRef> declareResult(CudaEmitter &emitter, Operation *op,
                                          Value result) {
  FailureOr<StringRef> type = getCppType(op, result.getType());
  if (failed(type))
    return failure();
  StringRef name = emitter.bindNewName(result);
  emitter.ostream() << "const " << *type << " " << name << " = ";
  return name;
}

/// The unsigned C++ type of the same width, for arith's *ui ops.
static FailureOr<StringRef> getUnsignedCppType(Operation *op, Type type) {
  if (type.isIndex() || type.isInteger(64))
    return StringRef("unsigned long long");
  if (type.isInteger(32))
    return StringRef("unsigned");
  return op->emitError() << "CUDA emitter: no unsigned C++ type for " << type;
}

/// Assigns the values a region yields to the locals that carry them out.
static LogicalResult emitYieldAssignments(CudaEmitter &emitter,
                                          scf::YieldOp yield,
                                          ArrayRef<std::string> targets) {
  raw_indented_ostream &os = emitter.ostream();
  SmallVector<std::string> values;
  for (Value value : yield.getOperands()) {
    FailureOr<std::string> name = emitter.getName(yield, value);
    if (failed(name))
      return failure();
    values.push_back(*name);
  }
  if (targets.size() == 1) {
    if (targets[0] != values[0])
      os << targets[0] << " = " << values[0] << ";\n";
    return success();
  }
  // Several loop-carried values may be yielded permuted (yield %b, %a):
  // read them all before writing any.
  for (auto [index, value] : llvm::enumerate(values)) {
    FailureOr<StringRef> type =
        getCppType(yield, yield.getOperand(index).getType());
    if (failed(type))
      return failure();
    os << "const " << *type << " " << targets[index] << "_next = " << value
       << ";\n";
  }
  for (const std::string &target : targets)
    os << target << " = " << target << "_next;\n";
  return success();
}

/// Declares a mutable local for each value that leaves a region.
static FailureOr<SmallVector<std::string>>
declareCarriedLocals(CudaEmitter &emitter, Operation *op, ValueRange results,
                     ValueRange inits) {
  SmallVector<std::string> locals;
  for (auto [index, result] : llvm::enumerate(results)) {
    if (isa<MemRefType>(result.getType()))
      return op->emitError() << "CUDA emitter: tiles cannot be carried by "
                             << op->getName() << " (only scalars)";
    FailureOr<StringRef> type = getCppType(op, result.getType());
    if (failed(type))
      return failure();
    std::string name = emitter.bindNewName(result).str();
    emitter.ostream() << *type << " " << name;
    if (!inits.empty()) {
      FailureOr<std::string> init = emitter.getName(op, inits[index]);
      if (failed(init))
        return failure();
      emitter.ostream() << " = " << *init;
    }
    emitter.ostream() << ";\n";
    locals.push_back(name);
  }
  return locals;
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter, scf::ForOp op) {
  raw_indented_ostream &os = emitter.ostream();
  if (op.getUnsignedCmp())
    return op.emitOpError() << "with unsigned comparison is not supported by "
                               "the CUDA emitter";
  FailureOr<std::string> lower = emitter.getName(op, op.getLowerBound());
  FailureOr<std::string> upper = emitter.getName(op, op.getUpperBound());
  FailureOr<std::string> step = emitter.getName(op, op.getStep());
  if (failed(lower) || failed(upper) || failed(step))
    return failure();
  FailureOr<SmallVector<std::string>> carried =
      declareCarriedLocals(emitter, op, op.getResults(), op.getInitArgs());
  if (failed(carried))
    return failure();
  for (auto [arg, name] : llvm::zip(op.getRegionIterArgs(), *carried))
    emitter.bindName(arg, name);

  Value iv = op.getInductionVar();
  FailureOr<StringRef> ivType = getCppType(op, iv.getType());
  if (failed(ivType))
    return failure();
  StringRef ivName = emitter.bindNewName(iv);
  os << "for (" << *ivType << " " << ivName << " = " << *lower << "; "
     << ivName << " < " << *upper << "; " << ivName << " += " << *step
     << ") {\n";
  os.indent();
  if (failed(emitter.emitBlockBody(*op.getBody())) ||
      failed(emitYieldAssignments(
          emitter, cast<scf::YieldOp>(op.getBody()->getTerminator()),
          *carried)))
    return failure();
  os.unindent();
  os << "}\n";
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter, scf::IfOp op) {
  raw_indented_ostream &os = emitter.ostream();
  FailureOr<std::string> condition = emitter.getName(op, op.getCondition());
  if (failed(condition))
    return failure();
  FailureOr<SmallVector<std::string>> results =
      declareCarriedLocals(emitter, op, op.getResults(), ValueRange());
  if (failed(results))
    return failure();

  auto emitBranch = [&](Region &region) -> LogicalResult {
    os.indent();
    Block &block = region.front();
    if (failed(emitter.emitBlockBody(block)) ||
        failed(emitYieldAssignments(
            emitter, cast<scf::YieldOp>(block.getTerminator()), *results)))
      return failure();
    os.unindent();
    return success();
  };
  os << "if (" << *condition << ") {\n";
  if (failed(emitBranch(op.getThenRegion())))
    return failure();
  if (!op.getElseRegion().empty()) {
    os << "} else {\n";
    if (failed(emitBranch(op.getElseRegion())))
      return failure();
  }
  os << "}\n";
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         arith::ConstantOp op) {
  Attribute value = op.getValue();
  std::string literal;
  if (auto integer = dyn_cast<IntegerAttr>(value)) {
    Type type = integer.getType();
    if (type.isInteger(1))
      literal = integer.getValue().isZero() ? "false" : "true";
    else if (type.isInteger(32))
      literal = std::to_string(integer.getValue().getSExtValue());
    else if (integer.getValue().isMinSignedValue() &&
             integer.getValue().getBitWidth() == 64)
      literal = "(-9223372036854775807ll - 1)";
    else
      literal = std::to_string(integer.getValue().getSExtValue()) + "ll";
  } else if (auto real = dyn_cast<FloatAttr>(value)) {
    literal = formatFloatLiteral(real.getValueAsDouble(),
                                 real.getType().isF64());
  } else {
    return op.emitOpError() << "with a " << value
                            << " value is not supported by the CUDA emitter";
  }
  FailureOr<StringRef> name = declareResult(emitter, op, op.getResult());
  if (failed(name))
    return failure();
  emitter.ostream() << literal << ";\n";
  return success();
}

static const char *cmpOperator(arith::CmpIPredicate predicate,
                               bool &isUnsigned) {
  using P = arith::CmpIPredicate;
  isUnsigned = predicate == P::ult || predicate == P::ule ||
               predicate == P::ugt || predicate == P::uge;
  switch (predicate) {
  case P::eq:
    return "==";
  case P::ne:
    return "!=";
  case P::slt:
  case P::ult:
    return "<";
  case P::sle:
  case P::ule:
    return "<=";
  case P::sgt:
  case P::ugt:
    return ">";
  case P::sge:
  case P::uge:
    return ">=";
  }
  return "==";
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         arith::CmpIOp op) {
  FailureOr<std::string> lhs = emitter.getName(op, op.getLhs());
  FailureOr<std::string> rhs = emitter.getName(op, op.getRhs());
  if (failed(lhs) || failed(rhs))
    return failure();
  bool isUnsigned;
  const char *symbol = cmpOperator(op.getPredicate(), isUnsigned);
  std::string left = *lhs, right = *rhs;
  if (isUnsigned && !op.getLhs().getType().isInteger(1)) {
    FailureOr<StringRef> type = getUnsignedCppType(op, op.getLhs().getType());
    if (failed(type))
      return failure();
    left = "(" + type->str() + ")" + left;
    right = "(" + type->str() + ")" + right;
  }
  if (failed(declareResult(emitter, op, op.getResult())))
    return failure();
  emitter.ostream() << left << " " << symbol << " " << right << ";\n";
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         arith::SelectOp op) {
  if (isa<MemRefType>(op.getType()))
    return op.emitOpError() << "on tiles is not supported by the CUDA emitter";
  FailureOr<std::string> condition = emitter.getName(op, op.getCondition());
  FailureOr<std::string> whenTrue = emitter.getName(op, op.getTrueValue());
  FailureOr<std::string> whenFalse = emitter.getName(op, op.getFalseValue());
  if (failed(condition) || failed(whenTrue) || failed(whenFalse) ||
      failed(declareResult(emitter, op, op.getResult())))
    return failure();
  emitter.ostream() << *condition << " ? " << *whenTrue << " : " << *whenFalse
                    << ";\n";
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         arith::IndexCastOp op) {
  FailureOr<std::string> input = emitter.getName(op, op.getIn());
  FailureOr<StringRef> type = getCppType(op, op.getType());
  if (failed(input) || failed(type) ||
      failed(declareResult(emitter, op, op.getResult())))
    return failure();
  emitter.ostream() << "(" << *type << ")" << *input << ";\n";
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         arith::IndexCastUIOp op) {
  FailureOr<std::string> input = emitter.getName(op, op.getIn());
  FailureOr<StringRef> type = getCppType(op, op.getType());
  // Zero extension: reinterpret the source as unsigned before widening.
  FailureOr<StringRef> sourceUnsigned =
      getUnsignedCppType(op, op.getIn().getType());
  if (failed(input) || failed(type) || failed(sourceUnsigned) ||
      failed(declareResult(emitter, op, op.getResult())))
    return failure();
  emitter.ostream() << "(" << *type << ")(" << *sourceUnsigned << ")"
                    << *input << ";\n";
  return success();
}

LogicalResult kdac::cuda::printIntegerBinaryOperation(CudaEmitter &emitter,
                                                      Operation *op) {
  Value lhsValue = op->getOperand(0), rhsValue = op->getOperand(1);
  FailureOr<std::string> lhs = emitter.getName(op, lhsValue);
  FailureOr<std::string> rhs = emitter.getName(op, rhsValue);
  if (failed(lhs) || failed(rhs))
    return failure();
  Type type = op->getResult(0).getType();
  if (!type.isIntOrIndex())
    return op->emitOpError() << "on " << type
                             << " is not supported by the CUDA emitter";
  std::string a = *lhs, b = *rhs;
  auto infix = [&](StringRef symbol) {
    return a + " " + symbol.str() + " " + b;
  };
  // The *ui ops compute on the unsigned bit patterns, then convert back.
  auto asUnsigned = [&](StringRef symbol) -> FailureOr<std::string> {
    FailureOr<StringRef> unsignedType = getUnsignedCppType(op, type);
    FailureOr<StringRef> signedType = getCppType(op, type);
    if (failed(unsignedType) || failed(signedType))
      return failure();
    std::string u = "(" + unsignedType->str() + ")";
    return "(" + signedType->str() + ")(" + u + a + " " + symbol.str() + " " +
           u + b + ")";
  };
  auto select = [&](StringRef symbol, bool isUnsigned) -> FailureOr<std::string> {
    std::string left = a, right = b;
    if (isUnsigned) {
      FailureOr<StringRef> unsignedType = getUnsignedCppType(op, type);
      if (failed(unsignedType))
        return failure();
      left = "(" + unsignedType->str() + ")" + a;
      right = "(" + unsignedType->str() + ")" + b;
    }
    return left + " " + symbol.str() + " " + right + " ? " + a + " : " + b;
  };
  FailureOr<std::string> expression =
      llvm::TypeSwitch<Operation *, FailureOr<std::string>>(op)
          .Case<arith::AddIOp>([&](auto) { return infix("+"); })
          .Case<arith::SubIOp>([&](auto) { return infix("-"); })
          .Case<arith::MulIOp>([&](auto) { return infix("*"); })
          .Case<arith::DivSIOp>([&](auto) { return infix("/"); })
          .Case<arith::RemSIOp>([&](auto) { return infix("%"); })
          .Case<arith::AndIOp>([&](auto) { return infix("&"); })
          .Case<arith::OrIOp>([&](auto) { return infix("|"); })
          .Case<arith::XOrIOp>([&](auto) { return infix("^"); })
          .Case<arith::DivUIOp>([&](auto) { return asUnsigned("/"); })
          .Case<arith::RemUIOp>([&](auto) { return asUnsigned("%"); })
          .Case<arith::MinSIOp>([&](auto) { return select("<", false); })
          .Case<arith::MaxSIOp>([&](auto) { return select(">", false); })
          .Case<arith::MinUIOp>([&](auto) { return select("<", true); })
          .Case<arith::MaxUIOp>([&](auto) { return select(">", true); })
          .Case<arith::CeilDivSIOp>([&](auto) {
            return "kdac::ceilDivSigned(" + a + ", " + b + ")";
          })
          .Case<arith::CeilDivUIOp>([&](auto) {
            return "kdac::ceilDivUnsigned(" + a + ", " + b + ")";
          })
          .Default([&](Operation *) -> FailureOr<std::string> {
            return op->emitOpError() << "is not supported by the CUDA emitter";
          });
  if (failed(expression))
    return failure();
  if ((isa<arith::CeilDivSIOp, arith::CeilDivUIOp>(op)) && type.isInteger(1))
    return op->emitOpError() << "on i1 is not supported by the CUDA emitter";
  if (failed(declareResult(emitter, op, op->getResult(0))))
    return failure();
  emitter.ostream() << *expression << ";\n";
  return success();
}
