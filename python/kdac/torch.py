"""kdac as a drop-in for FLA's KDA ops: chunk_kda, fused_recurrent_kda and
fused_recurrent_kda_fwd, with FLA's signatures, shapes and defaults.

Each call validates its arguments (TypeError/ValueError naming the argument),
turns them into a kdac spec, JIT-compiles the spec's kernels on first use
(NVRTC and kdac's disk cache; one debug line on the "kdac" logger) and
launches them on torch's current stream with workspaces from torch's caching
allocator. The launches are torch.library custom ops with fake
implementations, so they trace under torch.compile and replay inside CUDA
graphs (compile once eagerly before capturing, as with FLA's autotuning).
chunk_kda and fused_recurrent_kda are differentiable, eagerly and under
torch.compile: the backward runs kdac's backward kernels, which recompute the
chunk states from the saved inputs.
"""

import logging
import math

import torch

from . import _capi, _launch

try:
    from torch._subclasses.fake_tensor import is_fake as _is_fake
except ImportError:  # pragma: no cover - older torch
    def _is_fake(t):
        return type(t).__name__ == "FakeTensor"

__all__ = ["chunk_kda", "fused_recurrent_kda", "fused_recurrent_kda_fwd",
           "fused_recurrent_kda_records", "commit_token_records"]

_log = logging.getLogger("kdac")

_FLOAT_CODES = {torch.float32: _capi.F32, torch.float16: _capi.F16,
                torch.bfloat16: _capi.BF16}


def _fail(exc, function, message):
    raise exc(f"kdac.torch.{function}: {message}")


def _tensor(function, name, value, optional=False):
    if value is None:
        if optional:
            return None
        _fail(TypeError, function, f"{name} is required")
    if not isinstance(value, torch.Tensor):
        _fail(TypeError, function, f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def _shape(function, name, tensor, expected):
    if tuple(tensor.shape) != tuple(expected):
        _fail(ValueError, function,
              f"{name} has shape {list(tensor.shape)}, expected {list(expected)}")


def _float_dtype(function, name, tensor):
    if tensor.dtype not in _FLOAT_CODES:
        _fail(TypeError, function,
              f"{name} has dtype {tensor.dtype}; kdac takes float32, float16 or bfloat16")
    return _FLOAT_CODES[tensor.dtype]


def _prepare(function, q, k, v, g, beta, scale, initial_state, output_final_state,
             use_qk_l2norm_in_kernel, use_gate_in_kernel, use_beta_sigmoid_in_kernel,
             allow_neg_eigval, lower_bound, state_v_first, cu_seqlens, A_log, dt_bias,
             decode, ssm_state_indices=None, num_accepted_tokens=None, inplace=False,
             records=False):
    """Validates one call's arguments and returns the spec they imply with
    the tensors to pass (converted where kdac's layout differs from FLA's)."""
    q = _tensor(function, "q", q)
    k = _tensor(function, "k", k)
    v = _tensor(function, "v", v)
    g = _tensor(function, "g", g)
    beta = _tensor(function, "beta", beta)
    if q.dim() != 4:
        _fail(ValueError, function, f"q must be [B, T, H, K], got shape {list(q.shape)}")
    B, T, H, K = q.shape
    if v.dim() != 4 or v.shape[0] != B or v.shape[1] != T:
        _fail(ValueError, function,
              f"v must be [B, T, HV, V] = [{B}, {T}, HV, V], got shape {list(v.shape)}")
    HV, V = v.shape[2], v.shape[3]
    _shape(function, "k", k, (B, T, H, K))
    if HV % H != 0:
        _fail(ValueError, function, f"v's head count HV = {HV} must be a multiple of H = {H}")
    _shape(function, "g", g, (B, T, HV, K))
    _shape(function, "beta", beta, (B, T, HV))
    dtype = _float_dtype(function, "q", q)
    for name, t in (("k", k), ("v", v)):
        if t.dtype != q.dtype:
            _fail(TypeError, function, f"{name} has dtype {t.dtype}, q has {q.dtype}")
    gate_dtype = _float_dtype(function, "g", g)
    beta_dtype = _float_dtype(function, "beta", beta)
    device = q.device
    for name, t in (("k", k), ("v", v), ("g", g), ("beta", beta)):
        if t.device != device:
            _fail(ValueError, function, f"{name} is on {t.device}, q is on {device}")
    if allow_neg_eigval and use_beta_sigmoid_in_kernel:
        _fail(ValueError, function, "allow_neg_eigval=True is not supported by kdac")
    if scale is not None and not (isinstance(scale, (int, float)) and math.isfinite(scale)):
        _fail(ValueError, function, f"scale must be a finite number, got {scale!r}")

    varlen = cu_seqlens is not None
    if varlen:
        cu_seqlens = _tensor(function, "cu_seqlens", cu_seqlens)
        if B != 1:
            _fail(ValueError, function,
                  f"with cu_seqlens the batch size must be 1 (flattened), q has B = {B}")
        if cu_seqlens.dim() != 1 or cu_seqlens.shape[0] < 2:
            _fail(ValueError, function, "cu_seqlens must be a 1-D [N + 1] tensor with N >= 1")
        if cu_seqlens.dtype not in (torch.int64, torch.int32):
            _fail(TypeError, function, f"cu_seqlens has dtype {cu_seqlens.dtype}, expected int64")
        cu_seqlens = cu_seqlens.to(device=device, dtype=torch.int64).contiguous()
        N = cu_seqlens.shape[0] - 1
    else:
        N = B

    activation, has_a_log, has_dt_bias = 0, False, False
    if use_gate_in_kernel:
        if lower_bound is not None:
            if not (isinstance(lower_bound, (int, float)) and math.isfinite(lower_bound)
                    and lower_bound < 0):
                _fail(ValueError, function,
                      f"lower_bound must be a finite negative number, got {lower_bound!r}")
            activation = 2
        else:
            activation = 1
            if A_log is None:
                _fail(ValueError, function,
                      "A_log must be provided when use_gate_in_kernel=True and "
                      "lower_bound is not set")
        if A_log is not None:
            A_log = _tensor(function, "A_log", A_log)
            if A_log.numel() != HV:
                _fail(ValueError, function, f"A_log must have HV = {HV} elements, "
                      f"got shape {list(A_log.shape)}")
            A_log = A_log.to(device=device, dtype=torch.float32).reshape(HV).contiguous()
            has_a_log = True
        if dt_bias is not None:
            dt_bias = _tensor(function, "dt_bias", dt_bias)
            if dt_bias.numel() != HV * K:
                _fail(ValueError, function, f"dt_bias must have HV * K = {HV * K} elements, "
                      f"got shape {list(dt_bias.shape)}")
            dt_bias = dt_bias.to(device=device, dtype=torch.float32).reshape(HV * K).contiguous()
            has_dt_bias = True
    else:
        A_log = dt_bias = None

    state_shape = (N, HV, V, K) if state_v_first else (N, HV, K, V)
    pool = ssm_state_indices is not None or inplace
    state_dtype = _capi.F32
    indices = accepted = None
    if pool:
        initial_state = _tensor(function, "initial_state", initial_state)
        if initial_state.dim() != 4 or tuple(initial_state.shape[1:]) != state_shape[1:]:
            _fail(ValueError, function,
                  f"initial_state (the state pool) must be [P, {', '.join(map(str, state_shape[1:]))}],"
                  f" got shape {list(initial_state.shape)}")
        if not initial_state.is_contiguous():
            _fail(ValueError, function, "initial_state is updated in place and must be contiguous")
        state_dtype = _float_dtype(function, "initial_state", initial_state)
        if ssm_state_indices is None:
            if initial_state.shape[0] != N:
                _fail(ValueError, function, f"initial_state has {initial_state.shape[0]} states, "
                      f"the inputs have N = {N} sequences")
            indices = torch.arange(N, dtype=torch.int32, device=device)
        else:
            indices = _tensor(function, "ssm_state_indices", ssm_state_indices)
            if indices.dim() not in (1, 2) or indices.shape[0] != N:
                _fail(ValueError, function, f"ssm_state_indices must be [N] or [N, S] with "
                      f"N = {N}, got shape {list(indices.shape)}")
            if indices.dtype not in (torch.int32, torch.int64):
                _fail(TypeError, function, f"ssm_state_indices has dtype {indices.dtype}, "
                      "expected int32")
            indices = indices.to(device=device, dtype=torch.int32).contiguous()
        if num_accepted_tokens is not None:
            accepted = _tensor(function, "num_accepted_tokens", num_accepted_tokens)
            if indices.dim() != 2:
                _fail(ValueError, function,
                      "num_accepted_tokens needs [N, S] ssm_state_indices")
            _shape(function, "num_accepted_tokens", accepted, (N,))
            accepted = accepted.to(device=device, dtype=torch.int32).contiguous()
    elif initial_state is not None:
        initial_state = _tensor(function, "initial_state", initial_state)
        _shape(function, "initial_state", initial_state, state_shape)
        _float_dtype(function, "initial_state", initial_state)
        # FLA reads any float state and returns a float32 final state.
        initial_state = initial_state.to(device=device, dtype=torch.float32).contiguous()

    fields = dict(
        B=1 if varlen else -1, T=-1, H=H, HV=HV, K=K, V=V, varlen=int(varlen), dtype=dtype,
        gate_dtype=gate_dtype, beta_dtype=beta_dtype, state_dtype=state_dtype, gate=2,
        update=0, activation=activation, has_lower_bound=int(activation == 2),
        lower_bound=float(lower_bound) if activation == 2 else 0.0,
        has_a_log=int(has_a_log), has_dt_bias=int(has_dt_bias),
        qk_l2norm=int(bool(use_qk_l2norm_in_kernel)),
        beta_sigmoid=int(bool(use_beta_sigmoid_in_kernel)),
        has_initial_state=int(initial_state is not None and not pool),
        has_final_state=int(bool(output_final_state) and not pool),
        state_v_first=int(bool(state_v_first)), has_scale=int(scale is not None),
        scale=float(scale) if scale is not None else 0.0, decode=int(bool(decode)),
        state_pool=int(pool), per_token_states=int(pool and indices.dim() == 2),
        accepted_counts=int(accepted is not None), backward=0,
        token_records=int(bool(records)), commit=0)
    if records:
        # Token records keep the call's T (its tokens run as one chunk).
        fields["T"] = T
    values = tuple(fields[name] for name in _SPEC_FIELDS)
    # Under torch.compile the spec is built (and checked) when the traced
    # custom op first runs: ctypes objects cannot be traced.
    spec = None if torch.compiler.is_compiling() else _spec_for(function, values)
    return dict(spec=spec, values=values, has_final_state=fields["has_final_state"],
                q=q.contiguous(), k=k.contiguous(), v=v.contiguous(),
                g=g.contiguous(), beta=beta.contiguous(), A_log=A_log, dt_bias=dt_bias,
                initial_state=initial_state, cu_seqlens=cu_seqlens, pool=pool,
                indices=indices, accepted=accepted, state_shape=state_shape)


_specs = {}


def _spec_for(function, values):
    """The validated spec for field values in _capi.Spec's order (cached: a
    call's cost must stay near the C launch's)."""
    spec = _specs.get(values)
    if spec is None:
        spec = _capi.Spec(*values)
        try:
            _capi.validate_spec(spec)
        except _capi.CApiError as e:
            _fail(ValueError, function, str(e))
        _specs[values] = spec
    return spec


def _refuse_grad(function, *tensors):
    if _needs_grad(*tensors):
        _fail(NotImplementedError, function,
              "it updates a state pool in place and has no backward; call it under "
              "torch.no_grad(), or use chunk_kda / fused_recurrent_kda for training")


# ---------------------------------------------------------------------------
# Launch plans and the custom ops.

# The call's tensors by role, the order of every plan's `tensors`.
_ROLES = ("q", "k", "v", "g", "beta", "A_log", "dt_bias", "initial_state", "cu_seqlens",
          "ssm_state_indices", "num_accepted_tokens")

# C API field <- (role, key of the prepared tensor in _prepare's result).
_CALL_FIELDS = (("q", 0, "q"), ("k", 1, "k"), ("v", 2, "v"), ("g", 3, "g"),
                ("beta", 4, "beta"), ("a_log", 5, "A_log"), ("dt_bias", 6, "dt_bias"),
                ("cu_seqlens", 8, "cu_seqlens"), ("state_indices", 9, "indices"),
                ("num_accepted", 10, "accepted"))

_call_plans = _launch.PlanCache()
_op_plans = _launch.PlanCache()


def _check_device(q):
    if q.device.type != "cuda":
        raise ValueError(f"kdac: tensors must be on a CUDA device, q is on {q.device}")


def _outputs(spec, v, N):
    outputs = {"o": (tuple(v.shape), v.dtype)}
    if spec.token_records:
        B, T, HV, V = v.shape
        outputs["token_records"] = ((B, T, HV, 2 * spec.K + V), torch.float32)
    state_shape = _state_shape(spec, N)
    if state_shape:
        outputs["final_state"] = (state_shape, torch.float32)
    return outputs


def _call_plan(p, tensors):
    """The plan of an eager call whose arguments _prepare accepted: each
    prepared tensor is the call's own, a conversion of it, or a constant."""
    _check_device(p["q"])
    inputs = []
    for field, role, name in _CALL_FIELDS:
        prepared = p[name]
        if prepared is None:
            continue
        given = tensors[role]
        inputs.append((field, prepared, role if given is not None else None,
                       _launch.source_of(prepared, given) if given is not None else None))
    state = p["initial_state"]
    if state is not None:
        inputs.append(("state_pool" if p["pool"] else "initial_state", state, 7,
                       _launch.source_of(state, tensors[7])))
    N = p["cu_seqlens"].shape[0] - 1 if p["cu_seqlens"] is not None else p["q"].shape[0]
    return _launch.Plan(p["spec"], p["q"].device, inputs, _outputs(p["spec"], p["v"], N),
                        p["q"].shape[1], _log)


def _op_plan(spec, fields, tensors, N, outputs=None, T=None):
    """The plan of a custom op's launch: its tensors are already prepared
    (made contiguous again if the compiled graph changed their strides).
    The outputs and T default to an attention call's (tensors q, k, v, ...);
    the commit passes its own."""
    key = (id(spec),) + tuple(_launch.signature(t) for t in tensors)
    plan = _op_plans.get(key)
    if plan is None:
        first = tensors[0]
        _check_device(first)
        inputs = [(field, t, i, None if t.is_contiguous() else t.dtype)
                  for i, (field, t) in enumerate(zip(fields, tensors)) if t is not None]
        if outputs is None:
            outputs = _outputs(spec, tensors[2], N)
        plan = _launch.Plan(spec, first.device, inputs, outputs,
                            first.shape[1] if T is None else T, _log)
        _op_plans.put(key, plan)
    return plan.run(tensors)


_SPEC_FIELDS = [name for name, _ in _capi.Spec._fields_]


_DOUBLE_FIELDS = {name for name, kind in _capi.Spec._fields_ if kind is _capi.ctypes.c_double}


def _values_from_list(values):
    """Spec field values from the floats a custom op received (its schema's
    type)."""
    return tuple(x if name in _DOUBLE_FIELDS else int(x)
                 for name, x in zip(_SPEC_FIELDS, values))


def _spec_from_list(values):
    return _spec_for("kda", _values_from_list(values))


def _spec_to_list(values):
    return [float(x) for x in values]


_FORWARD_FIELDS = ("q", "k", "v", "g", "beta", "a_log", "dt_bias", "initial_state",
                   "cu_seqlens")
_DECODE_POOL_FIELDS = ("q", "k", "v", "g", "beta", "a_log", "dt_bias", "state_pool",
                       "state_indices", "num_accepted", "cu_seqlens")


def _forward(spec, q, k, v, g, beta, A_log, dt_bias, initial_state, cu_seqlens):
    N = cu_seqlens.shape[0] - 1 if cu_seqlens is not None else q.shape[0]
    outputs = _op_plan(spec, _FORWARD_FIELDS,
                       (q, k, v, g, beta, A_log, dt_bias, initial_state, cu_seqlens), N)
    if len(outputs) == 1:  # the op's schema returns a tensor either way
        outputs.append(q.new_empty(0, dtype=torch.float32))
    return outputs[0], outputs[1]


def _decode_pool(spec, q, k, v, g, beta, A_log, dt_bias, state_pool, state_indices,
                 num_accepted, cu_seqlens):
    N = cu_seqlens.shape[0] - 1 if cu_seqlens is not None else q.shape[0]
    return _op_plan(spec, _DECODE_POOL_FIELDS,
                    (q, k, v, g, beta, A_log, dt_bias, state_pool, state_indices,
                     num_accepted, cu_seqlens), N)[0]


def _state_shape(spec, num_states):
    if not spec.has_final_state:
        return None
    HV, K, V = spec.HV, spec.K, spec.V
    return (num_states, HV, V, K) if spec.state_v_first else (num_states, HV, K, V)


# The same launches as torch.library custom ops, for tracing (torch.compile,
# fake tensors); a custom op's dispatch costs tens of microseconds, so eager
# calls skip it. The spec travels as floats, the schema's only list type.
@torch.library.custom_op("kdac::kda_forward", mutates_args=())
def _kda_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                 beta: torch.Tensor, A_log: torch.Tensor | None,
                 dt_bias: torch.Tensor | None, initial_state: torch.Tensor | None,
                 cu_seqlens: torch.Tensor | None,
                 spec_values: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    return _forward(_spec_from_list(spec_values), q, k, v, g, beta, A_log, dt_bias,
                    initial_state, cu_seqlens)


@_kda_forward.register_fake
def _(q, k, v, g, beta, A_log, dt_bias, initial_state, cu_seqlens, spec_values):
    N = cu_seqlens.shape[0] - 1 if cu_seqlens is not None else q.shape[0]
    state_shape = _state_shape(_spec_from_list(spec_values), N)
    final_state = q.new_empty(state_shape if state_shape else (0,), dtype=torch.float32)
    return torch.empty_like(v), final_state


@torch.library.custom_op("kdac::kda_decode_pool", mutates_args=("state_pool",))
def _kda_decode_pool(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                     beta: torch.Tensor, A_log: torch.Tensor | None,
                     dt_bias: torch.Tensor | None, state_pool: torch.Tensor,
                     state_indices: torch.Tensor, num_accepted: torch.Tensor | None,
                     cu_seqlens: torch.Tensor | None,
                     spec_values: list[float]) -> torch.Tensor:
    return _decode_pool(_spec_from_list(spec_values), q, k, v, g, beta, A_log, dt_bias,
                        state_pool, state_indices, num_accepted, cu_seqlens)


@_kda_decode_pool.register_fake
def _(q, k, v, g, beta, A_log, dt_bias, state_pool, state_indices, num_accepted,
      cu_seqlens, spec_values):
    return torch.empty_like(v)


_DECODE_RECORDS_FIELDS = _DECODE_POOL_FIELDS[:9]


@torch.library.custom_op("kdac::kda_decode_records", mutates_args=())
def _kda_decode_records(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                        g: torch.Tensor, beta: torch.Tensor, A_log: torch.Tensor | None,
                        dt_bias: torch.Tensor | None, state_pool: torch.Tensor,
                        state_indices: torch.Tensor,
                        spec_values: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    outputs = _op_plan(_spec_from_list(spec_values), _DECODE_RECORDS_FIELDS,
                       (q, k, v, g, beta, A_log, dt_bias, state_pool, state_indices),
                       q.shape[0])
    return outputs[0], outputs[1]


@_kda_decode_records.register_fake
def _(q, k, v, g, beta, A_log, dt_bias, state_pool, state_indices, spec_values):
    B, T, HV, V = v.shape
    K = int(spec_values[_SPEC_FIELDS.index("K")])
    return torch.empty_like(v), v.new_empty((B, T, HV, 2 * K + V), dtype=torch.float32)


@torch.library.custom_op("kdac::kda_commit_records", mutates_args=("state_pool",))
def _kda_commit_records(state_pool: torch.Tensor, records: torch.Tensor,
                        num_accepted: torch.Tensor, state_indices: torch.Tensor,
                        spec_values: list[float]) -> None:
    _op_plan(_spec_from_list(spec_values), _COMMIT_FIELDS,
             (state_pool, records, num_accepted, state_indices), len(records),
             outputs={}, T=records.shape[1])


@_kda_commit_records.register_fake
def _(state_pool, records, num_accepted, state_indices, spec_values):
    return None


def _tracing(t):
    return torch.compiler.is_compiling() or _is_fake(t)


def _finish(plan, outputs, tensors):
    if plan.pool:
        return outputs[0], tensors[7]
    return outputs[0], (outputs[1] if len(outputs) > 1 else None)


def _lookup(key):
    """The plan of a call signature seen before, or None (also for an
    argument that cannot be hashed: the checks will name it)."""
    if torch.compiler.is_compiling():
        return None
    try:
        return _call_plans.get(key)
    except TypeError:
        return None


def _run(p, key, tensors):
    """Runs a call that _prepare accepted: through the custom ops when
    tracing, else through a plan, kept for the signature's next call."""
    if _tracing(p["q"]):
        spec_values = _spec_to_list(p["values"])
        if p["pool"]:
            o = _kda_decode_pool(p["q"], p["k"], p["v"], p["g"], p["beta"], p["A_log"],
                                 p["dt_bias"], p["initial_state"], p["indices"],
                                 p["accepted"], p["cu_seqlens"], spec_values)
            return o, p["initial_state"]
        o, final_state = _kda_forward(p["q"], p["k"], p["v"], p["g"], p["beta"], p["A_log"],
                                      p["dt_bias"], p["initial_state"], p["cu_seqlens"],
                                      spec_values)
        return o, (final_state if p["has_final_state"] else None)
    plan = _call_plan(p, tensors)
    plan.pool = p["pool"]
    # A plan's constants (the default state indices) must not be made
    # inside a graph capture, where their initialisation is only recorded.
    if not torch.cuda.is_current_stream_capturing():
        try:
            _call_plans.put(key, plan)
        except TypeError:
            pass
    return _finish(plan, plan.run(tensors), tensors)


# ---------------------------------------------------------------------------
# Autograd: chunk_kda's gradients from kdac's backward kernels.

_BACKWARD_FIELDS = ("q", "k", "v", "g", "beta", "a_log", "dt_bias", "initial_state",
                    "cu_seqlens", "d_o", "dht")
_backward_plans = _launch.PlanCache()


def _needs_grad(*tensors):
    return torch.is_grad_enabled() and any(
        isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


def _backward_spec(values, has_dht):
    """The forward spec's values with the backward's op, and dht only where
    the caller's final state has a cotangent."""
    fields = dict(zip(_SPEC_FIELDS, values))
    fields["backward"] = 1
    fields["has_final_state"] = int(has_dht)
    return _spec_for("chunk_kda backward", tuple(fields[n] for n in _SPEC_FIELDS))


_GRAD_NAMES = ("dq", "dk", "dv", "dg", "dbeta", "da_log", "ddt_bias", "dh0")


def _run_backward(values, inputs, cu_seqlens, do, dht):
    """The backward's kernels on the forward's prepared inputs (q, k, v, g,
    beta, A_log, dt_bias, initial_state): f32 gradients in the inputs' shapes
    (dq, dk, dv, dg, dbeta, dA_log, ddt_bias, dh0; None where the forward had
    no such input)."""
    spec = _backward_spec(values, dht is not None)
    tensors = tuple(inputs) + (cu_seqlens, do.to(torch.float32).contiguous(),
                               dht.to(torch.float32).contiguous() if dht is not None else None)
    key = (id(spec),) + tuple(_launch.signature(t) for t in tensors)
    plan = _backward_plans.get(key)
    if plan is None:
        _check_device(inputs[0])
        f32 = torch.float32
        outputs = {name: (tuple(t.shape), f32)
                   for name, t in zip(_GRAD_NAMES, inputs) if t is not None}
        fields = [(field, t, i, None)
                  for i, (field, t) in enumerate(zip(_BACKWARD_FIELDS, tensors))
                  if t is not None]
        plan = _launch.Plan(spec, inputs[0].device, fields, outputs, inputs[0].shape[1], _log)
        plan.names = list(outputs)
        _backward_plans.put(key, plan)
    grads = dict(zip(plan.names, plan.run(tensors)))
    return [grads.get(n) for n in _GRAD_NAMES]


def _in_dtypes(grads, inputs):
    return [grad.to(given.dtype) if grad is not None and given is not None else None
            for grad, given in zip(grads, inputs)]


class _ChunkKda(torch.autograd.Function):
    """chunk_kda with kdac's backward: the forward saves only its inputs
    (the backward recomputes every chunk state), the backward returns each
    gradient in its input's dtype."""

    @staticmethod
    def forward(ctx, p, key, q, k, v, g, beta, A_log, dt_bias, initial_state):
        tensors = (q, k, v, g, beta, A_log, dt_bias, initial_state, p["cu_seqlens"],
                   None, None)
        plan = _lookup(key)
        if plan is not None:
            o, final_state = _finish(plan, plan.run(tensors), tensors)
        else:
            o, final_state = _run(p, key, tensors)
        ctx.p = p
        ctx.inputs = (q, k, v, g, beta, A_log, dt_bias, initial_state)
        ctx.has_final_state = final_state is not None
        if final_state is None:
            return o
        return o, final_state

    @staticmethod
    def backward(ctx, do, dht=None):
        p = ctx.p
        prepared = (p["q"], p["k"], p["v"], p["g"], p["beta"], p["A_log"], p["dt_bias"],
                    p["initial_state"])
        grads = _run_backward(p["values"], prepared, p["cu_seqlens"], do,
                              dht if ctx.has_final_state else None)
        return (None, None) + tuple(_in_dtypes(grads, ctx.inputs))


# The backward as a custom op, and the forward op's autograd formula through
# it, so that a compiled training step traces both (AOTAutograd saves the
# forward op's inputs; the backward recomputes the chunk states from them).
@torch.library.custom_op("kdac::kda_backward", mutates_args=())
def _kda_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                  beta: torch.Tensor, A_log: torch.Tensor | None,
                  dt_bias: torch.Tensor | None, initial_state: torch.Tensor | None,
                  cu_seqlens: torch.Tensor | None, do: torch.Tensor,
                  dht: torch.Tensor | None, spec_values: list[float]) -> list[torch.Tensor]:
    inputs = (q, k, v, g, beta, A_log, dt_bias, initial_state)
    grads = _run_backward(_values_from_list(spec_values), inputs, cu_seqlens, do, dht)
    return [grad if grad is not None else q.new_empty(0, dtype=torch.float32)
            for grad in grads]


@_kda_backward.register_fake
def _(q, k, v, g, beta, A_log, dt_bias, initial_state, cu_seqlens, do, dht, spec_values):
    return [torch.empty_like(t, dtype=torch.float32) if t is not None
            else q.new_empty(0, dtype=torch.float32)
            for t in (q, k, v, g, beta, A_log, dt_bias, initial_state)]


def _setup_forward_context(ctx, inputs, output):
    *tensors, spec_values = inputs
    ctx.save_for_backward(*tensors)
    ctx.spec_values = spec_values


def _forward_op_backward(ctx, do, dht):
    q, k, v, g, beta, A_log, dt_bias, initial_state, cu_seqlens = ctx.saved_tensors
    if dht is not None and dht.numel() == 0:  # the forward had no final state
        dht = None
    grads = _kda_backward(q, k, v, g, beta, A_log, dt_bias, initial_state, cu_seqlens,
                          do, dht, ctx.spec_values)
    inputs = (q, k, v, g, beta, A_log, dt_bias, initial_state)
    return tuple(_in_dtypes(grads, inputs)) + (None, None)


_kda_forward.register_autograd(_forward_op_backward, setup_context=_setup_forward_context)


def _take_kwargs(function, kwargs, allowed):
    if "transpose_state_layout" in kwargs:
        kwargs["state_v_first"] = kwargs.pop("transpose_state_layout")
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        _fail(TypeError, function, f"unexpected keyword argument(s) {', '.join(unknown)}")
    return kwargs


# A call's signature holds every argument the checks read; the tensors'
# shapes, dtypes, devices, contiguity and grad flags (_launch.signature).
_sig = _launch.signature


def chunk_kda(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False,
              use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
              use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False, safe_gate=False,
              lower_bound=None, disable_recompute=False, return_intermediate_states=False,
              state_v_first=False, cu_seqlens=None, cu_seqlens_cpu=None, cp_context=None,
              use_graph=False, max_num_seqs=None, **kwargs):
    """FLA's chunk_kda: (o [B, T, HV, V], final_state [N, HV, K, V] float32 or
    None). A_log and dt_bias come as keyword arguments, as in FLA."""
    A_log, dt_bias = kwargs.get("A_log"), kwargs.get("dt_bias")
    tensors = (q, k, v, g, beta, A_log, dt_bias, initial_state, cu_seqlens, None, None)
    key = ("chunk_kda", torch.is_grad_enabled(), type(q), _sig(q), _sig(k), _sig(v), _sig(g),
           _sig(beta), scale, _sig(initial_state), output_final_state,
           use_qk_l2norm_in_kernel, use_gate_in_kernel, use_beta_sigmoid_in_kernel,
           allow_neg_eigval, safe_gate, lower_bound, return_intermediate_states,
           state_v_first, _sig(cu_seqlens), cp_context,
           tuple([(n, _sig(x)) for n, x in kwargs.items()]))
    plan = _lookup(key)
    if plan is not None:
        return _finish(plan, plan.run(tensors), tensors)
    extra = _take_kwargs("chunk_kda", dict(kwargs), {"A_log", "dt_bias", "state_v_first"})
    state_v_first = extra.get("state_v_first", state_v_first)
    if return_intermediate_states:
        _fail(ValueError, "chunk_kda", "return_intermediate_states=True is not supported")
    if cp_context is not None:
        _fail(ValueError, "chunk_kda", "cp_context (context parallelism) is not supported")
    if safe_gate and use_gate_in_kernel and lower_bound is None:
        _fail(ValueError, "chunk_kda", "safe_gate=True with use_gate_in_kernel needs lower_bound")
    grad = _needs_grad(q, k, v, g, beta, initial_state, A_log, dt_bias)
    p = _prepare("chunk_kda", q, k, v, g, beta, scale, initial_state, output_final_state,
                 use_qk_l2norm_in_kernel, use_gate_in_kernel, use_beta_sigmoid_in_kernel,
                 allow_neg_eigval, lower_bound, state_v_first, cu_seqlens, A_log, dt_bias,
                 decode=False)
    if grad and not _tracing(q):  # traced, the forward op's autograd formula runs
        # The forward's plan is cached under its own key: a later call of
        # this signature must come back here, through autograd.
        outputs = _ChunkKda.apply(p, ("autograd",) + key, q, k, v, g, beta, A_log,
                                  dt_bias, initial_state)
        if not isinstance(outputs, tuple):
            return outputs, None
        return outputs
    return _run(p, key, tensors)


def fused_recurrent_kda(q, k, v, g, beta, A_log=None, dt_bias=None, scale=None,
                        initial_state=None, output_final_state=False,
                        use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
                        use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                        lower_bound=None, state_v_first=False, cu_seqlens=None, **kwargs):
    """FLA's fused_recurrent_kda (token by token, for decoding)."""
    tensors = (q, k, v, g, beta, A_log, dt_bias, initial_state, cu_seqlens, None, None)
    key = ("fused_recurrent_kda", torch.is_grad_enabled(), type(q), _sig(q), _sig(k),
           _sig(v), _sig(g), _sig(beta), _sig(A_log), _sig(dt_bias), scale,
           _sig(initial_state), output_final_state, use_qk_l2norm_in_kernel,
           use_gate_in_kernel, use_beta_sigmoid_in_kernel, allow_neg_eigval, lower_bound,
           state_v_first, _sig(cu_seqlens), tuple([(n, _sig(x)) for n, x in kwargs.items()]))
    plan = _lookup(key)
    if plan is not None:
        return _finish(plan, plan.run(tensors), tensors)
    extra = _take_kwargs("fused_recurrent_kda", dict(kwargs), {"state_v_first"})
    state_v_first = extra.get("state_v_first", state_v_first)
    if _needs_grad(q, k, v, g, beta, initial_state, A_log, dt_bias):
        # The same recurrence, differentiable through the chunked kernels
        # (FLA's fused_recurrent_kda has no backward).
        return chunk_kda(q, k, v, g, beta, scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state,
                         use_qk_l2norm_in_kernel=use_qk_l2norm_in_kernel,
                         use_gate_in_kernel=use_gate_in_kernel,
                         use_beta_sigmoid_in_kernel=use_beta_sigmoid_in_kernel,
                         allow_neg_eigval=allow_neg_eigval, lower_bound=lower_bound,
                         state_v_first=state_v_first, cu_seqlens=cu_seqlens, A_log=A_log,
                         dt_bias=dt_bias)
    p = _prepare("fused_recurrent_kda", q, k, v, g, beta, scale, initial_state,
                 output_final_state, use_qk_l2norm_in_kernel, use_gate_in_kernel,
                 use_beta_sigmoid_in_kernel, allow_neg_eigval, lower_bound, state_v_first,
                 cu_seqlens, A_log, dt_bias, decode=True)
    return _run(p, key, tensors)


def fused_recurrent_kda_fwd(q, k, v, g, beta, A_log=None, dt_bias=None, initial_state=None,
                            scale=None, output_final_state=False, inplace_final_state=True,
                            state_v_first=False, cu_seqlens=None, ssm_state_indices=None,
                            num_accepted_tokens=None, use_qk_l2norm_in_kernel=False,
                            use_gate_in_kernel=False, use_beta_sigmoid_in_kernel=False,
                            allow_neg_eigval=False, lower_bound=None, out=None, **kwargs):
    """FLA's fused_recurrent_kda_fwd: with inplace_final_state (the default)
    initial_state is a state pool updated in place (slot ssm_state_indices[n],
    or n), in any float dtype; returns (o, the pool)."""
    tensors = (q, k, v, g, beta, A_log, dt_bias, initial_state, cu_seqlens,
               ssm_state_indices, num_accepted_tokens)
    key = ("fused_recurrent_kda_fwd", torch.is_grad_enabled(), type(q), _sig(q), _sig(k),
           _sig(v), _sig(g), _sig(beta), _sig(A_log), _sig(dt_bias), _sig(initial_state),
           scale, output_final_state, inplace_final_state, state_v_first, _sig(cu_seqlens),
           _sig(ssm_state_indices), _sig(num_accepted_tokens), use_qk_l2norm_in_kernel,
           use_gate_in_kernel, use_beta_sigmoid_in_kernel, allow_neg_eigval, lower_bound,
           tuple([(n, _sig(x)) for n, x in kwargs.items()]))
    plan = _lookup(key)
    if plan is not None:
        o, state = _finish(plan, plan.run(tensors), tensors)
    else:
        extra = _take_kwargs("fused_recurrent_kda_fwd", dict(kwargs), {"state_v_first"})
        state_v_first = extra.get("state_v_first", state_v_first)
        _refuse_grad("fused_recurrent_kda_fwd", q, k, v, g, beta, initial_state, A_log,
                     dt_bias)
        inplace = bool(inplace_final_state) or ssm_state_indices is not None
        if inplace and initial_state is None:
            _fail(ValueError, "fused_recurrent_kda_fwd",
                  "inplace_final_state=True needs initial_state (the state pool)")
        p = _prepare("fused_recurrent_kda_fwd", q, k, v, g, beta, scale, initial_state,
                     output_final_state, use_qk_l2norm_in_kernel, use_gate_in_kernel,
                     use_beta_sigmoid_in_kernel, allow_neg_eigval, lower_bound,
                     state_v_first, cu_seqlens, A_log, dt_bias, decode=True,
                     ssm_state_indices=ssm_state_indices,
                     num_accepted_tokens=num_accepted_tokens, inplace=inplace)
        o, state = _run(p, key, tensors)
    if out is not None:
        if not isinstance(out, torch.Tensor) or out.shape != o.shape:
            _fail(ValueError, "fused_recurrent_kda_fwd", "out must have v's shape")
        out.copy_(o)
        o = out
    return o, state


# ---------------------------------------------------------------------------
# Speculative decoding by token records (kdac's own; FLA has no such op).
# Eager calls launch through plans, traced ones (torch.compile) through the
# kdac::kda_decode_records and kdac::kda_commit_records custom ops.


def fused_recurrent_kda_records(q, k, v, g, beta, A_log=None, dt_bias=None,
                                initial_state=None, scale=None, ssm_state_indices=None,
                                use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
                                use_beta_sigmoid_in_kernel=False, lower_bound=None):
    """Decodes T = 1..8 draft tokens per sequence from a state pool
    (initial_state [P, HV, K, V], slot ssm_state_indices[n], or n) without
    writing any state: returns (o, records), records [B, T, HV, 2K + V]
    float32 holding per token and value head k (after the L2 norm), its
    log-decay g (after the gate activation) and v' = beta (v - k^T exp(g) S).
    Once the drafts are checked, commit_token_records keeps each sequence's
    accepted prefix."""
    function = "fused_recurrent_kda_records"
    tensors = (q, k, v, g, beta, A_log, dt_bias, initial_state, None, ssm_state_indices,
               None)
    key = (function, torch.is_grad_enabled(), type(q), _sig(q), _sig(k), _sig(v), _sig(g),
           _sig(beta), _sig(A_log), _sig(dt_bias), _sig(initial_state), scale,
           _sig(ssm_state_indices), use_qk_l2norm_in_kernel, use_gate_in_kernel,
           use_beta_sigmoid_in_kernel, lower_bound)
    plan = _lookup(key)
    if plan is None:
        _refuse_grad(function, q, k, v, g, beta, initial_state, A_log, dt_bias)
        if initial_state is None:
            _fail(ValueError, function, "initial_state (the state pool) is required")
        if ssm_state_indices is not None and getattr(ssm_state_indices, "dim", None) \
                and ssm_state_indices.dim() != 1:
            _fail(ValueError, function, "token records take [N] ssm_state_indices "
                  "(one slot per sequence)")
        p = _prepare(function, q, k, v, g, beta, scale, initial_state, False,
                     use_qk_l2norm_in_kernel, use_gate_in_kernel,
                     use_beta_sigmoid_in_kernel, False, lower_bound, False, None, A_log,
                     dt_bias, decode=True, ssm_state_indices=ssm_state_indices,
                     inplace=True, records=True)
        if _tracing(p["q"]):
            return _kda_decode_records(p["q"], p["k"], p["v"], p["g"], p["beta"],
                                       p["A_log"], p["dt_bias"], p["initial_state"],
                                       p["indices"], _spec_to_list(p["values"]))
        plan = _call_plan(p, tensors)
        if not torch.cuda.is_current_stream_capturing():
            _call_plans.put(key, plan)
    o, records = plan.run(tensors)
    return o, records


_COMMIT_FIELDS = ("state_pool", "token_records", "num_accepted", "state_indices")


def _prepare_commit(function, state_pool, records, num_accepted_tokens,
                    ssm_state_indices):
    """Checks a commit's arguments: the spec's field values and the tensors
    the kernel reads (pool, records, int32 counts and slots)."""
    pool = _tensor(function, "state_pool", state_pool)
    records = _tensor(function, "records", records)
    accepted = _tensor(function, "num_accepted_tokens", num_accepted_tokens)
    if records.dim() != 4 or records.dtype != torch.float32:
        _fail(ValueError, function, "records must be a [N, T, HV, 2K + V] float32 "
              f"tensor, got {records.dtype} of shape {list(records.shape)}")
    N, T, HV, width = records.shape
    if pool.dim() != 4 or pool.shape[1] != HV or not pool.is_contiguous():
        _fail(ValueError, function, f"state_pool must be a contiguous [P, {HV}, K, V] "
              f"tensor, got shape {list(pool.shape)}")
    K, V = pool.shape[2], pool.shape[3]
    if width != 2 * K + V:
        _fail(ValueError, function, f"records have rows of {width}, the pool's "
              f"K = {K}, V = {V} need 2K + V = {2 * K + V}")
    state_dtype = _float_dtype(function, "state_pool", pool)
    device = pool.device
    indices = ssm_state_indices
    if indices is None:
        indices = torch.arange(N, dtype=torch.int32, device=device)
    else:
        indices = _tensor(function, "ssm_state_indices", indices)
        _shape(function, "ssm_state_indices", indices, (N,))
        indices = indices.to(device=device, dtype=torch.int32).contiguous()
    _shape(function, "num_accepted_tokens", accepted, (N,))
    _check_device(pool)
    accepted = accepted.to(device=device, dtype=torch.int32).contiguous()
    fields = {name: 0 for name in _SPEC_FIELDS}
    fields.update(B=-1, T=T, H=HV, HV=HV, K=K, V=V, dtype=_capi.BF16,
                  gate_dtype=_capi.F32, beta_dtype=_capi.BF16, state_dtype=state_dtype,
                  gate=2, state_pool=1, accepted_counts=1, token_records=1, commit=1)
    values = tuple(fields[name] for name in _SPEC_FIELDS)
    _spec_for(function, values)  # the compiler's checks, before anything runs
    return values, (pool, records.contiguous(), accepted, indices)


def _commit_plan(spec, prepared, given):
    """The plan of an eager commit of the caller's tensors `given`, whose
    prepared tensors may be conversions or constants (traced commits launch
    through _op_plan)."""
    inputs = []
    for role, (field, t) in enumerate(zip(_COMMIT_FIELDS, prepared)):
        inputs.append((field, t, role if given[role] is not None else None,
                       _launch.source_of(t, given[role]) if given[role] is not None
                       else None))
    return _launch.Plan(spec, prepared[0].device, inputs, {}, prepared[1].shape[1], _log)


def commit_token_records(state_pool, records, num_accepted_tokens, ssm_state_indices=None):
    """Rebuilds, in place, the state of each sequence n after its first
    min(num_accepted_tokens[n], T) tokens from a fused_recurrent_kda_records
    call's records: S <- exp(g_t) S + k_t v'_t^T on slot ssm_state_indices[n]
    (or n); a negative slot or a count of 0 leaves the slot. Returns the
    pool."""
    function = "commit_token_records"
    tensors = (state_pool, records, num_accepted_tokens, ssm_state_indices)
    key = (function, tuple(_sig(t) for t in tensors))
    plan = _lookup(key)
    if plan is None:
        values, prepared = _prepare_commit(function, *tensors)
        if _tracing(prepared[0]):
            _kda_commit_records(*prepared, _spec_to_list(values))
            return state_pool
        plan = _commit_plan(_spec_for(function, values), prepared, tensors)
        if not torch.cuda.is_current_stream_capturing():
            _call_plans.put(key, plan)
    plan.run(tensors)
    return state_pool
