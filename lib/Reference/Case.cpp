//===- Case.cpp - KDA test cases: golden files and random inputs ----------===//
//
// Loading maps FLA's golden-file conventions onto a KernelSpec and checks
// every tensor's shape against the metadata, so that a bad file fails with
// a message naming the tensor and dimension instead of a wrong answer later.
// The random generator draws from std::mt19937_64 (whose output the
// standard fixes) through its own normal sampler (std::normal_distribution
// differs between standard libraries), so cases are reproducible anywhere.
//
//===----------------------------------------------------------------------===//
#include "kdac/Reference/Case.h"

#include "kdac/Spec/Limits.h"
#include "kdac/Support/BoundedJson.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <utility>

using namespace kdac;
using llvm::StringRef;
using llvm::Twine;

static llvm::Error fail(StringRef path, const Twine &msg) {
  return llvm::make_error<llvm::StringError>((path + ": " + msg).str(),
                                             llvm::inconvertibleErrorCode());
}


static std::optional<DType> toSpecDType(TensorDType t) {
  switch (t) {
  case TensorDType::F32:
    return DType::F32;
  case TensorDType::F16:
    return DType::F16;
  case TensorDType::BF16:
    return DType::BF16;
  case TensorDType::F64:
    // The gradient goldens store every tensor as F64 without dtype keys; the
    // widest dtype a kernel reads is f32 (which rounds them on load).
    return DType::F32;
  default:
    return std::nullopt;
  }
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

namespace {
/// One named dimension of an expected shape, e.g. {"H", 2}.
struct Dim {
  const char *name;
  int64_t size;
};

/// Reads metadata and tensors of one file, prefixing errors with its path.
class CaseReader {
public:
  CaseReader(StringRef path, const SafetensorsFile &file)
      : path(path), file(file) {}

  /// The metadata value of \p key parsed as JSON; error if missing/invalid.
  llvm::Expected<llvm::json::Value> meta(StringRef key) const {
    auto it = file.metadata.find(key.str());
    if (it == file.metadata.end())
      return fail(path, "missing metadata key '" + key + "'");
    llvm::Expected<llvm::json::Value> v = parseBoundedJson(it->second);
    if (!v)
      return fail(path, "metadata key '" + key + "' is not valid JSON ('" +
                            it->second +
                            "'): " + llvm::toString(v.takeError()));
    return std::move(*v);
  }
  bool hasMeta(StringRef key) const { return file.metadata.count(key.str()); }

  llvm::Error wrongType(StringRef key, const char *what) const {
    return fail(path, "metadata key '" + key + "' is not " + what + " (got '" +
                          file.metadata.at(key.str()) + "')");
  }
  llvm::Expected<int64_t> getInt(StringRef key) const {
    llvm::Expected<llvm::json::Value> v = meta(key);
    if (!v)
      return v.takeError();
    if (std::optional<int64_t> i = v->getAsInteger())
      return *i;
    return wrongType(key, "an integer");
  }
  llvm::Expected<bool> getBool(StringRef key) const {
    llvm::Expected<llvm::json::Value> v = meta(key);
    if (!v)
      return v.takeError();
    if (std::optional<bool> b = v->getAsBoolean())
      return *b;
    return wrongType(key, "a boolean");
  }
  llvm::Expected<std::string> getString(StringRef key) const {
    llvm::Expected<llvm::json::Value> v = meta(key);
    if (!v)
      return v.takeError();
    if (std::optional<StringRef> s = v->getAsString())
      return s->str();
    return wrongType(key, "a string");
  }
  /// A number, a string holding a number (FLA's golden files write scale as
  /// "\"0.17\""), or null.
  llvm::Expected<std::optional<double>> getOptionalNumber(StringRef key) const {
    llvm::Expected<llvm::json::Value> v = meta(key);
    if (!v)
      return v.takeError();
    if (v->getAsNull())
      return std::optional<double>();
    if (std::optional<double> d = v->getAsNumber())
      return std::optional<double>(*d);
    double d;
    if (std::optional<StringRef> s = v->getAsString())
      if (!s->trim().getAsDouble(d))
        return std::optional<double>(d);
    return wrongType(key, "a number or null");
  }
  /// Parses an enum-valued string key with \p parse; \p choices for errors.
  template <typename Enum, typename Parse>
  llvm::Expected<Enum> getEnum(StringRef key, Parse parse,
                               const char *choices) const {
    llvm::Expected<std::string> s = getString(key);
    if (!s)
      return s.takeError();
    if (std::optional<Enum> e = parse(*s))
      return *e;
    return fail(path, "metadata key '" + key + "' has unknown value '" + *s +
                          "' (expected " + choices + ")");
  }

  const Tensor *find(StringRef name) const {
    auto it = file.tensors.find(name.str());
    return it == file.tensors.end() ? nullptr : &it->second;
  }

  /// Checks tensor \p name: present, a float (or integer) dtype, and shape
  /// \p dims; returns it.
  llvm::Expected<const Tensor *> get(StringRef name, std::vector<Dim> dims,
                                     bool integer = false) const {
    const Tensor *t = find(name);
    if (!t)
      return fail(path, "missing tensor '" + name + "'");
    if (isFloatingPoint(t->dtype) == integer)
      return fail(path, "tensor '" + name + "' has dtype " +
                            toString(t->dtype) + ", expected " +
                            (integer ? "an integer" : "a floating-point") +
                            " dtype");
    std::string expected = "[";
    for (size_t i = 0; i < dims.size(); ++i)
      expected += (i ? ", " : "") + std::string(dims[i].name);
    expected += "]";
    if (t->shape.size() != dims.size())
      return fail(path, "tensor '" + name + "' has rank " +
                            Twine(uint64_t(t->shape.size())) +
                            ", expected rank " + Twine(uint64_t(dims.size())) +
                            " " + expected);
    for (size_t i = 0; i < dims.size(); ++i)
      if (t->shape[i] != dims[i].size)
        return fail(path, "tensor '" + name + "' dim " + Twine(uint64_t(i)) +
                              " is " + Twine(t->shape[i]) + ", expected " +
                              dims[i].name + " = " + Twine(dims[i].size) +
                              " (shape " + expected + ")");
    return t;
  }

  StringRef path;
  const SafetensorsFile &file;
};
} // namespace

/// Reads the metadata into \p spec (shapes, flags, family, dtypes).
static llvm::Error readSpec(const CaseReader &r, KernelSpec &spec) {
  auto setInt = [&](StringRef key, int64_t &field) -> llvm::Error {
    llvm::Expected<int64_t> v = r.getInt(key);
    if (!v)
      return v.takeError();
    field = *v;
    return llvm::Error::success();
  };
  auto setBool = [&](StringRef key, bool &field) -> llvm::Error {
    llvm::Expected<bool> v = r.getBool(key);
    if (!v)
      return v.takeError();
    field = *v;
    return llvm::Error::success();
  };
  for (auto [key, field] : {std::pair<const char *, int64_t *>{"B", &spec.B},
                            {"T", &spec.T},
                            {"H", &spec.H},
                            {"HV", &spec.HV},
                            {"K", &spec.K},
                            {"V", &spec.V}})
    if (llvm::Error e = setInt(key, *field))
      return e;
  bool vFirst = false;
  for (auto [key, field] : {std::pair<const char *, bool *>{
                                "use_qk_l2norm_in_kernel", &spec.qkL2Norm},
                            {"use_beta_sigmoid_in_kernel", &spec.betaSigmoid},
                            {"state_v_first", &vFirst},
                            {"has_initial_state", &spec.hasInitialState}})
    if (llvm::Error e = setBool(key, *field))
      return e;
  spec.stateLayout = vFirst ? StateLayout::VK : StateLayout::KV;

  llvm::Expected<std::optional<double>> scale = r.getOptionalNumber("scale");
  if (!scale)
    return scale.takeError();
  spec.scale = *scale;
  llvm::Expected<std::optional<double>> lb = r.getOptionalNumber("lower_bound");
  if (!lb)
    return lb.takeError();
  spec.lowerBound = *lb;

  // gate_kind names the activation; use_gate_in_kernel says whether it is
  // fused (FLA's golden "none" + false means g is already a log-decay).
  llvm::Expected<GateActivation> kind = r.getEnum<GateActivation>(
      "gate_kind", parseGateActivation, "none, softplus or lowerbound");
  if (!kind)
    return kind.takeError();
  bool fused = *kind != GateActivation::None;
  if (r.hasMeta("use_gate_in_kernel"))
    if (llvm::Error e = setBool("use_gate_in_kernel", fused))
      return e;
  if (fused && *kind == GateActivation::None)
    return fail(r.path, "use_gate_in_kernel is true but gate_kind is \"none\"");
  if (!fused && *kind != GateActivation::None)
    return fail(r.path, Twine("gate_kind is \"") + toString(*kind) +
                            "\" but use_gate_in_kernel is false");
  spec.activation = *kind;

  if (r.hasMeta("gate")) {
    llvm::Expected<GateGranularity> g = r.getEnum<GateGranularity>(
        "gate", parseGateGranularity, "none, scalar or channel");
    if (!g)
      return g.takeError();
    spec.gate = *g;
  }
  if (r.hasMeta("update")) {
    llvm::Expected<UpdateRule> u =
        r.getEnum<UpdateRule>("update", parseUpdateRule, "delta or additive");
    if (!u)
      return u.takeError();
    spec.update = *u;
  }

  // Dtypes: our metadata keys win (a bf16 case may be stored as F32); else
  // the stored tensor's dtype, as in FLA's golden files.
  auto setDType = [&](StringRef key, StringRef tensor,
                      DType &field) -> llvm::Error {
    if (r.hasMeta(key)) {
      llvm::Expected<DType> d =
          r.getEnum<DType>(key, parseDType, "f32, f16 or bf16");
      if (!d)
        return d.takeError();
      field = *d;
      return llvm::Error::success();
    }
    const Tensor *t = r.find(tensor);
    if (!t)
      return llvm::Error::success(); // reported as a missing tensor later
    std::optional<DType> d = toSpecDType(t->dtype);
    if (!d)
      return fail(r.path, "tensor '" + tensor + "' has dtype " +
                              toString(t->dtype) +
                              "; expected F32, F16 or "
                              "BF16 (or a '" +
                              key + "' metadata key)");
    field = *d;
    return llvm::Error::success();
  };
  if (llvm::Error e = setDType("dtype", "q", spec.dtype))
    return e;
  if (llvm::Error e = setDType("gate_dtype", "g", spec.gateDType))
    return e;
  if (llvm::Error e = setDType("beta_dtype", "beta", spec.betaDType))
    return e;
  if (llvm::Error e = setDType("state_dtype", "initial_state", spec.stateDType))
    return e;

  spec.hasALog = r.find("A_log") != nullptr;
  spec.hasDtBias = r.find("dt_bias") != nullptr;
  spec.varlen = r.find("cu_seqlens") != nullptr;
  spec.hasFinalState = r.find("final_state") != nullptr;
  return llvm::Error::success();
}

/// Reads the backward tensors of a gradient file into c.cotangents and
/// c.expectedGradients (see Case.h), checking each shape like the inputs'.
/// Runs after the inputs are read and checked, so N is known.
static llvm::Error readBackwardTensors(const CaseReader &r, KdaCase &c) {
  if (!r.find("do"))
    return llvm::Error::success();
  const KernelSpec &spec = c.spec;
  const int64_t B = spec.B, T = spec.T, H = spec.H, HV = spec.HV, K = spec.K,
                V = spec.V, N = numSequences(spec, c.inputs);
  const bool channel = spec.gate == GateGranularity::Channel;
  std::vector<Dim> stateDims =
      spec.stateLayout == StateLayout::VK
          ? std::vector<Dim>{{"N", N}, {"HV", HV}, {"V", V}, {"K", K}}
          : std::vector<Dim>{{"N", N}, {"HV", HV}, {"K", K}, {"V", V}};
  auto read = [&](const char *name, std::vector<Dim> dims,
                  std::vector<double> &dest) -> llvm::Error {
    llvm::Expected<const Tensor *> t = r.get(name, std::move(dims));
    if (!t)
      return t.takeError();
    dest = (*t)->toDoubles();
    return llvm::Error::success();
  };

  KdaCotangents cot;
  if (llvm::Error e =
          read("do", {{"B", B}, {"T", T}, {"HV", HV}, {"V", V}}, cot.dO))
    return e;
  if (r.find("dht"))
    if (llvm::Error e = read("dht", stateDims, cot.dFinalState))
      return e;

  // Each gradient: its input's dims and whether the case has that input.
  KdaGradients grads;
  struct Want {
    const char *name;
    std::vector<Dim> dims;
    std::vector<double> *dest;
    bool hasInput;
  };
  std::vector<Want> wants = {
      {"dq", {{"B", B}, {"T", T}, {"H", H}, {"K", K}}, &grads.dq, true},
      {"dk", {{"B", B}, {"T", T}, {"H", H}, {"K", K}}, &grads.dk, true},
      {"dv", {{"B", B}, {"T", T}, {"HV", HV}, {"V", V}}, &grads.dv, true},
      {"dg",
       channel ? std::vector<Dim>{{"B", B}, {"T", T}, {"HV", HV}, {"K", K}}
               : std::vector<Dim>{{"B", B}, {"T", T}, {"HV", HV}},
       &grads.dg, spec.gate != GateGranularity::None},
      {"dbeta", {{"B", B}, {"T", T}, {"HV", HV}}, &grads.dbeta, true},
      {"dA_log", {{"HV", HV}}, &grads.dALog, spec.hasALog},
      {"ddt_bias",
       channel ? std::vector<Dim>{{"HV*K", HV * K}}
               : std::vector<Dim>{{"HV", HV}},
       &grads.dDtBias, spec.hasDtBias},
      {"dh0", stateDims, &grads.dInitialState, spec.hasInitialState},
  };
  for (Want &w : wants) {
    if (!r.find(w.name))
      continue;
    if (!w.hasInput)
      return fail(r.path, Twine("tensor '") + w.name +
                              "' is the gradient of an input the case does "
                              "not have");
    if (llvm::Error e = read(w.name, std::move(w.dims), *w.dest))
      return e;
  }
  c.cotangents = std::move(cot);
  c.expectedGradients = std::move(grads);
  return llvm::Error::success();
}

llvm::Expected<KdaCase> kdac::loadCase(StringRef path) {
  llvm::Expected<SafetensorsFile> file = readSafetensors(path);
  if (!file)
    return file.takeError();
  return caseFromFile(std::move(*file), path);
}

llvm::Expected<KdaCase> kdac::caseFromFile(SafetensorsFile contents,
                                           StringRef path) {
  SafetensorsFile *file = &contents;
  CaseReader r(path, *file);
  KdaCase c;
  KernelSpec &spec = c.spec;
  if (llvm::Error e = readSpec(r, spec))
    return std::move(e);
  const int64_t B = spec.B, T = spec.T, H = spec.H, HV = spec.HV, K = spec.K,
                V = spec.V;
  if (B <= 0 || T < 0 || H <= 0 || HV <= 0 || K <= 0 || V <= 0)
    return fail(path, "metadata needs B, H, HV, K, V > 0 and T >= 0");
  // Sizes are bounded before anything is sized by them.
  std::string specError = validate(spec);
  if (!specError.empty())
    return fail(path, "invalid spec: " + specError);
  KdaInputs &in = c.inputs;
  in.B = B;
  in.T = T;

  int64_t N = B;
  if (spec.varlen) {
    const Tensor *cu = r.find("cu_seqlens");
    if (cu->shape.size() != 1 || cu->shape[0] < 2)
      return fail(path, "tensor 'cu_seqlens' must have shape [N + 1] with "
                        "N >= 1");
    N = cu->shape[0] - 1;
    if (N > limits::kMaxSequences)
      return fail(path, "tensor 'cu_seqlens' holds " + Twine(N) +
                            " sequences, more than the limit of " +
                            Twine(limits::kMaxSequences));
    llvm::Expected<const Tensor *> t =
        r.get("cu_seqlens", {{"N + 1", N + 1}}, /*integer=*/true);
    if (!t)
      return t.takeError();
    in.cuSeqlens = (*t)->toInts();
  }

  if (llvm::Error e = checkProblemSize(spec, B, T, N))
    return fail(path, llvm::toString(std::move(e)));

  // Each input: name, expected dims, destination; g, A_log, dt_bias and the
  // initial state only when the metadata calls for them.
  bool channel = spec.gate == GateGranularity::Channel;
  std::vector<Dim> stateDims =
      spec.stateLayout == StateLayout::VK
          ? std::vector<Dim>{{"N", N}, {"HV", HV}, {"V", V}, {"K", K}}
          : std::vector<Dim>{{"N", N}, {"HV", HV}, {"K", K}, {"V", V}};
  struct Want {
    const char *name;
    std::vector<Dim> dims;
    std::vector<double> *dest;
    bool needed;
  };
  std::vector<Want> wants = {
      {"q", {{"B", B}, {"T", T}, {"H", H}, {"K", K}}, &in.q, true},
      {"k", {{"B", B}, {"T", T}, {"H", H}, {"K", K}}, &in.k, true},
      {"v", {{"B", B}, {"T", T}, {"HV", HV}, {"V", V}}, &in.v, true},
      {"g",
       channel ? std::vector<Dim>{{"B", B}, {"T", T}, {"HV", HV}, {"K", K}}
               : std::vector<Dim>{{"B", B}, {"T", T}, {"HV", HV}},
       &in.g, spec.gate != GateGranularity::None},
      {"beta", {{"B", B}, {"T", T}, {"HV", HV}}, &in.beta, true},
      {"A_log", {{"HV", HV}}, &in.aLog, spec.hasALog},
      {"dt_bias",
       channel ? std::vector<Dim>{{"HV*K", HV * K}}
               : std::vector<Dim>{{"HV", HV}},
       &in.dtBias, spec.hasDtBias},
      {"initial_state", stateDims, &in.initialState, spec.hasInitialState},
  };
  for (Want &w : wants) {
    if (!w.needed)
      continue;
    llvm::Expected<const Tensor *> t = r.get(w.name, w.dims);
    if (!t)
      return t.takeError();
    *w.dest = (*t)->toDoubles();
  }

  // Expected outputs, when the file has them.
  if (r.find("o") || r.find("final_state")) {
    KdaOutputs expected;
    if (r.find("o")) {
      llvm::Expected<const Tensor *> o =
          r.get("o", {{"B", B}, {"T", T}, {"HV", HV}, {"V", V}});
      if (!o)
        return o.takeError();
      expected.o = (*o)->toDoubles();
    }
    if (r.find("final_state")) {
      llvm::Expected<const Tensor *> s = r.get("final_state", stateDims);
      if (!s)
        return s.takeError();
      expected.finalState = (*s)->toDoubles();
    }
    c.expected = std::move(expected);
  }

  if (llvm::Error e = checkInputs(spec, in))
    return fail(path, llvm::toString(std::move(e)));
  if (llvm::Error e = readBackwardTensors(r, c))
    return std::move(e);
  c.raw = std::move(file->tensors);
  return std::move(c);
}

//===----------------------------------------------------------------------===//
// Saving
//===----------------------------------------------------------------------===//

static std::string jsonText(llvm::json::Value v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << v;
  return os.str();
}

std::map<std::string, std::string> kdac::caseMetadata(const KernelSpec &spec,
                                                      int64_t B, int64_t T) {
  std::map<std::string, std::string> m;
  m["B"] = jsonText(B);
  m["T"] = jsonText(T);
  m["H"] = jsonText(spec.H);
  m["HV"] = jsonText(spec.HV);
  m["K"] = jsonText(spec.K);
  m["V"] = jsonText(spec.V);
  // As FLA's golden files do: the scale as a string holding the number.
  if (spec.scale) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", *spec.scale);
    m["scale"] = jsonText(std::string(buf));
  } else {
    m["scale"] = "null";
  }
  m["gate_kind"] = jsonText(toString(spec.activation));
  m["lower_bound"] =
      spec.lowerBound ? jsonText(*spec.lowerBound) : std::string("null");
  m["use_gate_in_kernel"] = jsonText(spec.activation != GateActivation::None);
  m["use_qk_l2norm_in_kernel"] = jsonText(spec.qkL2Norm);
  m["use_beta_sigmoid_in_kernel"] = jsonText(spec.betaSigmoid);
  m["state_v_first"] = jsonText(spec.stateLayout == StateLayout::VK);
  m["has_initial_state"] = jsonText(spec.hasInitialState);
  m["gate"] = jsonText(toString(spec.gate));
  m["update"] = jsonText(toString(spec.update));
  m["dtype"] = jsonText(toString(spec.dtype));
  m["gate_dtype"] = jsonText(toString(spec.gateDType));
  m["beta_dtype"] = jsonText(toString(spec.betaDType));
  m["state_dtype"] = jsonText(toString(spec.stateDType));
  m["produced_by"] = jsonText("kdac saveCase");
  return m;
}

llvm::Error kdac::saveCase(StringRef path, const KdaCase &c,
                           TensorDType inputDType) {
  if (!isFloatingPoint(inputDType))
    return fail(path, Twine("saveCase needs a floating-point input dtype, "
                            "got ") +
                          toString(inputDType));
  const KernelSpec &spec = c.spec;
  const KdaInputs &in = c.inputs;
  if (llvm::Error e = checkInputs(spec, in))
    return fail(path, "cannot save: " + llvm::toString(std::move(e)));
  const int64_t B = in.B, T = in.T, H = spec.H, HV = spec.HV, K = spec.K,
                V = spec.V, N = numSequences(spec, in);
  const TensorDType wide =
      inputDType == TensorDType::F64 ? TensorDType::F64 : TensorDType::F32;
  std::vector<int64_t> stateShape = spec.stateLayout == StateLayout::VK
                                        ? std::vector<int64_t>{N, HV, V, K}
                                        : std::vector<int64_t>{N, HV, K, V};
  bool channel = spec.gate == GateGranularity::Channel;

  SafetensorsFile f;
  f.metadata = caseMetadata(spec, B, T);
  auto put = [&](const char *name, TensorDType dtype,
                 std::vector<int64_t> shape, const std::vector<double> &data) {
    f.tensors[name] = Tensor::fromDoubles(dtype, std::move(shape), data);
  };
  put("q", inputDType, {B, T, H, K}, in.q);
  put("k", inputDType, {B, T, H, K}, in.k);
  put("v", inputDType, {B, T, HV, V}, in.v);
  if (spec.gate != GateGranularity::None)
    put("g", inputDType,
        channel ? std::vector<int64_t>{B, T, HV, K}
                : std::vector<int64_t>{B, T, HV},
        in.g);
  put("beta", inputDType, {B, T, HV}, in.beta);
  if (spec.hasALog)
    put("A_log", wide, {HV}, in.aLog);
  if (spec.hasDtBias)
    put("dt_bias", wide, {channel ? HV * K : HV}, in.dtBias);
  if (spec.hasInitialState)
    put("initial_state", wide, stateShape, in.initialState);
  if (spec.varlen)
    f.tensors["cu_seqlens"] =
        Tensor::fromInts(TensorDType::I64, {N + 1}, in.cuSeqlens);
  if (c.expected) {
    if (int64_t(c.expected->o.size()) == B * T * HV * V)
      put("o", wide, {B, T, HV, V}, c.expected->o);
    else if (!c.expected->o.empty())
      return fail(path, "cannot save: expected o has the wrong size");
    if (int64_t(c.expected->finalState.size()) == N * HV * K * V)
      put("final_state", wide, stateShape, c.expected->finalState);
    else if (!c.expected->finalState.empty())
      return fail(path, "cannot save: expected final_state has the wrong size");
  }
  return writeSafetensors(path, f);
}

//===----------------------------------------------------------------------===//
// Random cases
//===----------------------------------------------------------------------===//

namespace {
constexpr double kPi = 3.14159265358979323846;

/// Uniform and normal draws defined only by mt19937_64's output sequence.
class Rng {
public:
  explicit Rng(uint64_t seed) : gen(seed) {}
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(gen() >> 11) * 0x1.0p-53; }
  /// Box-Muller; 1 - uniform() is in (0, 1], so the log is finite.
  double normal() {
    double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }

private:
  std::mt19937_64 gen;
};
} // namespace

static double logSigmoid(double x) {
  // -softplus(-x), stable for both signs.
  return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

KdaCase kdac::makeRandomCase(const KernelSpec &spec, int64_t B, int64_t T,
                             std::vector<int64_t> seqLens, uint64_t seed) {
  KdaCase c;
  c.spec = spec;
  c.spec.B = B; // the case describes concrete data
  c.spec.T = T;
  std::string specError = validate(c.spec);
  if (!specError.empty())
    llvm::report_fatal_error("makeRandomCase: invalid spec: " +
                             llvm::Twine(specError));
  if (B <= 0 || T < 0)
    llvm::report_fatal_error("makeRandomCase: needs B > 0 and T >= 0");
  int64_t total = 0;
  for (int64_t len : seqLens) {
    if (len < 0)
      llvm::report_fatal_error("makeRandomCase: negative sequence length");
    total += len;
  }
  if (spec.varlen ? (B != 1 || seqLens.empty() || total != T)
                  : !seqLens.empty())
    llvm::report_fatal_error("makeRandomCase: with varlen pass B = 1 and "
                             "seqLens summing to T; without, no seqLens");

  KdaInputs &in = c.inputs;
  in.B = B;
  in.T = T;
  const int64_t H = spec.H, HV = spec.HV, K = spec.K, V = spec.V;
  const int64_t N = spec.varlen ? int64_t(seqLens.size()) : B;
  const TensorDType io = toTensorDType(spec.dtype);
  const TensorDType gt = toTensorDType(spec.gateDType);
  const TensorDType bt = toTensorDType(spec.betaDType);
  const TensorDType st = toTensorDType(spec.stateDType);
  const bool channel = spec.gate == GateGranularity::Channel;
  const bool fused = spec.activation != GateActivation::None;
  Rng rng(seed);

  auto fill = [&](std::vector<double> &dst, int64_t n, TensorDType dtype,
                  auto draw) {
    dst.resize(n);
    for (double &x : dst)
      x = roundToDType(draw(), dtype);
  };
  auto normal = [&] { return rng.normal(); };

  fill(in.q, B * T * H * K, io, normal);
  in.k.resize(B * T * H * K);
  for (int64_t row = 0; row < B * T * H; ++row) {
    double *k = &in.k[row * K];
    double norm = 0.0;
    for (int64_t i = 0; i < K; ++i) {
      k[i] = rng.normal();
      norm += k[i] * k[i];
    }
    // Unit keys keep I - beta k k^T contractive when the norm is not fused.
    for (int64_t i = 0; i < K; ++i)
      k[i] = roundToDType(spec.qkL2Norm ? k[i] : k[i] / std::sqrt(norm), io);
  }
  fill(in.v, B * T * HV * V, io, normal);
  if (spec.gate != GateGranularity::None)
    fill(in.g, B * T * HV * (channel ? K : 1), gt,
         [&] { return fused ? rng.normal() : logSigmoid(rng.normal() + 1.0); });
  fill(in.beta, B * T * HV, bt, [&] {
    double x = rng.normal();
    return spec.betaSigmoid ? x : 1.0 / (1.0 + std::exp(-x));
  });
  if (spec.hasALog)
    fill(in.aLog, HV, TensorDType::F32,
         [&] { return std::log(1.0 + 15.0 * rng.uniform()); });
  if (spec.hasDtBias)
    fill(in.dtBias, channel ? HV * K : HV, TensorDType::F32, [&] {
      // Mamba/FLA's init: dt log-uniform in [1e-3, 1e-1], bias =
      // softplus^-1(dt) = dt + log(-expm1(-dt)).
      double dt = std::exp(std::log(1e-3) + rng.uniform() * std::log(100.0));
      return dt + std::log(-std::expm1(-dt));
    });
  if (spec.hasInitialState)
    fill(in.initialState, N * HV * K * V, st, normal);
  if (spec.varlen) {
    in.cuSeqlens.push_back(0);
    for (int64_t len : seqLens)
      in.cuSeqlens.push_back(in.cuSeqlens.back() + len);
  }

  // The tensors as a kernel reads them (exact: the values are rounded).
  std::vector<int64_t> stateShape = spec.stateLayout == StateLayout::VK
                                        ? std::vector<int64_t>{N, HV, V, K}
                                        : std::vector<int64_t>{N, HV, K, V};
  c.raw["q"] = Tensor::fromDoubles(io, {B, T, H, K}, in.q);
  c.raw["k"] = Tensor::fromDoubles(io, {B, T, H, K}, in.k);
  c.raw["v"] = Tensor::fromDoubles(io, {B, T, HV, V}, in.v);
  if (spec.gate != GateGranularity::None)
    c.raw["g"] = Tensor::fromDoubles(gt,
                                     channel ? std::vector<int64_t>{B, T, HV, K}
                                             : std::vector<int64_t>{B, T, HV},
                                     in.g);
  c.raw["beta"] = Tensor::fromDoubles(bt, {B, T, HV}, in.beta);
  if (spec.hasALog)
    c.raw["A_log"] = Tensor::fromDoubles(TensorDType::F32, {HV}, in.aLog);
  if (spec.hasDtBias)
    c.raw["dt_bias"] = Tensor::fromDoubles(
        TensorDType::F32, {int64_t(in.dtBias.size())}, in.dtBias);
  if (spec.hasInitialState)
    c.raw["initial_state"] =
        Tensor::fromDoubles(st, stateShape, in.initialState);
  if (spec.varlen)
    c.raw["cu_seqlens"] =
        Tensor::fromInts(TensorDType::I64, {N + 1}, in.cuSeqlens);

  llvm::Expected<KdaOutputs> out = runReference(c.spec, in);
  if (!out)
    llvm::report_fatal_error("makeRandomCase: " +
                             llvm::Twine(llvm::toString(out.takeError())));
  c.expected = std::move(*out);
  return c;
}
