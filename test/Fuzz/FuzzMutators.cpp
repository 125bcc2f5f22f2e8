//===- FuzzMutators.cpp - Input mutations of kdac-fuzz --------------------===//
//
// Structured mutations re-serialise what they edit (a safetensors header is
// parsed, one field replaced, written back with the data unchanged), so most
// mutated inputs get past the first syntax check and reach the size, shape
// and consistency checks behind it.
//
//===----------------------------------------------------------------------===//
#include "FuzzMutators.h"

#include "kdac/Support/BoundedJson.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <cstring>
#include <limits>

using namespace kdac::fuzz;

int64_t Mutator::extremeInteger() {
  static const int64_t values[] = {0,
                                   1,
                                   -1,
                                   2,
                                   3,
                                   7,
                                   8,
                                   15,
                                   16,
                                   17,
                                   31,
                                   32,
                                   48,
                                   63,
                                   64,
                                   65,
                                   127,
                                   128,
                                   129,
                                   255,
                                   256,
                                   257,
                                   4096,
                                   65535,
                                   65536,
                                   (int64_t(1) << 31) - 1,
                                   int64_t(1) << 31,
                                   int64_t(1) << 32,
                                   int64_t(1) << 40,
                                   int64_t(1) << 48,
                                   int64_t(1) << 53,
                                   int64_t(1) << 62,
                                   std::numeric_limits<int64_t>::max(),
                                   std::numeric_limits<int64_t>::min(),
                                   -(int64_t(1) << 31)};
  return values[below(std::size(values))];
}

std::string Mutator::extremeJson() {
  switch (below(8)) {
  case 0:
  case 1:
  case 2:
    return std::to_string(extremeInteger());
  case 3: {
    static const char *floats[] = {"1e308", "-1e308", "1e-320", "-0.0",
                                   "0.5", "-7.5", "3.0e38", "1e400"};
    return floats[below(std::size(floats))];
  }
  case 4: {
    static const char *strings[] = {"\"\"", "\"nan\"", "\"inf\"", "\"-5\"",
                                    "\"lowerbound\"", "\"softplus\"",
                                    "\"none\"", "\"scalar\"", "\"bf16\"",
                                    "\"F64\"", "\"I8\"", "\"x\\u0000y\""};
    return strings[below(std::size(strings))];
  }
  case 5:
    return below(2) ? "null" : (below(2) ? "true" : "false");
  case 6:
    return below(2) ? "[]" : "{}";
  default:
    return "[" + std::to_string(extremeInteger()) + ", " +
           std::to_string(extremeInteger()) + "]";
  }
}

std::string Mutator::mutateBytes(std::string input) {
  switch (below(5)) {
  case 0: // flip bits
    if (!input.empty())
      input[below(input.size())] ^= char(1u << below(8));
    break;
  case 1: // set a byte to an edge value
    if (!input.empty()) {
      static const char bytes[] = {0, '\x7f', '\x80', '\xff', '"', '{', '[',
                                   '9', '-', '\n'};
      input[below(input.size())] = bytes[below(std::size(bytes))];
    }
    break;
  case 2: // erase a range
    if (!input.empty()) {
      size_t at = below(input.size());
      input.erase(at, 1 + below(std::min<size_t>(64, input.size() - at)));
    }
    break;
  case 3: // duplicate a range
    if (!input.empty()) {
      size_t at = below(input.size());
      size_t len = 1 + below(std::min<size_t>(64, input.size() - at));
      input.insert(below(input.size() + 1), input.substr(at, len));
    }
    break;
  default: // truncate
    input.resize(below(input.size() + 1));
    break;
  }
  return input;
}

/// Every value inside \p root, for picking one to replace.
static void collectValues(llvm::json::Value &root,
                          std::vector<llvm::json::Value *> &out) {
  out.push_back(&root);
  if (llvm::json::Object *object = root.getAsObject())
    for (auto &entry : *object)
      collectValues(entry.second, out);
  else if (llvm::json::Array *array = root.getAsArray())
    for (llvm::json::Value &element : *array)
      collectValues(element, out);
}

static std::string toText(const llvm::json::Value &value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << value;
  return text;
}

/// Replaces one value of a JSON text with an extreme one; safetensors keep
/// their metadata values as JSON texts inside strings, so a string value may
/// itself be parsed and edited.
static bool replaceOneValue(llvm::json::Value &root, std::mt19937_64 &rng,
                            const std::string &replacement) {
  std::vector<llvm::json::Value *> values;
  collectValues(root, values);
  if (values.size() < 2)
    return false;
  llvm::json::Value *victim = values[1 + rng() % (values.size() - 1)];
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(replacement);
  if (!parsed) {
    llvm::consumeError(parsed.takeError());
    return false;
  }
  // A metadata-style string holding JSON gets the replacement as text.
  if (victim->getAsString() && rng() % 2)
    *victim = replacement;
  else
    *victim = std::move(*parsed);
  return true;
}

std::string Mutator::mutateJsonText(std::string input) {
  llvm::Expected<llvm::json::Value> root = kdac::parseBoundedJson(input);
  if (!root) {
    llvm::consumeError(root.takeError());
    return mutateBytes(std::move(input));
  }
  if (!replaceOneValue(*root, rng, extremeJson()))
    return mutateBytes(std::move(input));
  return toText(*root);
}

static uint64_t loadLittleEndian(const std::string &bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  return v;
}

static void storeLittleEndian(std::string &bytes, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    bytes[i] = char(uint8_t(v >> (8 * i)));
}

std::string Mutator::mutateSafetensors(std::string input) {
  if (input.size() < 8)
    return mutateBytes(std::move(input));
  uint64_t headerLength = loadLittleEndian(input);
  if (below(8) == 0) { // the length field itself
    storeLittleEndian(input, uint64_t(extremeInteger()));
    return input;
  }
  if (headerLength > input.size() - 8)
    return mutateBytes(std::move(input));
  std::string header = input.substr(8, headerLength);
  std::string data = input.substr(8 + headerLength);
  llvm::Expected<llvm::json::Value> root = kdac::parseBoundedJson(header);
  if (!root || !root->getAsObject()) {
    if (!root)
      llvm::consumeError(root.takeError());
    return mutateBytes(std::move(input));
  }
  llvm::json::Object &object = *root->getAsObject();
  switch (below(4)) {
  case 0: { // a tensor that goes missing or appears
    static const char *names[] = {"q", "k", "v", "g", "beta", "A_log",
                                  "dt_bias", "initial_state", "cu_seqlens",
                                  "o", "final_state", "do", "dht", "dq"};
    const char *name = names[below(std::size(names))];
    if (object.erase(name))
      break;
    llvm::json::Array shape;
    for (uint64_t i = 0, rank = below(5); i < rank; ++i)
      shape.push_back(below(3) ? int64_t(1 + below(8)) : extremeInteger());
    int64_t end = int64_t(data.size());
    object[name] = llvm::json::Object{
        {"dtype", below(2) ? "F32" : "I64"},
        {"shape", std::move(shape)},
        {"data_offsets", llvm::json::Array{int64_t(below(end + 1)), end}}};
    break;
  }
  case 1: // a metadata value, written as the JSON text kdac expects
    if (llvm::json::Object *meta = object.getObject("__metadata__")) {
      std::vector<std::string> keys;
      for (auto &entry : *meta)
        keys.push_back(entry.first.str());
      static const char *known[] = {"B", "T", "H", "HV", "K", "V", "scale",
                                    "lower_bound", "gate_kind", "gate",
                                    "update", "dtype", "state_v_first",
                                    "has_initial_state"};
      std::string key =
          below(4) == 0 || keys.empty() ? known[below(std::size(known))]
                                        : keys[below(keys.size())];
      (*meta)[key] = extremeJson();
      break;
    }
    [[fallthrough]];
  default: // any value: a shape entry, an offset, a dtype
    if (!replaceOneValue(*root, rng, extremeJson()))
      return mutateBytes(std::move(input));
    break;
  }
  std::string newHeader = toText(*root);
  std::string out(8, '\0');
  storeLittleEndian(out, newHeader.size());
  return out + newHeader + data;
}

std::string Mutator::mutateMlir(std::string input) {
  switch (below(6)) {
  case 0:
  case 1:
  case 2: { // an integer literal (sizes, attributes, type widths)
    std::vector<std::pair<size_t, size_t>> numbers;
    for (size_t i = 0; i < input.size();) {
      if (std::isdigit(uint8_t(input[i])) &&
          (i == 0 || !std::isalpha(uint8_t(input[i - 1])) ||
           input[i - 1] == 'x')) {
        size_t j = i;
        while (j < input.size() && std::isdigit(uint8_t(input[j])))
          ++j;
        numbers.push_back({i, j - i});
        i = j;
      } else {
        ++i;
      }
    }
    if (numbers.empty())
      return mutateBytes(std::move(input));
    auto [at, len] = numbers[below(numbers.size())];
    int64_t value = extremeInteger();
    // A size inside a type cannot be negative; keep those parseable.
    bool inType = at > 0 && (input[at - 1] == 'x' || input[at - 1] == '<');
    if (inType && value < 0)
      value = -value > 0 ? -value : 0;
    input.replace(at, len, std::to_string(value));
    return input;
  }
  case 3: { // a float literal
    size_t at = input.find("e+00");
    if (at == std::string::npos)
      at = input.find("e-0");
    if (at == std::string::npos)
      return mutateBytes(std::move(input));
    size_t begin = at;
    while (begin > 0 && (std::isdigit(uint8_t(input[begin - 1])) ||
                         input[begin - 1] == '.' || input[begin - 1] == '-'))
      --begin;
    static const char *floats[] = {"0x7FF8000000000000", "0x7FF0000000000000",
                                   "0.0", "-1.0", "1.0e300"};
    input.replace(begin, at + 4 - begin, floats[below(std::size(floats))]);
    return input;
  }
  case 4: { // delete, duplicate or swap lines
    std::vector<std::string> lines;
    llvm::SmallVector<llvm::StringRef> parts;
    llvm::StringRef(input).split(parts, '\n');
    for (llvm::StringRef part : parts)
      lines.push_back(part.str());
    if (lines.size() < 2)
      return mutateBytes(std::move(input));
    size_t a = below(lines.size()), b = below(lines.size());
    switch (below(3)) {
    case 0:
      lines.erase(lines.begin() + a);
      break;
    case 1:
      lines.insert(lines.begin() + b, lines[a]);
      break;
    default:
      std::swap(lines[a], lines[b]);
    }
    return llvm::join(lines, "\n");
  }
  default:
    return mutateBytes(std::move(input));
  }
}

std::string Mutator::mutate(const std::vector<std::string> &seeds,
                            size_t index) {
  std::string input = seeds[index];
  if (below(16) == 0 && seeds.size() > 1) { // splice two seeds
    const std::string &other = seeds[below(seeds.size())];
    input = input.substr(0, below(input.size() + 1)) +
            other.substr(below(other.size() + 1));
  }
  for (uint64_t i = 0, n = 1 + below(4); i < n; ++i) {
    switch (kind) {
    case InputKind::Safetensors:
      input = below(4) ? mutateSafetensors(std::move(input))
                       : mutateBytes(std::move(input));
      break;
    case InputKind::Json:
      input = below(4) ? mutateJsonText(std::move(input))
                       : mutateBytes(std::move(input));
      break;
    case InputKind::MlirText:
      input = mutateMlir(std::move(input));
      break;
    }
  }
  return input;
}
