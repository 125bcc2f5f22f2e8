//===- CompileOptions.cpp - Checks of the compiler's own choices ----------===//
//
// One rule set for compilation choices, whether they come from flags, a
// tuning database or a JIT caller, so that no entry point lets through a
// value the passes would hang on or divide by.
//
//===----------------------------------------------------------------------===//
#include "kdac/Spec/CompileOptions.h"

#include "kdac/Spec/Limits.h"

namespace kdac {

namespace {
/// The name of one field for messages: {flag, JSON key}.
struct FieldName {
  const char *flag;
  const char *json;
  std::string in(OptionNames names) const {
    return names == OptionNames::Flags ? std::string("--") + flag : json;
  }
};
/// Each field's names, from the table: field::chunkSize.in(names).
namespace field {
#define KDAC_COMPILE_OPTION(TYPE, MEMBER, FLAG, JSON, DEFAULT, HELP)           \
  constexpr FieldName MEMBER{FLAG, JSON};
#include "kdac/Spec/CompileOptions.def"
} // namespace field

bool oneOf(const std::string &value, std::initializer_list<const char *> set) {
  for (const char *allowed : set)
    if (value == allowed)
      return true;
  return false;
}
} // namespace

std::string validate(const ChunkedPipelineOptions &o, OptionNames names) {
  using namespace limits;
  if (o.chunkSize != 0) {
    std::string problem =
        checkKernelChunkSize(o.chunkSize, field::chunkSize.in(names));
    if (!problem.empty())
      return problem + " (or 0 for the default)";
  }
  if (!oneOf(o.utMethod, {"forward-substitution", "neumann", "blocked"}))
    return "invalid value '" + o.utMethod + "' for " +
           field::utMethod.in(names) +
           " (expected forward-substitution, neumann or blocked)";
  if (!oneOf(o.diagMethod, {"forward-substitution", "neumann"}))
    return "invalid value '" + o.diagMethod + "' for " +
           field::diagMethod.in(names) +
           " (expected forward-substitution or neumann)";
  if (o.utMethod == "neumann" && o.effectiveChunkSize() > 16)
    return field::utMethod.in(names) +
           " neumann needs chunks of at most 16 tokens, "
           "got " +
           std::to_string(o.effectiveChunkSize()) +
           " (use blocked with the neumann diagonal method for larger chunks)";
  if (o.anchorBlock != 0 &&
      !checkIRChunkSize(o.anchorBlock, field::anchorBlock.in(names)).empty())
    return field::anchorBlock.in(names) +
           " must be 0 (direct) or a power of two "
           "in [1, " +
           std::to_string(kMaxChunkSize) + "], got " +
           std::to_string(o.anchorBlock);
  std::string problem =
      checkBlockThreads(o.blockThreads, field::blockThreads.in(names));
  // A kernel's own block size: 0 takes block-threads.
  auto checkKernelThreads = [&](int64_t threads, const std::string &what) {
    if (!problem.empty() || threads == 0)
      return;
    problem = checkBlockThreads(threads, what);
    if (!problem.empty())
      problem += " (or 0 for " + field::blockThreads.in(names) + ")";
  };
  checkKernelThreads(o.recurrenceBlockThreads,
                     field::recurrenceBlockThreads.in(names));
  checkKernelThreads(o.gradMapBlockThreads,
                     field::gradMapBlockThreads.in(names));
  checkKernelThreads(o.gradPrepBlockThreads,
                     field::gradPrepBlockThreads.in(names));
  if (problem.empty())
    problem = checkValueTile(o.valueTile, field::valueTile.in(names));
  if (problem.empty())
    problem =
        checkValueTile(o.decodeValueTile, field::decodeValueTile.in(names));
  if (problem.empty())
    problem = checkValueTile(o.gradValueTile, field::gradValueTile.in(names));
  // The backward's scans run block-threads threads.
  if (problem.empty())
    problem = checkBlocksPerSM(o.gradScanBlocksPerSM, o.blockThreads,
                               field::gradScanBlocksPerSM.in(names));
  if (!problem.empty())
    return problem;
  if (!oneOf(o.gradProducts, {"auto", "fma", "tf32"}))
    return "invalid value '" + o.gradProducts + "' for " +
           field::gradProducts.in(names) + " (expected fma, tf32 or auto)";
  if (!oneOf(o.decodeStateIn, {"auto", "registers", "shared"}))
    return "invalid value '" + o.decodeStateIn + "' for " +
           field::decodeStateIn.in(names) +
           " (expected registers, shared or auto)";
  return "";
}

namespace {
void appendValue(std::string &out, int64_t v) { out += std::to_string(v); }
void appendValue(std::string &out, bool v) { out += v ? "1" : "0"; }
void appendValue(std::string &out, const std::string &v) { out += v; }
} // namespace

std::string optionsKey(const ChunkedPipelineOptions &o) {
  std::string key;
#define KDAC_COMPILE_OPTION(TYPE, MEMBER, FLAG, JSON, DEFAULT, HELP)           \
  key += key.empty() ? JSON "=" : " " JSON "=";                                \
  appendValue(key, o.MEMBER);
#include "kdac/Spec/CompileOptions.def"
  return key;
}

} // namespace kdac
