//===- LaunchDescriptorText.cpp - Text form of a launch descriptor --------===//
//
// One fact per token so lit tests can FileCheck any part and a person can
// read the launch plan at the top of the emitted source.
//
//===----------------------------------------------------------------------===//
#include "kdac/Target/CUDA/CudaEmitter.h"

#include "llvm/Support/raw_ostream.h"

using namespace kdac;

/// e.g. "chunk_slots", "4", "2*sequences + 1".
static void printGridExtent(llvm::raw_ostream &os,
                            const rt::GridExtent &extent) {
  bool first = true;
  auto term = [&](int64_t factor, const char *size) {
    if (factor == 0)
      return;
    os << (first ? "" : " + ");
    first = false;
    if (factor != 1)
      os << factor << "*";
    os << size;
  };
  term(extent.perChunkSlot, "chunk_slots");
  term(extent.perSequence, "sequences");
  term(extent.perBatch, "batch");
  if (extent.constant != 0 || first)
    os << (first ? "" : " + ") << extent.constant;
}

static const char *paramKindName(rt::ParamKind kind) {
  switch (kind) {
  case rt::ParamKind::Tensor:
    return "tensor";
  case rt::ParamKind::Workspace:
    return "workspace";
  case rt::ParamKind::SizeT:
  case rt::ParamKind::SizeN:
  case rt::ParamKind::SizeB:
  case rt::ParamKind::SizeS:
    return "size";
  }
  return "unknown";
}

std::string kdac::printLaunchDescriptor(const rt::LaunchDescriptor &launch) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "chunk_size " << launch.chunkSize << "\n";
  for (const rt::Workspace &workspace : launch.workspaces)
    os << "workspace \"" << workspace.name << "\" bytes_per_chunk_slot "
       << workspace.bytesPerChunkSlot << "\n";
  for (const rt::KernelLaunch &kernel : launch.kernels) {
    os << "kernel \"" << kernel.name << "\" grid [";
    for (int axis = 0; axis < 3; ++axis) {
      if (axis)
        os << ", ";
      printGridExtent(os, kernel.grid[axis]);
    }
    os << "] block_threads " << kernel.blockThreads << " dynamic_shared_bytes "
       << kernel.dynamicSharedBytes << "\n";
    for (const rt::KernelParam &param : kernel.params)
      os << "  param " << paramKindName(param.kind) << " \"" << param.name
         << "\"\n";
  }
  return text;
}
