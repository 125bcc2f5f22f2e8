"""How much the Python path (validation, custom-op dispatch, workspace
allocation, ctypes) adds over kdac's C launch: host microseconds per call of
kdac.torch.chunk_kda and of the bare C launch it ends in, same tensors, on a
problem small enough that the GPU never holds the host back."""

import time

import torch

import kdac.torch as kt
from kdac import _capi


def host_us(fn, n=2000):
    for _ in range(50):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    return (t1 - t0) / n * 1e6


def main():
    B, T, H, K, V = 1, 64, 2, 128, 128
    d = "cuda"
    x = dict(q=torch.randn(B, T, H, K, device=d, dtype=torch.bfloat16),
             k=torch.randn(B, T, H, K, device=d, dtype=torch.bfloat16),
             v=torch.randn(B, T, H, V, device=d, dtype=torch.bfloat16),
             g=torch.randn(B, T, H, K, device=d), beta=torch.randn(B, T, H, device=d, dtype=torch.bfloat16),
             initial_state=torch.zeros(B, H, K, V, device=d))
    flags = dict(use_qk_l2norm_in_kernel=True, use_gate_in_kernel=True,
                 use_beta_sigmoid_in_kernel=True, output_final_state=True,
                 A_log=torch.zeros(H, device=d), dt_bias=torch.zeros(H * K, device=d))
    with torch.no_grad():
        python = host_us(lambda: kt.chunk_kda(**x, **flags))
        p = kt._prepare("chunk_kda", x["q"], x["k"], x["v"], x["g"], x["beta"], None,
                        x["initial_state"], True, True, True, True, False, None, False, None,
                        flags["A_log"], flags["dt_bias"], decode=False)
        o = torch.empty_like(x["v"])
        s = torch.empty(B, H, K, V, device=d)
        args = _capi.LaunchArgs()
        tensors = dict(q=p["q"], k=p["k"], v=p["v"], g=p["g"], beta=p["beta"], a_log=p["A_log"],
                       dt_bias=p["dt_bias"], initial_state=p["initial_state"], o=o, final_state=s)
        for name, t in tensors.items():
            kt._fill(getattr(args, name), t)
        kernel = kt._kernel(p["spec"], T, 0)
        sizes = kernel.workspace_bytes(args)
        ws = [torch.empty(max(n, 1), dtype=torch.uint8, device=d) for n in sizes]
        ptrs = [w.data_ptr() for w in ws]
        stream = torch.cuda.current_stream().cuda_stream
        bare = host_us(lambda: kernel.launch(stream, args, ptrs, sizes))
    print(f"host time per call: kdac.torch.chunk_kda {python:.1f} us, bare C launch "
          f"(ctypes, {len(sizes)} workspaces, {kernel.num_workspaces} kernels' args) {bare:.1f} us, "
          f"Python path adds {python - bare:.1f} us")


if __name__ == "__main__":
    main()
