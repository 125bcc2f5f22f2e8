#!/usr/bin/env python3
"""Training step benchmark: kdac's forward + backward next to FLA's chunk_kda
forward + backward (torch autograd), on the same inputs and cotangents.

Runs on the GPU machine with fla-core installed. For each shape (issue 18's:
bf16, qk L2 norm, lowerbound gate with A_log and dt_bias, beta sigmoid,
initial and final state) it times FLA's forward alone and forward+backward
(do_bench, median), measures what FLA's forward keeps alive for its backward
(allocated bytes after the forward, minus the inputs and outputs), writes the
inputs and cotangents (do, dht) as a kdac case and runs `kdac bench
--backward` on it (CUDA events, median), then writes a Markdown table.

  python3 bench/run_train_bench.py --kdac path/to/kdac --out train.md [--quick | --shapes 1,3]
"""
import argparse
import datetime
import os
import sys

import torch
from triton.testing import do_bench

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402  (shared inputs, case writer, kdac runner)

# name, B, T, H, K, V
SHAPES = [
    ("B=1 T=8192 H=64 K=V=128", 1, 8192, 64, 128, 128),
    ("B=4 T=4096 H=16 K=V=128", 4, 4096, 16, 128, 128),
    ("B=1 T=16384 H=32 K=V=64", 1, 16384, 32, 64, 64),
]


def fla_step(x, K):
    """FLA's forward alone, forward+backward, and the bytes its forward
    saves for the backward."""
    from fla.ops.kda import chunk_kda
    leaves = {n: x[n].detach().clone().requires_grad_(True)
              for n in ("q", "k", "v", "g", "beta", "A_log", "dt_bias",
                        "initial_state")}

    def forward():
        return chunk_kda(leaves["q"], leaves["k"], leaves["v"], leaves["g"],
                         leaves["beta"], initial_state=leaves["initial_state"],
                         output_final_state=True, use_qk_l2norm_in_kernel=True,
                         use_gate_in_kernel=True, use_beta_sigmoid_in_kernel=True,
                         safe_gate=True, lower_bound=-5.0, A_log=leaves["A_log"],
                         dt_bias=leaves["dt_bias"])

    def step():
        for t in leaves.values():
            t.grad = None
        o, ht = forward()
        torch.autograd.backward([o, ht], [x["do"], x["dht"]])

    step()  # JIT-compile and autotune outside the timing
    torch.cuda.synchronize()
    with torch.no_grad():
        fwd_ms = do_bench(forward, warmup=50, rep=300, return_mode="median")
    step_ms = do_bench(step, warmup=50, rep=300, return_mode="median")
    for t in leaves.values():
        t.grad = None
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    o, ht = forward()
    torch.cuda.synchronize()
    saved = torch.cuda.memory_allocated() - before
    saved -= o.numel() * o.element_size() + ht.numel() * ht.element_size()
    del o, ht
    return fwd_ms, step_ms, saved


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kdac", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="last shape only")
    ap.add_argument("--shapes", default="",
                    help="comma-separated 1-based indices of the shapes to run "
                         "(FLA autotunes minutes per new shape), e.g. '1' or '1,3'")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--kdac-flags", default="",
                    help="extra kdac flags for its kernels, e.g. "
                         "'--grad-products=tf32 --grad-v-tile=64 --thin-barriers'")
    args = ap.parse_args()
    import fla
    shapes = SHAPES[-1:] if args.quick else SHAPES
    if args.shapes:
        shapes = [SHAPES[int(i) - 1] for i in args.shapes.split(",")]
    lines = [
        f"Training step, {torch.cuda.get_device_name()}, "
        f"{datetime.date.today().isoformat()}, torch {torch.__version__}, "
        f"fla {getattr(fla, '__version__', '?')}; bf16, qk L2 norm, "
        "lowerbound(-5) gate with A_log and dt_bias, beta sigmoid, fp32 states; "
        "medians in ms" + (f"; kdac {args.kdac_flags}" if args.kdac_flags else "") + ".",
        "",
        "| shape | FLA fwd | FLA fwd+bwd | kdac fwd | kdac bwd | kdac fwd+bwd "
        "| FLA / kdac | FLA saves (MB) | kdac bwd workspace (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    raw = []
    for i, (name, B, T, H, K, V) in enumerate(shapes):
        rb.log(f"[{i + 1}/{len(shapes)}] {name}: FLA forward+backward")
        x = rb.make_inputs(B, T, H, K, V, None, seed=100 + i)
        gen = torch.Generator(device="cuda").manual_seed(200 + i)
        x["do"] = torch.randn(B, T, H, V, generator=gen, device="cuda").to(torch.bfloat16)
        x["dht"] = torch.randn(B, H, K, V, generator=gen, device="cuda")
        fla_fwd, fla_step_ms, saved = fla_step(x, K)
        rb.log(f"[{i + 1}/{len(shapes)}] {name}: kdac bench --backward")
        path = f"/tmp/kdac_train_{i}.safetensors"
        rb.write_case(path, x, B, T, H, K, V)
        _, out = rb.run_kdac(args.kdac, path, args.iters,
                             ["--backward"] + args.kdac_flags.split())
        # The forward's and the backward's lines both have a median: read
        # each from its own line.
        def line_fields(prefix):
            line = [l for l in out.splitlines() if l.startswith(prefix + " ")][0]
            return dict(f.split("=", 1) for f in line.split() if "=" in f)
        fwd = float(line_fields("kdac_ms")["median"])
        bwd_fields = line_fields("kdac_bwd_ms")
        bwd = float(bwd_fields["median"])
        workspace = int(bwd_fields["workspace_bytes"])
        lines.append(
            f"| {name} | {fla_fwd:.3f} | {fla_step_ms:.3f} | {fwd:.3f} | {bwd:.3f} "
            f"| {fwd + bwd:.3f} | {fla_step_ms / (fwd + bwd):.2f}x "
            f"| {saved / 1e6:.0f} | {workspace / 1e6:.0f} |")
        raw.append((name, out.replace("\n", " / ")))
        # After every shape, so a run cut short keeps what it measured.
        rb.write_report(args.out, lines, raw)


if __name__ == "__main__":
    main()
