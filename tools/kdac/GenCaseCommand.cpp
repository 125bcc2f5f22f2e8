//===- GenCaseCommand.cpp - kdac gen-case: write a random case ------------===//
//
// Draws seeded random inputs for the spec given by the spec flags, computes
// the fp64 oracle's outputs and writes both in the golden-vector format, so
// tests and benchmarks can make cases of any shape.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "kdac/Reference/Case.h"
#include "kdac/Spec/Limits.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

namespace kdac::cli {

static cl::opt<std::string> outputFile("o", cl::Required,
                                       cl::desc("Output case file"),
                                       cl::value_desc("file"),
                                       cl::sub(genCaseCommand));
static cl::opt<uint64_t> seedFlag("seed", cl::desc("Random seed (default: 0)"),
                                  cl::init(0), cl::sub(genCaseCommand));
static cl::opt<std::string> seqlensFlag(
    "seqlens",
    cl::desc("With --varlen: comma-separated sequence lengths (T is their sum)"),
    cl::init(""), cl::sub(genCaseCommand));
static cl::opt<std::string> storeDtypeFlag(
    "store-dtype",
    cl::desc("Dtype q, k, v, g, beta are stored in: f32 (default; exact for "
             "every input dtype) | f64 | bf16 | f16"),
    cl::init("f32"), cl::sub(genCaseCommand));

int runGenCase() {
  std::optional<KernelSpec> spec = specFromFlags();
  if (!spec)
    return 1;
  std::optional<TensorDType> store = parseTensorDType(llvm::StringRef(storeDtypeFlag).upper());
  if (!store || !isFloatingPoint(*store))
    return reportError("invalid value '" + storeDtypeFlag +
                       "' for --store-dtype (expected f32, f64, bf16 or f16)");

  std::vector<int64_t> seqLens;
  if (!seqlensFlag.empty()) {
    if (!spec->varlen)
      return reportError("--seqlens needs --varlen");
    llvm::SmallVector<llvm::StringRef> parts;
    llvm::StringRef(seqlensFlag).split(parts, ',');
    for (llvm::StringRef part : parts) {
      int64_t len;
      if (part.trim().getAsInteger(10, len) || len < 1)
        return reportError("invalid sequence length '" + part +
                           "' in --seqlens (expected positive integers)");
      seqLens.push_back(len);
    }
  } else if (spec->varlen) {
    return reportError("--varlen needs --seqlens");
  }
  int64_t t = spec->T;
  if (spec->varlen) {
    t = 0;
    for (int64_t len : seqLens) {
      std::optional<int64_t> sum = limits::checkedAdd(t, len);
      if (!sum || *sum > limits::kMaxTokens)
        return reportError("--seqlens add up to more than " +
                           llvm::Twine(limits::kMaxTokens) + " tokens");
      t = *sum;
    }
  } else if (t == kDynamic) {
    return reportError("gen-case needs a sequence length: give --T");
  }
  if (spec->B == kDynamic)
    return reportError("gen-case needs a batch size: give --B");
  // A case is backend-neutral: how it is run is `kdac check`'s choice, and
  // the case format has no state pool.
  if (spec->isDecode())
    return reportError("gen-case writes backend-neutral cases: drop --op=decode "
                       "and run the case with `kdac check --backend=decode`");
  if (spec->statePool)
    return reportError("gen-case cannot write state-pool cases (--state-pool, "
                       "--accepted-counts): the case format holds "
                       "initial/final states only");

  // makeRandomCase treats a bad size as a programming error: check first.
  KernelSpec sized = *spec;
  sized.T = t;
  std::string problem = validate(sized);
  if (!problem.empty())
    return reportError("inconsistent spec: " + problem);
  int64_t numSeqs = spec->varlen ? int64_t(seqLens.size()) : spec->B;
  if (numSeqs > limits::kMaxSequences)
    return reportError("--seqlens lists " + llvm::Twine(numSeqs) +
                       " sequences, more than the limit of " +
                       llvm::Twine(limits::kMaxSequences));
  if (llvm::Error e = checkProblemSize(sized, spec->B, t, numSeqs))
    return reportError(llvm::toString(std::move(e)));

  KdaCase c = makeRandomCase(*spec, spec->B, t, seqLens, seedFlag);
  if (llvm::Error err = saveCase(outputFile, c, *store))
    return reportError(llvm::toString(std::move(err)));
  llvm::outs() << "wrote " << outputFile << " (B=" << c.spec.B
               << " T=" << c.spec.T << ", seed " << seedFlag << ")\n";
  return 0;
}

} // namespace kdac::cli
