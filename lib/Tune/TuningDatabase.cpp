//===- TuningDatabase.cpp - Measured best configurations per spec ---------===//
//
// JSON (llvm::json) reading and writing of the tuning database, lookup by
// nearest sequence-length bucket, and the sweep's candidate list.
//
//===----------------------------------------------------------------------===//
#include "kdac/Tune/TuningDatabase.h"

#include "kdac/Spec/Limits.h"
#include "kdac/Support/BoundedJson.h"
#include "kdac/Support/FileIO.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <sstream>

namespace kdac {

int64_t sequenceBucket(int64_t T) {
  int64_t bucket = 64;
  while (bucket < T)
    bucket *= 2;
  return bucket;
}

std::string describe(const ChunkedPipelineOptions &o) {
  std::ostringstream text;
  if (o.commit || o.recurrent) {
    text << (o.commit ? "commit of token records" : "token-by-token (decode)")
         << ", v-tile ";
    if (o.decodeValueTile != 0)
      text << o.decodeValueTile;
    else
      text << (o.commit ? "a slice of at most 32 KB"
                        : "chosen for the state fragment");
    if (!o.commit)
      text << ", state in " << o.decodeStateIn;
    text << ", at most "
         << (o.recurrenceBlockThreads > 0 ? o.recurrenceBlockThreads
                                          : kDecodeBlockThreads)
         << " threads";
    return text.str();
  }
  text << "chunk " << o.chunkSize << ", inverse " << o.utMethod;
  if (o.utMethod == "blocked")
    text << "/" << o.diagMethod;
  text << ", anchors " << o.anchorBlock << ", v-tile ";
  if (o.valueTile == 0)
    text << "all of V";
  else
    text << o.valueTile;
  text << ", threads " << o.blockThreads;
  if (o.recurrenceBlockThreads)
    text << "/" << o.recurrenceBlockThreads;
  // The backward's choices, where they differ from the defaults.
  const ChunkedPipelineOptions defaults;
  if (o.gradProducts != defaults.gradProducts)
    text << ", backward products " << o.gradProducts;
  if (o.gradValueTile != defaults.gradValueTile) {
    text << ", backward scans v-tile ";
    if (o.gradValueTile == 0)
      text << "all of V";
    else
      text << o.gradValueTile;
  }
  if (o.thinBarriers != defaults.thinBarriers)
    text << (o.thinBarriers ? ", thin barriers" : ", every barrier");
  if (o.gradScanPrep != defaults.gradScanPrep)
    text << (o.gradScanPrep ? ", prepared scans" : ", unprepared scans");
  if (o.gradMapBlockThreads != defaults.gradMapBlockThreads)
    text << ", backward map threads " << o.gradMapBlockThreads;
  if (o.gradPrepBlockThreads != defaults.gradPrepBlockThreads)
    text << ", backward prep threads " << o.gradPrepBlockThreads;
  if (o.gradScanBlocksPerSM != defaults.gradScanBlocksPerSM)
    text << ", backward scans " << o.gradScanBlocksPerSM << " blocks per SM";
  if (o.gradMapStatesInPlace != defaults.gradMapStatesInPlace)
    text << (o.gradMapStatesInPlace ? ", map states in place"
                                    : ", map states in shared memory");
  return text.str();
}

namespace {
llvm::Error fail(llvm::StringRef name, const llvm::Twine &message) {
  return llvm::createStringError(name + ": " + message);
}

llvm::json::Object toJson(const ChunkedPipelineOptions &o) {
  llvm::json::Object out;
#define KDAC_COMPILE_OPTION(TYPE, MEMBER, FLAG, JSON, DEFAULT, HELP)           \
  out[JSON] = o.MEMBER;
#include "kdac/Spec/CompileOptions.def"
  return out;
}

/// One option's JSON value; what it must be when it is not.
const char *readOption(const llvm::json::Value &v, int64_t &out) {
  std::optional<int64_t> i = v.getAsInteger();
  if (!i || *i < 0)
    return "a non-negative integer";
  out = *i;
  return nullptr;
}
const char *readOption(const llvm::json::Value &v, std::string &out) {
  std::optional<llvm::StringRef> text = v.getAsString();
  if (!text)
    return "a string";
  out = text->str();
  return nullptr;
}
const char *readOption(const llvm::json::Value &v, bool &out) {
  std::optional<bool> flag = v.getAsBoolean();
  if (!flag)
    return "true or false";
  out = *flag;
  return nullptr;
}

/// An entry's options: every key of CompileOptions.def may appear (a missing
/// one keeps its default); any other key is an error, so that a misspelt
/// choice is not silently the default.
llvm::Expected<ChunkedPipelineOptions>
optionsFromJson(const llvm::json::Object &options, llvm::StringRef name,
                const std::string &where) {
  ChunkedPipelineOptions o;
  for (const auto &[key, value] : options) {
    const char *expected = nullptr;
    bool known = false;
#define KDAC_COMPILE_OPTION(TYPE, MEMBER, FLAG, JSON, DEFAULT, HELP)           \
  if (!known && key == JSON) {                                                 \
    known = true;                                                              \
    expected = readOption(value, o.MEMBER);                                    \
  }
#include "kdac/Spec/CompileOptions.def"
    if (!known)
      return fail(name, where + " options: unknown option '" + key.str() + "'");
    if (expected)
      return fail(name, where + " options: '" + key.str() + "' must be " +
                            expected);
  }
  std::string problem = validate(o, OptionNames::Json);
  if (!problem.empty())
    return fail(name, where + " options: " + problem);
  return o;
}

/// Reads one entry; `where` names it in errors ("entry 3").
llvm::Expected<TuningEntry> entryFromJson(const llvm::json::Value &value,
                                          llvm::StringRef name,
                                          const std::string &where) {
  const llvm::json::Object *object = value.getAsObject();
  if (!object)
    return fail(name, where + " is not an object");
  TuningEntry entry;
  auto string = [&](const char *key, std::string &out) -> llvm::Error {
    std::optional<llvm::StringRef> v = object->getString(key);
    if (!v)
      return fail(name, where + " needs a string '" + key + "'");
    out = v->str();
    return llvm::Error::success();
  };
  if (llvm::Error e = string("arch", entry.arch))
    return std::move(e);
  if (std::string error = limits::checkArch(entry.arch, where + "'s 'arch'");
      !error.empty())
    return fail(name, error);
  if (llvm::Error e = string("spec", entry.spec))
    return std::move(e);
  if (llvm::Error e = string("measured_on", entry.measuredOn))
    return std::move(e);
  std::optional<int64_t> bucket = object->getInteger("t_bucket");
  std::optional<double> ms = object->getNumber("ms");
  const llvm::json::Object *options = object->getObject("options");
  if (!bucket || *bucket <= 0 || !ms || !options)
    return fail(name, where + " needs a positive 't_bucket', a number 'ms' "
                              "and an object 'options'");
  entry.bucket = *bucket;
  entry.milliseconds = *ms;
  llvm::Expected<ChunkedPipelineOptions> o =
      optionsFromJson(*options, name, where);
  if (!o)
    return o.takeError();
  entry.options = std::move(*o);
  return entry;
}
} // namespace

llvm::Expected<TuningDatabase> TuningDatabase::parse(llvm::StringRef text,
                                                     llvm::StringRef name) {
  llvm::Expected<llvm::json::Value> json = parseBoundedJson(text);
  if (!json)
    return fail(name, "not valid JSON: " + llvm::toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  if (!root || root->getString("format") != llvm::StringRef("kdac-tuning"))
    return fail(name, "not a kdac tuning database (no \"format\": "
                      "\"kdac-tuning\")");
  std::optional<int64_t> version = root->getInteger("version");
  if (version != kFormatVersion)
    return fail(name, "unsupported version (this kdac reads version " +
                          llvm::Twine(kFormatVersion) + ")");
  const llvm::json::Array *entries = root->getArray("entries");
  if (!entries)
    return fail(name, "needs an array 'entries'");
  TuningDatabase db;
  for (size_t i = 0; i < entries->size(); ++i) {
    llvm::Expected<TuningEntry> entry =
        entryFromJson((*entries)[i], name, "entry " + std::to_string(i));
    if (!entry)
      return entry.takeError();
    db.entries_.push_back(std::move(*entry));
  }
  return db;
}

llvm::Expected<TuningDatabase> TuningDatabase::load(llvm::StringRef path) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      readRegularFile(path, limits::kMaxTextFileBytes);
  if (!buffer)
    return buffer.takeError();
  return parse((*buffer)->getBuffer(), path);
}

std::string TuningDatabase::serialize() const {
  llvm::json::Array entries;
  for (const TuningEntry &e : entries_)
    entries.push_back(llvm::json::Object{{"arch", e.arch},
                                         {"spec", e.spec},
                                         {"t_bucket", e.bucket},
                                         {"options", toJson(e.options)},
                                         {"ms", e.milliseconds},
                                         {"measured_on", e.measuredOn}});
  llvm::json::Value root = llvm::json::Object{{"format", "kdac-tuning"},
                                              {"version", kFormatVersion},
                                              {"entries", std::move(entries)}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", root) << "\n";
  return text;
}

llvm::Error TuningDatabase::save(llvm::StringRef path) const {
  return writeFileAtomically(path, serialize());
}

void TuningDatabase::record(const TuningEntry &entry) {
  for (TuningEntry &existing : entries_)
    if (existing.arch == entry.arch && existing.spec == entry.spec &&
        existing.bucket == entry.bucket) {
      existing = entry;
      return;
    }
  entries_.push_back(entry);
}

std::optional<TuningEntry> TuningDatabase::lookup(const std::string &arch,
                                                  const KernelSpec &spec,
                                                  int64_t T) const {
  std::string key = tuningSpecKey(spec);
  int64_t bucket = sequenceBucket(T);
  std::optional<TuningEntry> best;
  auto distance = [&](int64_t b) {
    return b > bucket ? b / bucket : bucket / b; // ratio of powers of two
  };
  for (const TuningEntry &e : entries_)
    if (e.arch == arch && e.spec == key &&
        (!best || distance(e.bucket) < distance(best->bucket)))
      best = e;
  return best;
}

ChunkedPipelineOptions chooseOptions(const KernelSpec &spec, int64_t T,
                                     const ChunkedPipelineOptions &defaults,
                                     const TuningDatabase *db,
                                     std::string *why) {
  std::optional<TuningEntry> hit =
      db ? db->lookup(spec.arch, spec, T) : std::nullopt;
  if (!hit) {
    if (why)
      *why = db ? "defaults (the tuning database has no entry for this spec "
                  "on " + spec.arch + ")"
                : "defaults (no tuning database)";
    return defaults;
  }
  if (why) {
    std::ostringstream text;
    text << "tuning database: " << hit->milliseconds << " ms at T bucket "
         << hit->bucket << " on " << hit->measuredOn;
    *why = text.str();
  }
  return hit->options;
}

/// The backward's choices: the scans' prepared values and column tile, and
/// the map's block size and where it reads the states. Products stay auto:
/// tf32 for 16-bit inputs (which it keeps exactly; it beat FMAs by 1.1-1.6x
/// on every H200 candidate), FMAs for f32 ones.
static std::vector<ChunkedPipelineOptions>
backwardCandidates(const KernelSpec &spec) {
  std::vector<ChunkedPipelineOptions> out;
  for (bool prep : {true, false})
    for (int64_t vTile : {0, 64, 32, 16}) // 0: all of V
      for (int64_t mapThreads : {512, 256})
        for (bool inPlace : {true, false}) {
          if (vTile != 0 && !limits::splitsEvenly(vTile, spec.V))
            continue;
          ChunkedPipelineOptions o;
          o.gradScanPrep = prep;
          o.gradValueTile = vTile;
          o.gradMapBlockThreads = mapThreads;
          o.gradMapStatesInPlace = inPlace;
          out.push_back(o);
        }
  return out;
}

/// The decode kernel's choices: where the state slice lives, its V tile
/// (0: the lowering's own choice) and the most threads per block. A plan
/// the lowering refuses (a tile it cannot split) drops out at compile time.
static std::vector<ChunkedPipelineOptions>
decodeCandidates(const KernelSpec &spec) {
  std::vector<ChunkedPipelineOptions> out;
  for (const char *stateIn : {"auto", "registers", "shared"})
    for (int64_t vTile : {0, 16, 32, 64})
      for (int64_t threads : {64, 128, 256}) {
        if (vTile != 0 && !limits::splitsEvenly(vTile, spec.V))
          continue;
        ChunkedPipelineOptions o;
        o.recurrent = true;
        o.decodeStateIn = stateIn;
        o.decodeValueTile = vTile;
        o.recurrenceBlockThreads = threads;
        out.push_back(o);
      }
  return out;
}

std::vector<ChunkedPipelineOptions> tuningCandidates(const KernelSpec &spec) {
  if (spec.op == KernelOp::Backward)
    return backwardCandidates(spec);
  if (spec.isDecode())
    return decodeCandidates(spec);
  std::vector<ChunkedPipelineOptions> out;
  for (int64_t chunk : {16, 32, 64}) {
    std::vector<std::pair<const char *, const char *>> inverses;
    if (chunk == 16) // one 16 x 16 block: blocked is its diagonal method
      inverses = {{"blocked", "forward-substitution"}, {"neumann", "neumann"}};
    else
      inverses = {{"blocked", "neumann"}, {"blocked", "forward-substitution"}};
    for (auto [ut, diag] : inverses)
      for (int64_t vTile : {16, 32, 64, 0}) // 0: all of V
        for (int64_t threads : {128, 256}) {
          if (vTile != 0 && !limits::splitsEvenly(vTile, spec.V))
            continue;
          ChunkedPipelineOptions o;
          o.chunkSize = chunk;
          o.utMethod = ut;
          o.diagMethod = diag;
          o.valueTile = vTile;
          o.blockThreads = threads;
          out.push_back(o);
        }
  }
  return out;
}

} // namespace kdac
