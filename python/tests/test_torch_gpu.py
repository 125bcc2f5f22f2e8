"""GPU tests of kdac.torch (label gpu): outputs against an fp64 recurrence
fed the same rounded inputs, against FLA's ops on the same inputs (when
fla-core is importable), under torch.compile and inside a captured CUDA
graph, and the in-place state pool; chunk_kda's gradients against autograd
through the fp64 recurrence, against FLA's and against a golden_bwd file.
Skipped, saying why, without a GPU."""

import pytest
import torch

import kdac.torch as kt
from reference import kda_reference

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device: kdac.torch GPU tests skipped")

TOL_BF16 = 5e-3


def rel(x, ref):
    x, ref = x.double().cpu(), ref.double().cpu()
    assert not torch.isnan(x).any(), "NaN in kdac's output"
    return ((x - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def make(B, T, H, HV, K, V, dtype=torch.bfloat16, fused=True, varlen=None, seed=0,
         state_v_first=False):
    gen = torch.Generator(device="cuda").manual_seed(seed)
    r = lambda *s, dt=dtype: torch.randn(*s, device="cuda", generator=gen).to(dt)
    x = dict(q=r(B, T, H, K), k=r(B, T, H, K), v=r(B, T, HV, V), g=r(B, T, HV, K),
             beta=r(B, T, HV))
    N = B if varlen is None else len(varlen)
    x["initial_state"] = r(N, HV, *((V, K) if state_v_first else (K, V)), dt=torch.float32) * 0.1
    if varlen is not None:
        x["cu_seqlens"] = torch.tensor([0] + torch.tensor(varlen).cumsum(0).tolist(),
                                       device="cuda", dtype=torch.int64)
    opts = dict(state_v_first=state_v_first)
    if fused:
        opts.update(use_qk_l2norm_in_kernel=True, use_gate_in_kernel=True,
                    use_beta_sigmoid_in_kernel=True,
                    A_log=torch.rand(HV, device="cuda", generator=gen) * 2 - 1,
                    dt_bias=torch.randn(HV * K, device="cuda", generator=gen) * 0.1)
    else:
        x["g"] = -torch.rand(B, T, HV, K, device="cuda", generator=gen) * 0.2
        x["k"] = torch.nn.functional.normalize(x["k"].float(), dim=-1).to(dtype)
        x["beta"] = torch.rand(B, T, HV, device="cuda", generator=gen).to(dtype)
    return x, opts


CASES = [
    dict(B=2, T=300, H=4, HV=4, K=128, V=128),
    dict(B=1, T=257, H=2, HV=4, K=64, V=64),                          # GVA, tail chunk
    dict(B=1, T=700, H=2, HV=2, K=128, V=128, varlen=[130, 1, 300, 269]),
    dict(B=2, T=128, H=2, HV=2, K=128, V=64, state_v_first=True),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fused", [True, False])
def test_chunk_kda_matches_fp64_oracle(case, fused):
    x, opts = make(**case, fused=fused)
    with torch.no_grad():
        o, state = kt.chunk_kda(**x, **opts, output_final_state=True)
    ro, rs = kda_reference(**x, **opts)
    assert o.shape == x["v"].shape and state.dtype == torch.float32
    assert rel(o, ro) <= TOL_BF16
    assert rel(state, rs) <= TOL_BF16


def test_lower_bound_gate_matches_oracle():
    x, opts = make(B=1, T=200, H=2, HV=2, K=128, V=128)
    opts.pop("A_log")
    with torch.no_grad():
        o, state = kt.chunk_kda(**x, **opts, safe_gate=True, lower_bound=-5.0,
                                output_final_state=True)
    ro, rs = kda_reference(**x, **opts, lower_bound=-5.0)
    assert rel(o, ro) <= TOL_BF16 and rel(state, rs) <= TOL_BF16


def _one_config_autotuners():
    """FLA's kernels keep only their first autotuning config: the tests
    compare values, which every config computes, and autotuning FLA's
    backward (dozens of kernels, each config compiled) takes minutes."""
    from triton.runtime import autotuner
    if getattr(autotuner.Autotuner, "_kdac_one_config", False):
        return
    init = autotuner.Autotuner.__init__

    def first_config_only(self, fn, arg_names, configs, *args, **kwargs):
        init(self, fn, arg_names, list(configs)[:1], *args, **kwargs)

    autotuner.Autotuner.__init__ = first_config_only
    autotuner.Autotuner._kdac_one_config = True


def fla_ops():
    try:
        _one_config_autotuners()
        from fla.ops.kda import chunk_kda, fused_recurrent_kda
    except Exception as e:  # noqa: BLE001 - any import failure means "not here"
        pytest.skip(f"fla-core not importable: {e}")
    return chunk_kda, fused_recurrent_kda


@pytest.mark.parametrize("case", CASES[:3])
def test_chunk_kda_matches_fla(case):
    fla_chunk, _ = fla_ops()
    x, opts = make(**case)
    flags = dict(output_final_state=True)
    with torch.no_grad():
        o, s = kt.chunk_kda(**x, **opts, **flags)
        fo, fs = fla_chunk(**x, **opts, **flags)
    assert rel(o, fo) <= 2 * TOL_BF16 and rel(s, fs) <= 2 * TOL_BF16


def test_fused_recurrent_kda_matches_fla_and_oracle():
    _, fla_recurrent = fla_ops()
    x, opts = make(B=8, T=1, H=4, HV=8, K=128, V=128)
    flags = {}
    with torch.no_grad():
        o, s = kt.fused_recurrent_kda(**x, **opts, **flags, output_final_state=True)
        fo, fs = fla_recurrent(**x, **opts, **flags, output_final_state=True)
    ro, rs = kda_reference(**x, **opts, **flags)
    assert rel(o, ro) <= TOL_BF16 and rel(s, rs) <= TOL_BF16
    assert rel(o, fo) <= 2 * TOL_BF16 and rel(s, fs) <= 2 * TOL_BF16


def test_state_pool_in_place_bf16():
    x, opts = make(B=3, T=1, H=2, HV=2, K=128, V=128)
    pool = (torch.randn(6, 2, 128, 128, device="cuda") * 0.1).to(torch.bfloat16)
    indices = torch.tensor([4, 0, 2], dtype=torch.int32, device="cuda")
    before = pool.clone()
    init = x.pop("initial_state")
    flags = {}
    with torch.no_grad():
        o, out = kt.fused_recurrent_kda_fwd(**x, **opts, **flags, initial_state=pool,
                                            ssm_state_indices=indices)
    assert out is pool
    ro, rs = kda_reference(**x, **opts, **flags, initial_state=before[indices.long()])
    assert rel(o, ro) <= TOL_BF16
    assert rel(pool[indices.long()], rs) <= 1e-2  # a bf16 state, rounded once
    untouched = torch.tensor([1, 3, 5], device="cuda")
    assert torch.equal(pool[untouched], before[untouched])
    del init


@pytest.mark.parametrize("state_dtype", [torch.bfloat16, torch.float32])
def test_token_records_commit_the_per_token_states(state_dtype):
    """Records then a commit give each sequence the state a per-token pool
    holds after its accepted prefix; the records call leaves the pool, and
    slots no commit keeps a token for stay as they were."""
    N, T, HV, K, V = 5, 4, 2, 128, 64
    x, opts = make(B=N, T=T, H=2, HV=HV, K=K, V=V)
    x.pop("initial_state")
    gen = torch.Generator(device="cuda").manual_seed(7)
    P = 3 * N
    pool = (torch.randn(P, HV, K, V, device="cuda", generator=gen) * 0.1).to(state_dtype)
    slots = torch.tensor([7, 0, 3, -1, 12], dtype=torch.int32, device="cuda")
    accepted = torch.tensor([0, 1, 3, 2, 9], dtype=torch.int32, device="cuda")  # 9: all T
    before = pool.clone()
    with torch.no_grad():
        o, records = kt.fused_recurrent_kda_records(**x, **opts, initial_state=pool,
                                                    ssm_state_indices=slots)
        assert torch.equal(pool, before), "the records call wrote the pool"
        assert records.shape == (N, T, HV, 2 * K + V) and records.dtype == torch.float32
        # The same call on a per-token pool: sequence n starts from slot
        # draft[n, 0] (a copy of its slot) and keeps token t's state in
        # draft[n, t].
        per_token = torch.zeros(N * T, HV, K, V, device="cuda", dtype=state_dtype)
        draft = torch.arange(N * T, device="cuda", dtype=torch.int32).reshape(N, T)
        per_token[draft[:, 0].long()] = before[slots.clamp_min(0).long()]
        o2, _ = kt.fused_recurrent_kda_fwd(**x, **opts, initial_state=per_token,
                                           ssm_state_indices=draft)
        kept = slots >= 0
        assert rel(o[kept], o2[kept]) <= TOL_BF16
        kt.commit_token_records(pool, records, accepted, ssm_state_indices=slots)
    changed = set()
    for n in range(N):
        slot, count = int(slots[n]), min(int(accepted[n]), T)
        if slot < 0 or count == 0:
            continue
        changed.add(slot)
        want = per_token[int(draft[n, count - 1])]
        assert rel(pool[slot], want) <= 1e-2, f"sequence {n} keeping {count}"
    for s in set(range(P)) - changed:
        assert torch.equal(pool[s], before[s]), f"slot {s} changed"


def test_torch_compile():
    x, opts = make(B=1, T=256, H=2, HV=2, K=128, V=128)
    flags = dict(output_final_state=True)

    def step(q, k, v, g, beta, h0):
        o, s = kt.chunk_kda(q, k, v, g, beta, initial_state=h0, **opts, **flags)
        return o.float() * 2, s

    with torch.no_grad():
        eager = step(x["q"], x["k"], x["v"], x["g"], x["beta"], x["initial_state"])
        compiled = torch.compile(step, fullgraph=True)(
            x["q"], x["k"], x["v"], x["g"], x["beta"], x["initial_state"])
    assert torch.equal(eager[0], compiled[0]) and torch.equal(eager[1], compiled[1])


def test_token_records_under_torch_compile():
    """A compiled speculative step (records, then the commit) matches the
    eager one bit for bit, pool included."""
    N, T, HV, K, V = 3, 4, 2, 128, 64
    x, opts = make(B=N, T=T, H=2, HV=HV, K=K, V=V)
    x.pop("initial_state")
    gen = torch.Generator(device="cuda").manual_seed(11)
    pool = (torch.randn(2 * N, HV, K, V, device="cuda", generator=gen) * 0.1).to(
        torch.bfloat16)
    slots = torch.tensor([4, 0, 2], dtype=torch.int32, device="cuda")
    accepted = torch.tensor([1, 4, 2], dtype=torch.int32, device="cuda")

    def step(q, k, v, g, beta, pool):
        o, records = kt.fused_recurrent_kda_records(q, k, v, g, beta, **opts,
                                                    initial_state=pool,
                                                    ssm_state_indices=slots)
        kt.commit_token_records(pool, records, accepted, ssm_state_indices=slots)
        return o.float(), records

    with torch.no_grad():
        eager_pool, compiled_pool = pool.clone(), pool.clone()
        eager = step(x["q"], x["k"], x["v"], x["g"], x["beta"], eager_pool)
        compiled = torch.compile(step, fullgraph=True)(
            x["q"], x["k"], x["v"], x["g"], x["beta"], compiled_pool)
    assert torch.equal(eager[0], compiled[0]) and torch.equal(eager[1], compiled[1])
    assert torch.equal(eager_pool, compiled_pool)
    assert not torch.equal(eager_pool, pool), "the commit kept nothing"


def test_cuda_graph_capture_and_replay():
    x, opts = make(B=2, T=192, H=2, HV=2, K=128, V=128)
    flags = dict(output_final_state=True)
    static = {n: t.clone() for n, t in x.items()}
    with torch.no_grad():
        kt.chunk_kda(**static, **opts, **flags)  # compile outside the capture
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = kt.chunk_kda(**static, **opts, **flags)
        fresh, _ = make(B=2, T=192, H=2, HV=2, K=128, V=128, seed=7)
        for n in static:
            static[n].copy_(fresh[n])
        graph.replay()
        torch.cuda.synchronize()
        eager = kt.chunk_kda(**fresh, **opts, **flags)
    assert torch.equal(out[0], eager[0]) and torch.equal(out[1], eager[1])


def test_plan_reuse_matches_a_fresh_call():
    # The second call of a signature skips the checks and reuses its plan;
    # its result must equal a call that starts from nothing, on new inputs.
    x, opts = make(B=2, T=300, H=4, HV=4, K=128, V=128)
    with torch.no_grad():
        kt._call_plans._plans.clear()
        kt.chunk_kda(**x, **opts, output_final_state=True)
        assert len(kt._call_plans._plans) == 1
        fresh, _ = make(B=2, T=300, H=4, HV=4, K=128, V=128, seed=3)
        reused = kt.chunk_kda(**fresh, **opts, output_final_state=True)
        assert len(kt._call_plans._plans) == 1
        kt._call_plans._plans.clear()
        first = kt.chunk_kda(**fresh, **opts, output_final_state=True)
    assert torch.equal(reused[0], first[0]) and torch.equal(reused[1], first[1])


def test_plan_conversions_match_converted_inputs():
    # Strided q, a bf16 initial state, int32 cu_seqlens and a bf16 A_log are
    # converted by the plan on every call, as on the first.
    x, opts = make(B=1, T=700, H=2, HV=2, K=128, V=128, varlen=[130, 1, 300, 269])
    ref_inputs = dict(x, initial_state=x["initial_state"].to(torch.bfloat16).float())
    opts["A_log"] = opts["A_log"].to(torch.bfloat16).float()
    with torch.no_grad():
        expected = kt.chunk_kda(**ref_inputs, **opts, output_final_state=True)
        odd = dict(x, q=x["q"].transpose(1, 2).contiguous().transpose(1, 2),
                   initial_state=x["initial_state"].to(torch.bfloat16),
                   cu_seqlens=x["cu_seqlens"].to(torch.int32))
        odd_opts = dict(opts, A_log=opts["A_log"].to(torch.bfloat16))
        assert not odd["q"].is_contiguous()
        for _ in range(2):  # the plan's first call, then its reuse
            got = kt.chunk_kda(**odd, **odd_opts, output_final_state=True)
            assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_checks_still_run_after_a_plan_exists():
    x, opts = make(B=2, T=128, H=2, HV=2, K=128, V=128)
    with torch.no_grad():
        kt.chunk_kda(**x, **opts)
        with pytest.raises(ValueError, match="k has shape"):
            kt.chunk_kda(**dict(x, k=x["k"][:, :, :, :64]), **opts)
    # A plan made without grad must not serve a call that needs one.
    x["q"].requires_grad_(True)
    o, _ = kt.chunk_kda(**x, **opts)
    assert o.grad_fn is not None
    o.float().sum().backward()
    assert x["q"].grad is not None and x["q"].grad.abs().sum() > 0


def test_stream_workspaces_are_per_stream_and_grow():
    # Small workspaces are kept per (device, stream): a call on a side
    # stream gets its own, a larger problem grows it, and every result
    # equals one computed with a fresh workspace from torch's allocator.
    from kdac import _launch
    small, opts = make(B=1, T=64, H=2, HV=2, K=128, V=128)
    large, large_opts = make(B=2, T=700, H=4, HV=4, K=128, V=128, seed=5)
    flags = dict(output_final_state=True)
    with torch.no_grad():
        limit = _launch.WORKSPACE_CACHE_BYTES
        try:
            _launch.WORKSPACE_CACHE_BYTES = 0  # every call allocates its own
            expected_small = kt.chunk_kda(**small, **opts, **flags)
            expected_large = kt.chunk_kda(**large, **large_opts, **flags)
        finally:
            _launch.WORKSPACE_CACHE_BYTES = limit
        _launch._stream_workspaces.clear()
        got_small = kt.chunk_kda(**small, **opts, **flags)
        assert len(_launch._stream_workspaces) == 1
        (first,) = _launch._stream_workspaces.values()
        got_large = kt.chunk_kda(**large, **large_opts, **flags)
        (grown,) = _launch._stream_workspaces.values()
        assert grown.numel() >= first.numel()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            got_side = kt.chunk_kda(**small, **opts, **flags)
        torch.cuda.current_stream().wait_stream(side)
        assert len(_launch._stream_workspaces) == 2
        torch.cuda.synchronize()
    for got, expected in ((got_small, expected_small), (got_large, expected_large),
                          (got_side, expected_small)):
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


# ---------------------------------------------------------------------------
# Autograd: chunk_kda's gradients from kdac's backward kernels.

GRAD_NAMES = ("q", "k", "v", "g", "beta", "initial_state", "A_log", "dt_bias")


def grads_of(fn, x, opts, do, dht):
    """Gradients of sum(o * do) + sum(final_state * dht) by autograd through
    `fn`, for every floating input that takes one."""
    leaves = {}
    args = dict(x)
    kw = dict(opts)
    for name in GRAD_NAMES:
        src = args if name in args else kw
        if name in src and src[name] is not None:
            src[name] = leaves[name] = src[name].detach().clone().requires_grad_(True)
    o, state = fn(**args, **kw)
    torch.autograd.backward([o, state], [do.to(o.dtype).to(o.device),
                                         dht.to(state.dtype).to(state.device)])
    return {n: t.grad for n, t in leaves.items()}


def oracle_grads(x, opts, do, dht, **flags):
    """The fp64 recurrence's gradients at the same (rounded) input values."""
    x64 = {n: (t.double().cpu() if t.is_floating_point() else t.cpu())
           for n, t in x.items()}
    o64 = {n: (t.double().cpu() if isinstance(t, torch.Tensor) else t)
           for n, t in opts.items()}
    return grads_of(lambda **a: kda_reference(**a, **flags), x64, o64, do.double(),
                    dht.double())


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-4), (torch.bfloat16, TOL_BF16)])
def test_chunk_kda_gradients_match_fp64_oracle(dtype, tol):
    # GVA, varlen, every fused option: each adjoint kernel runs.
    x, opts = make(B=1, T=45, H=2, HV=4, K=32, V=32, dtype=dtype, varlen=[20, 1, 24])
    gen = torch.Generator(device="cuda").manual_seed(5)
    do = torch.randn(1, 45, 4, 32, device="cuda", generator=gen)
    dht = torch.randn(3, 4, 32, 32, device="cuda", generator=gen)
    got = grads_of(lambda **a: kt.chunk_kda(**a, output_final_state=True), x, opts, do, dht)
    want = oracle_grads(x, opts, do, dht)
    assert set(got) == set(want) == set(GRAD_NAMES)
    for name in GRAD_NAMES:
        assert got[name].dtype == (x.get(name, opts.get(name))).dtype, name
        assert rel(got[name], want[name]) <= tol, name


def test_chunk_kda_gradients_lower_bound_and_no_final_state():
    x, opts = make(B=2, T=33, H=2, HV=2, K=64, V=32, dtype=torch.float32, seed=3)
    opts.pop("A_log")
    gen = torch.Generator(device="cuda").manual_seed(6)
    do = torch.randn(2, 33, 2, 32, device="cuda", generator=gen)
    leaves = {n: t.detach().clone().requires_grad_(True) for n, t in x.items()}
    o, state = kt.chunk_kda(**leaves, **opts, safe_gate=True, lower_bound=-5.0)
    assert state is None
    (o * do).sum().backward()
    ref = {n: t.detach().double().cpu().requires_grad_(True) for n, t in x.items()}
    ro, _ = kda_reference(**ref, **{n: t.double().cpu() for n, t in opts.items()
                                    if isinstance(t, torch.Tensor)},
                          **{n: t for n, t in opts.items() if not isinstance(t, torch.Tensor)},
                          lower_bound=-5.0)
    (ro * do.double().cpu()).sum().backward()
    for name in x:
        assert rel(leaves[name].grad, ref[name].grad) <= 1e-4, name


def test_chunk_kda_gradients_match_fla():
    fla_chunk, _ = fla_ops()
    x, opts = make(B=1, T=200, H=2, HV=2, K=128, V=128)
    gen = torch.Generator(device="cuda").manual_seed(8)
    do = torch.randn(1, 200, 2, 128, device="cuda", generator=gen)
    dht = torch.randn(1, 2, 128, 128, device="cuda", generator=gen)
    got = grads_of(lambda **a: kt.chunk_kda(**a, output_final_state=True), x, opts, do, dht)
    want = grads_of(lambda **a: fla_chunk(**a, output_final_state=True), x, opts, do, dht)
    for name in want:
        if want[name] is not None:
            assert rel(got[name], want[name]) <= 2e-2, name  # FLA's bf16 backward


def test_chunk_kda_gradients_on_a_golden():
    import json
    import os
    from safetensors.torch import load_file
    from safetensors import safe_open
    directory = os.environ.get("KDAC_GOLDEN_BWD_DIR",
                               os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                            "shared", "golden_bwd"))
    path = os.path.join(directory, "bwd_varlen_gva_all.safetensors")
    if not os.path.isfile(path):
        pytest.skip(f"no gradient golden at {path}")
    with safe_open(path, "pt") as f:
        meta = {k: json.loads(v) for k, v in f.metadata().items()}
    t = {n: v.cuda() for n, v in load_file(path).items()}
    x = {n: t[n].float() for n in ("q", "k", "v", "g", "beta", "initial_state")}
    x["cu_seqlens"] = t["cu_seqlens"].long()
    opts = dict(use_qk_l2norm_in_kernel=meta["use_qk_l2norm_in_kernel"],
                use_gate_in_kernel=meta["use_gate_in_kernel"],
                use_beta_sigmoid_in_kernel=meta["use_beta_sigmoid_in_kernel"],
                A_log=t["A_log"].float(), dt_bias=t["dt_bias"].float())
    if meta.get("gate_kind") == "lowerbound":
        opts.update(safe_gate=True, lower_bound=float(meta["lower_bound"]))
    if meta.get("scale") is not None:
        opts["scale"] = float(meta["scale"])  # a JSON string in the README's format
    opts["state_v_first"] = bool(meta.get("state_v_first", False))
    got = grads_of(lambda **a: kt.chunk_kda(**a, output_final_state=True), x, opts,
                   t["do"].float(), t["dht"].float())
    for name, golden in (("q", "dq"), ("k", "dk"), ("v", "dv"), ("g", "dg"),
                         ("beta", "dbeta"), ("A_log", "dA_log"), ("dt_bias", "ddt_bias"),
                         ("initial_state", "dh0")):
        assert rel(got[name], t[golden]) <= 1e-4, name


def test_compiled_training_step_matches_eager_gradients():
    # torch.compile traces the forward op's autograd formula and the
    # backward op; the same kernels run, so the gradients are identical.
    x, opts = make(B=1, T=130, H=2, HV=4, K=64, V=64, dtype=torch.float32)
    gen = torch.Generator(device="cuda").manual_seed(9)
    do = torch.randn(1, 130, 4, 64, device="cuda", generator=gen)
    dht = torch.randn(1, 4, 64, 64, device="cuda", generator=gen)

    def step(**a):
        o, state = kt.chunk_kda(**a, output_final_state=True)
        return o * 1.0, state

    eager = grads_of(step, x, opts, do, dht)
    torch._dynamo.reset()
    compiled = grads_of(torch.compile(step, fullgraph=True), x, opts, do, dht)
    assert set(eager) == set(compiled) == set(GRAD_NAMES)
    for name in GRAD_NAMES:
        assert torch.equal(eager[name], compiled[name]), name


def test_fused_recurrent_kda_gradients_are_chunk_kdas():
    x, opts = make(B=2, T=40, H=2, HV=2, K=32, V=32, dtype=torch.float32, seed=4)
    gen = torch.Generator(device="cuda").manual_seed(10)
    do = torch.randn(2, 40, 2, 32, device="cuda", generator=gen)
    dht = torch.randn(2, 2, 32, 32, device="cuda", generator=gen)
    got = grads_of(lambda **a: kt.fused_recurrent_kda(**a, output_final_state=True),
                   x, opts, do, dht)
    want = oracle_grads(x, opts, do, dht)
    for name in GRAD_NAMES:
        assert rel(got[name], want[name]) <= 1e-4, name
