//===- GpuCase.h - Run a KDA case on the GPU through the JIT ----*- C++ -*-===//
//
// Uploads a case's inputs at the spec's dtypes, poisons the outputs, launches
// the JIT-compiled kernels and reads the results back as doubles: the GPU
// backend of `kdac check`, of the GPU tests and of the benchmarks.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TESTING_GPUCASE_H
#define KDAC_TESTING_GPUCASE_H

#include "kdac/Jit/Jit.h"
#include "kdac/Reference/Case.h"
#include "kdac/Reference/ReferenceBackward.h"
#include "kdac/Reference/StatePool.h"

namespace kdac {

/// A case's tensors in device memory at the spec's dtypes, with output
/// buffers; the buffers live as long as the object.
class DeviceCase {
public:
  /// Uploads the inputs and allocates outputs (the final state always,
  /// unless the spec has a state pool).
  static llvm::Expected<std::unique_ptr<DeviceCase>> upload(const KdaCase &c);
  /// Uploads a state pool (at the spec's state dtype), its indices and
  /// accepted counts, for a spec with statePool.
  llvm::Error attachPool(const StatePool &pool);
  /// The pool as the kernels left it.
  llvm::Expected<std::vector<double>> readPool() const;
  /// With token records (attachPool allocates them, poisoned): what the
  /// decode kernel wrote.
  llvm::Expected<std::vector<double>> readRecords() const;
  /// The commit of this case's token records: `accepted` ([N]) uploaded,
  /// with the pool, its indices and the records.
  llvm::Expected<KdaLaunchArgs>
  commitArgs(const std::vector<int32_t> &accepted);
  /// After a token-records launch: runs the commit spec's kernel (compiled
  /// by `jit`) on commitArgs(accepted).
  llvm::Error commitRecords(Jit &jit, const std::vector<int32_t> &accepted);

  /// Fills the outputs with 0xFF bytes (NaN in every float dtype), so an
  /// element the kernels never write cannot pass a comparison.
  llvm::Error poisonOutputs();
  llvm::Expected<KdaOutputs> download() const;

  /// For the `backward` spec of the uploaded case: drops the forward's
  /// outputs, uploads the cotangents (dht when the spec has a final state)
  /// and allocates the gradients, poisoned.
  llvm::Error attachCotangents(const KernelSpec &backward,
                               const KdaCotangents &cot);
  llvm::Expected<KdaGradients> downloadGradients() const;

  const KernelSpec &spec() const { return spec_; }
  const KdaLaunchArgs &args() const { return args_; }

private:
  DeviceCase() = default;
  llvm::Expected<DeviceTensor> place(const Tensor &host);
  llvm::Expected<std::vector<double>> read(const DeviceTensor &t) const;

  KernelSpec spec_;
  KdaLaunchArgs args_;
  std::vector<std::unique_ptr<rt::DeviceBuffer>> buffers_;
};

/// Uploads `c`, poisons the outputs, launches the JIT's kernels once and
/// returns the outputs as doubles.
llvm::Expected<KdaOutputs> runCaseOnGpu(Jit &jit, const KdaCase &c);

/// As runCaseOnGpu for a spec with a state pool: `pool` is uploaded and
/// updated by the kernel; finalState of the result is the whole pool after.
llvm::Expected<KdaOutputs> runPooledCaseOnGpu(Jit &jit, const KdaCase &c,
                                              const StatePool &pool);

/// A token-records decode call and its commit, on one pool: the decode
/// launch's outputs, records and pool, then the pool after committing
/// `accepted`.
struct RecordsRun {
  KdaOutputs decode;
  std::vector<double> records, poolAfterDecode, poolAfterCommit;
};
/// The commit spec of a token-records decode spec.
KernelSpec commitSpecFor(const KernelSpec &decode);

llvm::Expected<RecordsRun>
runRecordsAndCommitOnGpu(Jit &jit, const KdaCase &c, const StatePool &pool,
                         const std::vector<int32_t> &accepted);

/// Runs a backward spec's kernels on a case and its cotangents.
llvm::Expected<KdaGradients> runBackwardOnGpu(Jit &jit, const KdaCase &c,
                                              const KdaCotangents &cot);

} // namespace kdac

#endif // KDAC_TESTING_GPUCASE_H
