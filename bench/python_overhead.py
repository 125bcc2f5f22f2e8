#!/usr/bin/env python3
"""What the Python path costs over kdac's C launch: host microseconds per
call of kdac.torch's ops and of the bare C launch they end in (ctypes, the
descriptors and workspace prepared once), on problems small enough that the
GPU never holds the host back. Also the first call of a new signature (all
checks, a new plan; the kernels already loaded), which a varlen caller whose
total length changes every call pays each time.

  python3 bench/python_overhead.py       (PYTHONPATH holding python/)
"""

import ctypes
import time

import torch

import kdac.torch as kt
from kdac import _capi


def host_us(fn, n=3000):
    for _ in range(100):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    return (t1 - t0) / n * 1e6


def bare_launch(spec_plan):
    """The C launch alone, with the plan's descriptors and one workspace
    allocated up front."""
    plan = spec_plan
    workspace = torch.empty(plan._total, dtype=torch.uint8, device="cuda")
    pointers = (ctypes.c_uint64 * max(plan._count, 1))(
        *[workspace.data_ptr() + off for off in plan._offsets])
    outputs = [torch.empty(shape, dtype=dtype, device="cuda") for _, shape, dtype in plan._outputs]
    for (word, _, _), t in zip(plan._outputs, outputs):
        plan._words[word] = t.data_ptr()
    stream = torch.cuda.current_stream().cuda_stream
    call, handle, args = plan._call, plan._handle, plan._args_ref
    sizes, count = plan._sizes, plan._count

    def launch():
        _capi.check(call(handle, stream, args, pointers, sizes, count))
    keep = (workspace, outputs)
    return launch, keep


def inputs(B, T, H, K, V, state):
    d = "cuda"
    bf = torch.bfloat16
    return dict(q=torch.randn(B, T, H, K, device=d, dtype=bf),
                k=torch.randn(B, T, H, K, device=d, dtype=bf),
                v=torch.randn(B, T, H, V, device=d, dtype=bf),
                g=torch.randn(B, T, H, K, device=d, dtype=bf),
                beta=torch.randn(B, T, H, device=d, dtype=bf),
                A_log=torch.zeros(H, device=d), dt_bias=torch.zeros(H * K, device=d),
                initial_state=state)


def only_plan(cache):
    (plan,) = cache._plans.values()
    return plan


def main():
    flags = dict(use_qk_l2norm_in_kernel=True, use_gate_in_kernel=True,
                 use_beta_sigmoid_in_kernel=True, lower_bound=-5.0)
    rows = []
    with torch.no_grad():
        # Prefill: chunk_kda, B=1 T=64 H=2, f32 state in and out.
        x = inputs(1, 64, 2, 128, 128, torch.zeros(1, 2, 128, 128, device="cuda"))
        call = lambda: kt.chunk_kda(**x, **flags, output_final_state=True)  # noqa: E731
        kt._call_plans._plans.clear()
        call()
        launch, keep = bare_launch(only_plan(kt._call_plans))
        rows.append(("chunk_kda B=1 T=64 H=2 K=V=128", host_us(call), host_us(launch)))

        def new_signature():
            kt._call_plans._plans.clear()
            call()
        rows.append(("  same, first call of a signature", host_us(new_signature, 500),
                     rows[-1][2]))

        # Decode as engines call it: a bf16 state pool updated in place.
        B = 32
        pool = torch.zeros(64, 2, 128, 128, device="cuda", dtype=torch.bfloat16)
        y = inputs(B, 1, 2, 128, 128, pool)
        y = {n: (t.transpose(0, 1).contiguous() if t.dim() == 4 and n != "initial_state" else t)
             for n, t in y.items()}  # [1, B, H, K]: B sequences via cu_seqlens
        y["beta"] = y["beta"].reshape(1, B, 2)
        cu = torch.arange(B + 1, device="cuda")
        slots = torch.arange(B, device="cuda", dtype=torch.int32) * 2
        decode = lambda: kt.fused_recurrent_kda_fwd(  # noqa: E731
            **y, **flags, cu_seqlens=cu, ssm_state_indices=slots)
        kt._call_plans._plans.clear()
        decode()
        launch, keep2 = bare_launch(only_plan(kt._call_plans))
        rows.append(("fused_recurrent_kda_fwd B=32 H=2 bf16 pool", host_us(decode),
                     host_us(launch)))
        # The part of the Python path that is torch's own: the outputs'
        # allocations from the caching allocator (the workspace is the
        # stream's, kept between calls).
        plan = only_plan(kt._call_plans)

        def allocations():
            for _, shape, dtype in plan._outputs:
                torch.empty(shape, dtype=dtype, device="cuda")
        alloc_us = host_us(allocations)
    print("| call | kdac.torch (us) | bare C launch (us) | Python path adds (us) |")
    print("| --- | --- | --- | --- |")
    for name, python, bare in rows:
        print(f"| {name} | {python:.1f} | {bare:.1f} | {python - bare:.1f} |")
    print(f"\nof which the decode call's {len(plan._outputs)} torch.empty call(s) "
          f"(its outputs) take {alloc_us:.1f} us")
    del keep, keep2


if __name__ == "__main__":
    main()
