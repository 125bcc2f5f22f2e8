//===- LaunchDescriptorText.cpp - Text form of a launch descriptor --------===//
//
// One fact per line, one token per field, so lit tests can FileCheck any
// part, a person can read the launch plan at the top of the emitted source,
// and a deployment can ship it next to the cubins and read it back.
//
//   chunk_size 16
//   workspace "u" bytes_per_chunk_slot 16384
//   kernel "kda_chunk_prep" grid [chunk_slots, 4, 1] block_threads 256 dynamic_shared_bytes 39296
//     param tensor "q"
//     param workspace "u"
//     param size "T"
//
//===----------------------------------------------------------------------===//
#include "kdac/Launch/KernelSet.h"

#include <cctype>
#include <sstream>

namespace kdac {

namespace {

/// e.g. "chunk_slots", "4", "2*sequences + 1".
void printGridExtent(std::ostream &os, const rt::GridExtent &extent) {
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

const char *paramKindName(rt::ParamKind kind) {
  switch (kind) {
  case rt::ParamKind::Tensor:
    return "tensor";
  case rt::ParamKind::Workspace:
    return "workspace";
  case rt::ParamKind::SizeT:
  case rt::ParamKind::SizeN:
  case rt::ParamKind::SizeB:
  case rt::ParamKind::SizeS:
  case rt::ParamKind::SizeChunkSlots:
    return "size";
  }
  return "unknown";
}

/// Reads one line of the text form, token by token.
class LineReader {
public:
  LineReader(const std::string &line, int number)
      : line_(line), number_(number) {}

  rt::Error error(const std::string &what) const {
    return rt::makeError("launch descriptor line " + std::to_string(number_) +
                         ": " + what);
  }
  void skipSpaces() {
    while (at_ < line_.size() && line_[at_] == ' ')
      ++at_;
  }
  bool atEnd() {
    skipSpaces();
    return at_ == line_.size();
  }
  /// A bare word (letters, digits, '_').
  std::string word() {
    skipSpaces();
    size_t start = at_;
    while (at_ < line_.size() &&
           (std::isalnum(static_cast<unsigned char>(line_[at_])) ||
            line_[at_] == '_'))
      ++at_;
    return line_.substr(start, at_ - start);
  }
  bool expect(char c) {
    skipSpaces();
    if (at_ < line_.size() && line_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  bool quoted(std::string &out) {
    if (!expect('"'))
      return false;
    size_t end = line_.find('"', at_);
    if (end == std::string::npos)
      return false;
    out = line_.substr(at_, end - at_);
    at_ = end + 1;
    return true;
  }
  bool integer(int64_t &out) {
    std::string text = word();
    if (text.empty() || text.size() > 18 ||
        text.find_first_not_of("0123456789") != std::string::npos)
      return false;
    out = std::stoll(text);
    return true;
  }
  /// `keyword value` with an integer value.
  bool field(const char *keyword, int64_t &out) {
    return word() == keyword && integer(out);
  }
  /// A sum of terms `[factor*]size` or a constant, up to ',' or ']'.
  bool gridExtent(rt::GridExtent &extent) {
    extent = rt::GridExtent();
    extent.constant = 0;
    do {
      int64_t factor = 1;
      std::string token = word();
      if (!token.empty() && std::isdigit(static_cast<unsigned char>(token[0]))) {
        if (token.size() > 18 ||
            token.find_first_not_of("0123456789") != std::string::npos)
          return false;
        factor = std::stoll(token);
        if (!expect('*')) {
          extent.constant += factor;
          continue;
        }
        token = word();
      }
      if (token == "chunk_slots")
        extent.perChunkSlot += factor;
      else if (token == "sequences")
        extent.perSequence += factor;
      else if (token == "batch")
        extent.perBatch += factor;
      else
        return false;
    } while (expect('+'));
    return true;
  }

private:
  const std::string &line_;
  int number_;
  size_t at_ = 0;
};

} // namespace

std::string printLaunchDescriptor(const rt::LaunchDescriptor &launch) {
  std::ostringstream os;
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
  return os.str();
}

rt::Expected<rt::LaunchDescriptor>
parseLaunchDescriptor(const std::string &text) {
  rt::LaunchDescriptor launch;
  std::istringstream lines(text);
  std::string line;
  bool sawChunkSize = false;
  for (int number = 1; std::getline(lines, line); ++number) {
    LineReader in(line, number);
    if (in.atEnd())
      continue;
    std::string head = in.word();
    if (head == "chunk_size") {
      if (sawChunkSize || !in.integer(launch.chunkSize) ||
          launch.chunkSize < 1 || !in.atEnd())
        return in.error("expected one `chunk_size <positive integer>`");
      sawChunkSize = true;
    } else if (head == "workspace") {
      rt::Workspace ws;
      if (!in.quoted(ws.name) ||
          !in.field("bytes_per_chunk_slot", ws.bytesPerChunkSlot) ||
          !in.atEnd())
        return in.error("expected `workspace \"name\" bytes_per_chunk_slot N`");
      launch.workspaces.push_back(ws);
    } else if (head == "kernel") {
      rt::KernelLaunch kernel;
      bool ok = in.quoted(kernel.name) && in.word() == "grid" && in.expect('[');
      for (int axis = 0; ok && axis < 3; ++axis)
        ok = (axis == 0 || in.expect(',')) && in.gridExtent(kernel.grid[axis]);
      ok = ok && in.expect(']') &&
           in.field("block_threads", kernel.blockThreads) &&
           in.field("dynamic_shared_bytes", kernel.dynamicSharedBytes) &&
           in.atEnd() && kernel.blockThreads > 0;
      if (!ok)
        return in.error("expected `kernel \"name\" grid [x, y, z] "
                        "block_threads N dynamic_shared_bytes N`");
      launch.kernels.push_back(kernel);
    } else if (head == "param") {
      if (launch.kernels.empty())
        return in.error("a param before any kernel");
      std::string kind = in.word();
      rt::KernelParam param{rt::ParamKind::Tensor, ""};
      if (!in.quoted(param.name) || !in.atEnd())
        return in.error("expected `param tensor|workspace|size \"name\"`");
      if (kind == "workspace") {
        param.kind = rt::ParamKind::Workspace;
      } else if (kind == "size") {
        if (param.name == "T")
          param.kind = rt::ParamKind::SizeT;
        else if (param.name == "N")
          param.kind = rt::ParamKind::SizeN;
        else if (param.name == "B")
          param.kind = rt::ParamKind::SizeB;
        else if (param.name == "S")
          param.kind = rt::ParamKind::SizeS;
        else if (param.name == "chunk_slots")
          param.kind = rt::ParamKind::SizeChunkSlots;
        else
          return in.error("size \"" + param.name +
                          "\" is not T, N, B, S or chunk_slots");
      } else if (kind != "tensor") {
        return in.error("param kind '" + kind +
                        "' is not tensor, workspace or size");
      }
      launch.kernels.back().params.push_back(param);
    } else {
      return in.error("unknown entry '" + head + "'");
    }
  }
  if (!sawChunkSize)
    return rt::makeError("launch descriptor: no chunk_size line");
  return launch;
}

} // namespace kdac
