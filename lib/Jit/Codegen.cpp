//===- Codegen.cpp - Spec to CUDA source and launch descriptor ------------===//
//
// Builds IR for a spec, lowers it to kdk kernels and emits CUDA, turning any
// diagnostic on the way into an llvm::Error.
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/Codegen.h"
#include "kdac/Spec/Limits.h"

#include "kdac/Frontend/SpecToIR.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace kdac {

KernelSpec kernelSpecFor(const KernelSpec &spec) {
  KernelSpec generic = spec;
  generic.T = spec.keepsTokensStatic() ? spec.T : kDynamic;
  generic.B = spec.varlen ? 1 : kDynamic;
  return generic;
}

/// Collects error diagnostics of a context for the duration of a scope.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(MLIRContext &ctx)
      : handler(&ctx, [this](Diagnostic &diag) {
          // The error's own line only: notes (an op dump) would not fit
          // the one-line message.
          if (diag.getSeverity() == DiagnosticSeverity::Error) {
            if (!messages.empty())
              messages += "; ";
            // A file's IR has locations worth keeping; spec-built IR has none.
            if (auto file = diag.getLocation()->findInstanceOf<FileLineColLoc>())
              messages += (file.getFilename().str() + ":" +
                           std::to_string(file.getLine()) + ":" +
                           std::to_string(file.getColumn()) + ": ");
            messages += diag.str();
          }
          return success();
        }) {}
  llvm::Error error(const llvm::Twine &what) const {
    return llvm::createStringError(what + (messages.empty() ? "" : ": ") +
                                   messages);
  }

private:
  std::string messages;
  ScopedDiagnosticHandler handler;
};

llvm::Error lowerToKernels(ModuleOp module,
                           const ChunkedPipelineOptions &options) {
  std::string problem = validate(options, OptionNames::Json);
  if (!problem.empty())
    return llvm::createStringError("invalid compile options: " + problem);
  DiagnosticCollector diagnostics(*module.getContext());
  PassManager pm(module.getContext());
  buildPipeline(pm, Stage::Kernel, options);
  if (failed(pm.run(module)))
    return diagnostics.error("lowering to kernels failed");
  return llvm::Error::success();
}

llvm::Expected<EmittedCuda>
generateCuda(ModuleOp module, const ChunkedPipelineOptions &options) {
  if (llvm::Error e = lowerToKernels(module, options))
    return std::move(e);
  DiagnosticCollector diagnostics(*module.getContext());
  FailureOr<EmittedCuda> emitted = emitCuda(module);
  if (failed(emitted))
    return diagnostics.error("CUDA emission failed");
  return std::move(*emitted);
}

static llvm::Expected<EmittedCuda>
generateCudaAt(const KernelSpec &spec, const ChunkedPipelineOptions &options) {
  DialectRegistry registry;
  registerKdacDialects(registry);
  MLIRContext context(registry);
  DiagnosticCollector diagnostics(context);
  OwningOpRef<ModuleOp> module = buildSpecModule(context, kernelSpecFor(spec));
  if (!module)
    return diagnostics.error("the spec does not build valid IR");
  ChunkedPipelineOptions lowering = options;
  lowering.recurrent |= spec.isDecode();
  lowering.backward = spec.op == KernelOp::Backward;
  lowering.commit = spec.isCommit();
  return generateCuda(*module, lowering);
}

llvm::Expected<EmittedCuda>
generateCuda(const KernelSpec &spec, const ChunkedPipelineOptions &options) {
  std::string problem = validate(spec);
  if (!problem.empty())
    return llvm::createStringError("inconsistent spec: " + problem);
  return generateCudaAt(spec, options);
}

} // namespace kdac
