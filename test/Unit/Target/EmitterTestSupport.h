//===- EmitterTestSupport.h - Parsing and emitting kdk IR in unit tests ---===//
//
// Parses a kdk module from text with every dialect the emitter accepts,
// places its shared tiles (kdk-allocate-shared-memory, as every pipeline
// does before the emitter), captures diagnostics as text so tests can
// assert on messages, and fills `@name@` placeholders in IR templates
// (braces are taken by MLIR).
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TEST_UNIT_TARGET_EMITTERTESTSUPPORT_H
#define KDAC_TEST_UNIT_TARGET_EMITTERTESTSUPPORT_H

#include "kdac/Target/CUDA/CudaEmitter.h"
#include "kdac/Transforms/Passes.h"

#include "KDA/KDAOps.h"
#include "KDK/KDKOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace kdac::test {

/// Parses and emits; on failure `diagnostics` holds every message.
class EmitterHarness {
public:
  EmitterHarness() {
    mlir::DialectRegistry registry;
    registry.insert<mlir::kda::KDADialect, mlir::kdk::KDKDialect,
                    mlir::func::FuncDialect, mlir::arith::ArithDialect,
                    mlir::scf::SCFDialect, mlir::memref::MemRefDialect>();
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    context.getDiagEngine().registerHandler([this](mlir::Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return mlir::success();
    });
  }

  mlir::FailureOr<EmittedCuda> emit(const std::string &ir) {
    diagnostics.clear();
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(ir, &context);
    if (!module) {
      diagnostics = "parse error: " + diagnostics;
      return mlir::failure();
    }
    // These kernels are compiled, not launched: the limit that guards a
    // launch does not apply (the every-op kernel holds over 300 KiB).
    KDKAllocateSharedMemoryOptions placement;
    placement.sharedMemoryLimit = std::numeric_limits<int64_t>::max();
    mlir::PassManager pm(&context);
    pm.addPass(createKDKAllocateSharedMemory(placement));
    if (mlir::failed(pm.run(*module)))
      return mlir::failure();
    return emitCuda(*module);
  }

  std::string diagnostics;

private:
  mlir::MLIRContext context;
};

/// Replaces every `@key@` in `pattern`.
inline std::string
fill(std::string pattern,
     const std::vector<std::pair<std::string, std::string>> &values) {
  for (const auto &[key, value] : values) {
    std::string token = "@" + key + "@";
    for (size_t at = pattern.find(token); at != std::string::npos;
         at = pattern.find(token, at + value.size()))
      pattern.replace(at, token.size(), value);
  }
  return pattern;
}

inline bool contains(const std::string &text, const std::string &needle) {
  return text.find(needle) != std::string::npos;
}

} // namespace kdac::test

#endif // KDAC_TEST_UNIT_TARGET_EMITTERTESTSUPPORT_H
