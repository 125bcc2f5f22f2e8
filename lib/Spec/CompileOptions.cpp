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
constexpr FieldName kChunkSize{"chunk-size", "chunk_size"};
constexpr FieldName kUTMethod{"ut-method", "ut_method"};
constexpr FieldName kDiagMethod{"diag-method", "diag_method"};
constexpr FieldName kAnchorBlock{"anchor-block", "anchor_block"};
constexpr FieldName kBlockThreads{"block-threads", "block_threads"};
constexpr FieldName kRecurrenceThreads{"recurrence-block-threads",
                                       "recurrence_block_threads"};
constexpr FieldName kValueTile{"v-tile", "v_tile"};
constexpr FieldName kDecodeStateIn{"decode-state-in", "decode_state_in"};

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
    std::string problem = checkKernelChunkSize(o.chunkSize, kChunkSize.in(names));
    if (!problem.empty())
      return problem + " (or 0 for the default)";
  }
  if (!oneOf(o.utMethod, {"forward-substitution", "neumann", "blocked"}))
    return "invalid value '" + o.utMethod + "' for " + kUTMethod.in(names) +
           " (expected forward-substitution, neumann or blocked)";
  if (!oneOf(o.diagMethod, {"forward-substitution", "neumann"}))
    return "invalid value '" + o.diagMethod + "' for " +
           kDiagMethod.in(names) + " (expected forward-substitution or neumann)";
  if (o.utMethod == "neumann" && o.chunkSize > 16)
    return kUTMethod.in(names) + " neumann needs chunks of at most 16 tokens, "
           "got " + std::to_string(o.chunkSize) +
           " (use blocked with the neumann diagonal method for larger chunks)";
  if (o.anchorBlock != 0 &&
      !checkIRChunkSize(o.anchorBlock, kAnchorBlock.in(names)).empty())
    return kAnchorBlock.in(names) + " must be 0 (direct) or a power of two "
           "in [1, " + std::to_string(kMaxChunkSize) + "], got " +
           std::to_string(o.anchorBlock);
  std::string problem = checkBlockThreads(o.blockThreads, kBlockThreads.in(names));
  if (problem.empty() && o.recurrenceBlockThreads != 0) {
    problem = checkBlockThreads(o.recurrenceBlockThreads,
                                kRecurrenceThreads.in(names));
    if (!problem.empty())
      problem += " (or 0 for " + kBlockThreads.in(names) + ")";
  }
  if (problem.empty())
    problem = checkValueTile(o.valueTile, kValueTile.in(names));
  if (problem.empty())
    problem = checkValueTile(o.decodeValueTile, kValueTile.in(names));
  if (!problem.empty())
    return problem;
  if (!oneOf(o.decodeStateIn, {"auto", "registers", "shared"}))
    return "invalid value '" + o.decodeStateIn + "' for " +
           kDecodeStateIn.in(names) + " (expected registers, shared or auto)";
  return "";
}

} // namespace kdac
