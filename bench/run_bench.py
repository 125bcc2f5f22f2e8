#!/usr/bin/env python3
"""Side-by-side benchmark of kdac and FLA's chunk_kda on the DESIGN.md shapes.

Runs on the GPU machine: builds nothing. For each shape it draws one set of
inputs with torch, times FLA's chunk_kda on them (triton do_bench, median),
writes the same tensors as a kdac case file and times `kdac bench` on it
(CUDA events, median), then writes a Markdown table with the bytes floor.

  python3 bench/run_bench.py --kdac path/to/kdac --out results.md [--quick]
      [--shape B,T,H,K,V ...]            (your own shapes instead)
      [--sweep-t 1024,2048,... --plot scaling.png]   (time vs T, H=64)
      [--python]                         (also kdac.torch.chunk_kda, do_bench)
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import save_file
from triton.testing import do_bench

COPY_BANDWIDTH = 3.0e12  # bytes/s, device-to-device copy measured on the H100
MATMUL_PEAK = 755e12     # bf16 FLOP/s, dense matrix product measured on the H100

# name, B, T, H, K, V, cu_seqlens
SHAPES = [
    ("T=8192 H=64 K=V=128", 1, 8192, 64, 128, 128, None),
    ("T=8192 H=16 K=V=128", 1, 8192, 16, 128, 128, None),
    ("varlen [1300,547,2048,963,271,3063] H=64", 1, 8192, 64, 128, 128,
     [0, 1300, 1847, 3895, 4858, 5129, 8192]),
    ("T=16384 H=32 K=V=64", 1, 16384, 32, 64, 64, None),
]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def make_inputs(B, T, H, K, V, cu, seed):
    """The DESIGN.md benchmark setting: bf16, fused lowerbound(-5) gate, qk L2
    norm and beta sigmoid, fp32 initial and final state."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    dev, bf = "cuda", torch.bfloat16
    N = len(cu) - 1 if cu else B
    rnd = lambda *s: torch.randn(*s, generator=g, device=dev)
    return dict(
        q=rnd(B, T, H, K).to(bf), k=rnd(B, T, H, K).to(bf), v=rnd(B, T, H, V).to(bf),
        g=rnd(B, T, H, K).to(bf), beta=rnd(B, T, H).to(bf),
        A_log=torch.log(torch.empty(H, device=dev).uniform_(1, 16, generator=g)),
        dt_bias=(rnd(H * K) * 0.1).float(),
        initial_state=rnd(N, H, K, V).float() * 0.1,
        cu_seqlens=torch.tensor(cu, dtype=torch.long, device=dev) if cu else None,
    )


def bytes_floor(B, T, H, K, V, N):
    """Each input read once, each output written once."""
    io = 4 * B * T * H * max(K, V) * 2          # q, k, v, o in bf16
    gate = B * T * H * K * 2 + B * T * H * 2     # g and beta in bf16
    state = 2 * N * H * K * V * 4                # fp32 state in and out
    return io + gate + state


def useful_flops(B, T, H, K, V, C=64):
    """FLOPs of the chunkwise algorithm at FLA's chunk size: the two gram
    matrices, the WY factors, v' = u - w S, o = qS + Aqk v' and the state
    update (multiply-adds count two)."""
    per_token = 2 * (2 * C * K + C * (K + V) + K * V + K * V + C * V + K * V)
    return B * T * H * per_token


def run_fla(x, K):
    from fla.ops.kda import chunk_kda

    def fn():
        return chunk_kda(x["q"], x["k"], x["v"], x["g"], x["beta"],
                         initial_state=x["initial_state"], output_final_state=True,
                         use_qk_l2norm_in_kernel=True, use_gate_in_kernel=True,
                         use_beta_sigmoid_in_kernel=True, safe_gate=True,
                         lower_bound=-5.0, A_log=x["A_log"], dt_bias=x["dt_bias"],
                         cu_seqlens=x["cu_seqlens"])
    fn()  # compile and autotune outside the timing
    torch.cuda.synchronize()
    return do_bench(fn, warmup=100, rep=500, return_mode="median"), fn()


def run_kdac_torch(x):
    """kdac through its PyTorch package, timed like FLA (do_bench, median)."""
    import kdac.torch as kt

    def fn():
        return kt.chunk_kda(x["q"], x["k"], x["v"], x["g"], x["beta"],
                            initial_state=x["initial_state"], output_final_state=True,
                            use_qk_l2norm_in_kernel=True, use_gate_in_kernel=True,
                            use_beta_sigmoid_in_kernel=True, safe_gate=True,
                            lower_bound=-5.0, A_log=x["A_log"], dt_bias=x["dt_bias"],
                            cu_seqlens=x["cu_seqlens"])
    with torch.no_grad():
        fn()  # JIT-compile outside the timing
        torch.cuda.synchronize()
        return do_bench(fn, warmup=100, rep=500, return_mode="median")


def write_case(path, x, B, T, H, K, V, state_dtype="f32"):
    tensors = {k: v.contiguous().cpu() for k, v in x.items() if v is not None}
    meta = dict(B=B, T=T, H=H, HV=H, K=K, V=V, scale=None, gate_kind="lowerbound",
                lower_bound=-5.0, use_gate_in_kernel=True, use_qk_l2norm_in_kernel=True,
                use_beta_sigmoid_in_kernel=True, state_v_first=False,
                has_initial_state=True, dtype="bf16", gate_dtype="bf16",
                beta_dtype="bf16", state_dtype=state_dtype)
    save_file(tensors, path, metadata={k: json.dumps(v) for k, v in meta.items()})


def run_kdac(kdac, path, iters, extra=()):
    run = subprocess.run([kdac, "bench", path, f"--iters={iters}", *extra],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"kdac bench failed: {run.stderr.strip()}")
    out = run.stdout
    fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
    return fields, out.strip()


def write_report(path, lines, bench_lines):
    """Writes the table `lines` and each shape's raw `kdac bench` line to
    `path` as Markdown, and echoes it."""
    lines = lines + ["", "kdac bench lines (JIT cold compile and disk-cache hit times):", ""]
    lines += [f"- {name}: `{raw}`" for name, raw in bench_lines]
    text = "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    print(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kdac", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="first shape only")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--write-case", help="only write the first shape's case here")
    ap.add_argument("--shape", action="append", default=[],
                    help="B,T,H,K,V of a shape to run instead of the DESIGN.md ones")
    ap.add_argument("--sweep-t", help="comma-separated T values at H=64 K=V=128")
    ap.add_argument("--plot", help="PNG of time vs T for the --sweep-t shapes")
    ap.add_argument("--python", action="store_true",
                    help="also time kdac.torch.chunk_kda (the PyTorch package)")
    args = ap.parse_args()
    if args.write_case:
        name, B, T, H, K, V, cu = SHAPES[0]
        write_case(args.write_case, make_inputs(B, T, H, K, V, cu, seed=0), B, T, H, K, V)
        return

    import fla
    rows = []
    shapes = SHAPES[:1] if args.quick else SHAPES
    if args.shape:
        shapes = []
        for text in args.shape:
            B, T, H, K, V = (int(x) for x in text.split(","))
            shapes.append((f"B={B} T={T} H={H} K={K} V={V}", B, T, H, K, V, None))
    if args.sweep_t:
        shapes = [(f"T={t} H=64 K=V=128", 1, int(t), 64, 128, 128, None)
                  for t in args.sweep_t.split(",")]
    for i, (name, B, T, H, K, V, cu) in enumerate(shapes):
        log(f"[{i + 1}/{len(shapes)}] {name}: inputs")
        x = make_inputs(B, T, H, K, V, cu, seed=i)
        N = len(cu) - 1 if cu else B
        log(f"[{i + 1}/{len(shapes)}] {name}: FLA chunk_kda")
        fla_ms, (fla_o, fla_state) = run_fla(x, K)
        path = f"/tmp/kdac_bench_{i}.safetensors"
        log(f"[{i + 1}/{len(shapes)}] {name}: writing the case, kdac bench")
        write_case(path, x, B, T, H, K, V)
        fields, raw = run_kdac(args.kdac, path, args.iters)
        log("   ", raw)
        kdac_ms = float(fields["median"])
        torch_ms = None
        if args.python:
            log(f"[{i + 1}/{len(shapes)}] {name}: kdac.torch.chunk_kda")
            torch_ms = run_kdac_torch(x)
        floor_ms = bytes_floor(B, T, H, K, V, N) / COPY_BANDWIDTH * 1e3
        peak_ms = useful_flops(B, T, H, K, V) / MATMUL_PEAK * 1e3
        rows.append(dict(name=name, T=T, fla_ms=fla_ms, kdac_ms=kdac_ms,
                         floor_ms=floor_ms, peak_ms=peak_ms,
                         torch_ms=torch_ms, chunk=fields.get("chunk"), raw=raw))
        os.remove(path)

    dev = torch.cuda.get_device_name()
    date = datetime.date.today().isoformat()
    lines = [f"Device: {dev}; date: {date}; torch {torch.__version__}; "
             f"fla-core {getattr(fla, '__version__', '?')}; kdac {args.kdac}",
             ""]
    python = " kdac.torch (ms) |" if args.python else ""
    lines += ["| case | FLA chunk_kda (ms) | kdac (ms) |" + python + " kdac speedup vs FLA | "
              "bytes floor (ms) | kdac % of floor | kdac % of tensor-core peak |",
              "|---|---|---|" + ("---|" if args.python else "") + "---|---|---|---|"]
    for r in rows:
        python = f" {r['torch_ms']:.3f} |" if args.python else ""
        lines.append(f"| {r['name']} | {r['fla_ms']:.3f} | {r['kdac_ms']:.3f} |{python} "
                     f"{r['fla_ms'] / r['kdac_ms']:.2f}x | {r['floor_ms']:.3f} | "
                     f"{100 * r['floor_ms'] / r['kdac_ms']:.0f}% | "
                     f"{100 * r['peak_ms'] / r['kdac_ms']:.1f}% |")
    write_report(args.out, lines, [(r["name"], r["raw"]) for r in rows])
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        ts = [r["T"] for r in rows]
        plt.figure(figsize=(6, 4))
        plt.plot(ts, [r["fla_ms"] for r in rows], "o-", label="FLA chunk_kda")
        plt.plot(ts, [r["kdac_ms"] for r in rows], "s-", label="kdac")
        plt.plot(ts, [r["floor_ms"] for r in rows], ":", label="bytes floor")
        plt.xscale("log", base=2)
        plt.yscale("log")
        plt.xlabel("sequence length T (B=1, H=64, K=V=128, bf16, fused options)")
        plt.ylabel("time (ms)")
        plt.title(f"KDA forward on {dev}, {date}")
        plt.grid(True, which="both", alpha=0.3)
        plt.legend()
        plt.tight_layout()
        plt.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
