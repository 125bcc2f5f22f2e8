"""CPU tests of kdac.torch: the import, argument validation with errors that
name the argument, fake-tensor shapes (of outputs and of traced gradients),
and the refusals (no GPU, grad through an in-place state pool)."""

import re

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

import kdac
import kdac.torch as kt

B, T, H, HV, K, V = 2, 32, 2, 4, 64, 32


def inputs(device="cpu", **overrides):
    x = dict(q=torch.randn(B, T, H, K, dtype=torch.bfloat16, device=device),
             k=torch.randn(B, T, H, K, dtype=torch.bfloat16, device=device),
             v=torch.randn(B, T, HV, V, dtype=torch.bfloat16, device=device),
             g=torch.randn(B, T, HV, K, device=device),
             beta=torch.rand(B, T, HV, dtype=torch.bfloat16, device=device))
    x.update(overrides)
    return x


def test_library_loads():
    assert kdac.library_path().endswith("libkdac_capi.so")


@pytest.mark.parametrize("override, exc, message", [
    (dict(q=None), TypeError, "q is required"),
    (dict(q="x"), TypeError, "q must be a torch.Tensor"),
    (dict(q=torch.zeros(T, H, K)), ValueError, "q must be [B, T, H, K]"),
    (dict(k=torch.zeros(B, T, H, K + 1, dtype=torch.bfloat16)), ValueError, "k has shape"),
    (dict(v=torch.zeros(B, T, 3, V, dtype=torch.bfloat16)), ValueError, "must be a multiple of H"),
    (dict(v=torch.zeros(B, T, HV, V, dtype=torch.float16)), TypeError, "v has dtype"),
    (dict(g=torch.zeros(B, T, HV)), ValueError, "g has shape"),
    (dict(beta=torch.zeros(B, T, HV, dtype=torch.int32)), TypeError, "beta has dtype"),
    (dict(initial_state=torch.zeros(B, HV, V, K + 1)), ValueError, "initial_state has shape"),
    (dict(cu_seqlens=torch.tensor([0, T])), ValueError, "batch size must be 1"),
    (dict(use_gate_in_kernel=True), ValueError, "A_log must be provided"),
    (dict(use_gate_in_kernel=True, lower_bound=2.0), ValueError, "lower_bound must be a finite negative"),
    (dict(use_gate_in_kernel=True, A_log=torch.zeros(3)), ValueError, "A_log must have HV"),
    (dict(use_beta_sigmoid_in_kernel=True, allow_neg_eigval=True), ValueError, "allow_neg_eigval"),
    (dict(return_intermediate_states=True), ValueError, "return_intermediate_states"),
    (dict(scale=float("nan")), ValueError, "scale must be a finite number"),
    (dict(bogus=1), TypeError, "unexpected keyword argument(s) bogus"),
])
def test_chunk_kda_names_the_bad_argument(override, exc, message):
    with pytest.raises(exc, match="kdac.torch.chunk_kda: .*" + re.escape(message)):
        kt.chunk_kda(**inputs(**override))


def test_spec_limits_come_from_the_compiler():
    big = inputs(q=torch.zeros(1, 4, 1, 512, dtype=torch.bfloat16),
                 k=torch.zeros(1, 4, 1, 512, dtype=torch.bfloat16),
                 v=torch.zeros(1, 4, 1, 32, dtype=torch.bfloat16),
                 g=torch.zeros(1, 4, 1, 512), beta=torch.zeros(1, 4, 1, dtype=torch.bfloat16))
    with pytest.raises(ValueError, match="inconsistent spec: .*K"):
        kt.chunk_kda(**big)


def test_cpu_tensors_are_refused_clearly():
    with pytest.raises(ValueError, match="must be on a CUDA device"):
        kt.chunk_kda(**inputs())


def test_grad_needs_cuda_tensors():
    x = inputs()
    x["q"].requires_grad_(True)
    with pytest.raises(ValueError, match="must be on a CUDA device"):
        kt.chunk_kda(**x)
    with pytest.raises(ValueError, match="must be on a CUDA device"):
        kt.fused_recurrent_kda(**x)  # differentiable through chunk_kda


def test_traced_gradients_have_the_inputs_shapes_and_dtypes():
    # Fake tensors take the path torch.compile traces: the forward custom
    # op's autograd formula and the backward custom op's fake. (Fake CPU
    # tensors: autograd's engine wants a real device for fake CUDA ones.)
    with FakeTensorMode():
        x = inputs(device="cpu", initial_state=torch.zeros(B, HV, K, V, device="cpu"))
        leaves = {n: t.requires_grad_(True) for n, t in x.items()}
        A_log = torch.zeros(HV, device="cpu", requires_grad=True)
        dt_bias = torch.zeros(HV * K, device="cpu", requires_grad=True)
        o, state = kt.chunk_kda(**leaves, output_final_state=True, use_gate_in_kernel=True,
                                A_log=A_log, dt_bias=dt_bias)
        (o.float().sum() + state.sum()).backward()
        for t in list(leaves.values()) + [A_log, dt_bias]:
            assert t.grad is not None and t.grad.shape == t.shape
            assert t.grad.dtype == t.dtype
        o, state = kt.chunk_kda(**inputs(device="cpu", q=torch.zeros(
            B, T, H, K, dtype=torch.bfloat16, device="cpu", requires_grad=True)))
        assert state is None
        o.float().sum().backward()


def test_fused_recurrent_kda_fwd_has_no_backward():
    x = inputs()
    x["q"].requires_grad_(True)
    pool = torch.zeros(B, HV, K, V)
    with pytest.raises(NotImplementedError, match="has no backward"):
        kt.fused_recurrent_kda_fwd(**x, initial_state=pool)


def test_backward_spec_is_the_forward_one_with_its_op():
    # What chunk_kda's autograd asks the C API for, checked without a GPU.
    from kdac import _capi
    fields = dict(B=-1, T=-1, H=H, HV=HV, K=K, V=V, varlen=0, dtype=_capi.BF16,
                  gate_dtype=_capi.F32, beta_dtype=_capi.BF16, state_dtype=_capi.F32,
                  gate=2, update=0, activation=0, has_lower_bound=0, lower_bound=0.0,
                  has_a_log=0, has_dt_bias=0, qk_l2norm=1, beta_sigmoid=0,
                  has_initial_state=1, has_final_state=1, state_v_first=0, has_scale=0,
                  scale=0.0, decode=0, state_pool=0, per_token_states=0,
                  accepted_counts=0, backward=0, token_records=0, commit=0)
    values = tuple(fields[n] for n, _ in _capi.Spec._fields_)
    spec = kt._backward_spec(values, has_dht=False)
    assert spec.backward == 1 and spec.has_final_state == 0 and spec.qk_l2norm == 1
    fields.update(decode=1, backward=1)
    with pytest.raises(_capi.CApiError, match="more than one of decode, backward and commit"):
        _capi.validate_spec(_capi.Spec(*(fields[n] for n, _ in _capi.Spec._fields_)))


def test_fake_tensor_shapes():
    with FakeTensorMode():
        x = inputs(device="cuda", initial_state=torch.empty(B, HV, K, V, device="cuda"))
        o, state = kt.chunk_kda(**x, output_final_state=True)
        assert o.shape == (B, T, HV, V) and o.dtype == torch.bfloat16
        assert state.shape == (B, HV, K, V) and state.dtype == torch.float32
        x["initial_state"] = torch.empty(B, HV, V, K, device="cuda")
        o, state = kt.chunk_kda(**x, output_final_state=True, state_v_first=True)
        assert state.shape == (B, HV, V, K)
        o, state = kt.fused_recurrent_kda(**inputs(device="cuda"))
        assert o.shape == (B, T, HV, V) and state is None
        pool = torch.empty(7, HV, K, V, dtype=torch.bfloat16, device="cuda")
        idx = torch.tensor([3, 5], dtype=torch.int32, device="cuda")
        o, out_pool = kt.fused_recurrent_kda_fwd(**inputs(device="cuda"), initial_state=pool,
                                                 ssm_state_indices=idx)
        assert o.shape == (B, T, HV, V) and out_pool is pool


def test_varlen_fake_shapes():
    with FakeTensorMode():
        x = inputs(device="cuda")
        x = {n: t[:1] for n, t in x.items()}
        cu = torch.tensor([0, 5, T], device="cuda")
        o, state = kt.chunk_kda(**x, cu_seqlens=cu, output_final_state=True)
        assert state.shape == (2, HV, K, V)


def test_state_pool_checks():
    x = inputs()
    with pytest.raises(ValueError, match="needs initial_state"):
        kt.fused_recurrent_kda_fwd(**x)
    with pytest.raises(ValueError, match="ssm_state_indices must be"):
        kt.fused_recurrent_kda_fwd(**x, initial_state=torch.zeros(4, HV, K, V),
                                   ssm_state_indices=torch.zeros(3, dtype=torch.int32))
    with pytest.raises(ValueError, match="num_accepted_tokens needs"):
        kt.fused_recurrent_kda_fwd(**x, initial_state=torch.zeros(4, HV, K, V),
                                   ssm_state_indices=torch.zeros(B, dtype=torch.int32),
                                   num_accepted_tokens=torch.ones(B, dtype=torch.int32))


def test_signature_holds_what_the_checks_read():
    from kdac import _launch
    t = torch.zeros(2, 3, 4)
    base = _launch.signature(t)
    assert _launch.signature(torch.zeros(2, 3, 4)) == base
    assert _launch.signature(torch.zeros(2, 4, 3).transpose(1, 2)) != base  # strides
    assert _launch.signature(torch.zeros(2, 3, 4, dtype=torch.bfloat16)) != base
    assert _launch.signature(torch.zeros(2, 3, 5)) != base
    assert _launch.signature(torch.zeros(2, 3, 4, requires_grad=True)) != base
    assert _launch.signature(1.5) == 1.5 and _launch.signature(None) is None


def test_refused_calls_leave_no_plan():
    kt._call_plans._plans.clear()
    for override in (dict(k=torch.zeros(B, T, H, K + 1, dtype=torch.bfloat16)),
                     dict(scale=float("nan")), dict(), dict(bogus=[1, 2])):
        with pytest.raises((TypeError, ValueError)):
            kt.chunk_kda(**inputs(**override))
    assert not kt._call_plans._plans


def test_unhashable_arguments_are_checked_not_crashed():
    with pytest.raises(ValueError, match="scale must be a finite number"):
        kt.chunk_kda(**inputs(), scale=[1.0])


def test_token_record_checks():
    x = inputs(**{n: t[:, :4] for n, t in inputs().items()})
    with pytest.raises(ValueError, match="initial_state .the state pool. is required"):
        kt.fused_recurrent_kda_records(**x)
    with pytest.raises(ValueError, match="take \\[N\\] ssm_state_indices"):
        kt.fused_recurrent_kda_records(**x, initial_state=torch.zeros(4, HV, K, V),
                                       ssm_state_indices=torch.zeros(B, 4, dtype=torch.int32))
    # The compiler's limit, through the C API: T = 32 is no one chunk.
    with pytest.raises(ValueError, match="token records need a static T in \\[1, 8\\]"):
        kt.fused_recurrent_kda_records(**inputs(), initial_state=torch.zeros(B, HV, K, V))
    with pytest.raises(ValueError, match="records must be a \\[N, T, HV, 2K \\+ V\\] float32"):
        kt.commit_token_records(torch.zeros(4, HV, K, V), torch.zeros(B, 4, HV, 2 * K + V,
                                dtype=torch.bfloat16), torch.ones(B, dtype=torch.int32))
    with pytest.raises(ValueError, match="need 2K \\+ V = 160"):
        kt.commit_token_records(torch.zeros(4, HV, K, V), torch.zeros(B, 4, HV, 100),
                                torch.ones(B, dtype=torch.int32))
    with pytest.raises(ValueError, match="num_accepted_tokens has shape"):
        kt.commit_token_records(torch.zeros(4, HV, K, V), torch.zeros(B, 4, HV, 2 * K + V),
                                torch.ones(B + 1, dtype=torch.int32))


def test_token_records_trace_through_custom_ops():
    # Fake tensors take torch.compile's path: the records call and the
    # commit are kdac::kda_decode_records and kdac::kda_commit_records.
    with FakeTensorMode():
        x = {n: t[:, :4] for n, t in inputs(device="cuda").items()}
        pool = torch.empty(7, HV, K, V, dtype=torch.bfloat16, device="cuda")
        idx = torch.tensor([3, 5], dtype=torch.int32, device="cuda")
        o, records = kt.fused_recurrent_kda_records(**x, initial_state=pool,
                                                    ssm_state_indices=idx)
        assert o.shape == (B, 4, HV, V) and o.dtype == torch.bfloat16
        assert records.shape == (B, 4, HV, 2 * K + V) and records.dtype == torch.float32
        accepted = torch.tensor([2, 4], dtype=torch.int32, device="cuda")
        assert kt.commit_token_records(pool, records, accepted, idx) is pool
    assert hasattr(torch.ops.kdac, "kda_decode_records")
    assert hasattr(torch.ops.kdac, "kda_commit_records")
    # The commit's schema says it writes the pool (a compiled graph keeps
    # the order of the calls that read it).
    schema = torch.ops.kdac.kda_commit_records.default._schema
    assert schema.arguments[0].alias_info is not None and schema.arguments[0].alias_info.is_write
