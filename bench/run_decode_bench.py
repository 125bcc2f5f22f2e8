#!/usr/bin/env python3
"""Decode benchmark: kdac's token-by-token kernel vs FLA's fused_recurrent_kda.

Runs on the GPU machine. T tokens per sequence (--tokens, 1 by default;
several for speculative decoding), B in {1, 32, 256}, H=32,
K=V=128, bf16 inputs with the fused gate (lowerbound -5), qk L2 norm and beta
sigmoid, fp32 or bf16 state. For each row it draws one set of inputs, times
FLA (triton do_bench, median), writes the same tensors as a kdac case and
times `kdac bench --decode` (CUDA events, median), and reports achieved
bandwidth against the device-to-device copy bandwidth measured in the same
run. FLA's public fused_recurrent_kda writes an fp32 final state; for a bf16
state FLA is called through fused_recurrent_kda_fwd in place (as vLLM does),
so both sides move the same bytes.

  python3 bench/run_decode_bench.py --kdac path/to/kdac --out results.md
"""
import argparse
import datetime
import os
import sys

import torch
from triton.testing import do_bench

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_bench import log, make_inputs, run_kdac, write_case, write_report  # noqa: E402


def copy_bandwidth():
    """Bytes per second of a 1 GiB device-to-device copy (read + write)."""
    x = torch.empty(1 << 28, dtype=torch.float32, device="cuda")
    y = torch.empty_like(x)
    ms = do_bench(lambda: y.copy_(x), warmup=20, rep=200, return_mode="median")
    return 2 * x.numel() * 4 / (ms * 1e-3)


def decode_bytes(B, T, H, K, V, state_bytes):
    """Each input read once, each output written once: q, k, v, o, g in bf16,
    beta for each of the T tokens, and the state read and written once."""
    return (B * T * H * (2 * K * 2 + 2 * V * 2 + K * 2 + 2)
            + 2 * B * H * K * V * state_bytes)


def run_fla(x, state_dtype):
    from fla.ops.kda.fused_recurrent import fused_recurrent_kda, fused_recurrent_kda_fwd
    common = dict(A_log=x["A_log"], dt_bias=x["dt_bias"], use_qk_l2norm_in_kernel=True,
                  use_gate_in_kernel=True, use_beta_sigmoid_in_kernel=True,
                  lower_bound=-5.0)
    if state_dtype == "f32":
        def fn():
            return fused_recurrent_kda(x["q"], x["k"], x["v"], x["g"], x["beta"],
                                       initial_state=x["initial_state"],
                                       output_final_state=True, **common)
    else:
        state = x["initial_state"].clone()

        def fn():
            return fused_recurrent_kda_fwd(x["q"], x["k"], x["v"], x["g"], x["beta"],
                                           initial_state=state, inplace_final_state=True,
                                           output_final_state=True, **common)
    fn()  # compile outside the timing
    torch.cuda.synchronize()
    return do_bench(fn, warmup=100, rep=500, return_mode="median")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kdac", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--batches", default="1,32,256")
    ap.add_argument("--tokens", default="1",
                    help="tokens per sequence per call, e.g. 1,2,4,8")
    ap.add_argument("--configs", default="",
                    help="extra kdac configs to time at each row, ';'-separated "
                         "flag lists, e.g. '--decode-v-tile=16 --recurrence-block-threads=64'")
    args = ap.parse_args()
    import fla

    H, K, V = 32, 128, 128
    bandwidth = copy_bandwidth()
    log(f"copy bandwidth {bandwidth / 1e12:.2f} TB/s")
    configs = [""] + [c for c in args.configs.split(";") if c.strip()]
    rows = []
    jobs = [(B, sd, T) for sd in ("f32", "bf16")
            for B in (int(b) for b in args.batches.split(","))
            for T in (int(t) for t in args.tokens.split(","))]
    for i, (B, state_dtype, T) in enumerate(jobs):
        name = f"B={B} T={T} {state_dtype} state"
        log(f"[{i + 1}/{len(jobs)}] {name}: FLA")
        x = make_inputs(B, T, H, K, V, None, seed=i)
        if state_dtype == "bf16":
            x["initial_state"] = x["initial_state"].to(torch.bfloat16)
        fla_ms = run_fla(x, state_dtype)
        path = f"/tmp/kdac_decode_{i}.safetensors"
        write_case(path, x, B, T, H, K, V, state_dtype=state_dtype)
        timings = []
        for config in configs:
            log(f"[{i + 1}/{len(jobs)}] {name}: kdac bench --decode {config}")
            fields, raw = run_kdac(args.kdac, path, args.iters,
                                   ["--decode", *config.split()])
            timings.append((config or "default", float(fields["median"]), raw))
        os.remove(path)
        moved = decode_bytes(B, T, H, K, V, 4 if state_dtype == "f32" else 2)
        rows.append(dict(name=name, B=B, T=T, state=state_dtype, fla_ms=fla_ms,
                         floor_ms=moved / bandwidth * 1e3,
                         bytes=moved, timings=timings))

    dev = torch.cuda.get_device_name()
    date = datetime.date.today().isoformat()
    lines = [f"Device: {dev}; date: {date}; torch {torch.__version__}; "
             f"fla-core {getattr(fla, '__version__', '?')}; measured copy bandwidth "
             f"{bandwidth / 1e12:.2f} TB/s",
             "",
             "| case (H=32, K=V=128) | FLA fused_recurrent_kda (ms) | FLA GB/s | "
             "FLA of floor | kdac (ms) | kdac GB/s | kdac of floor | kdac speedup vs FLA | "
             "bytes floor (ms) | kdac time / its T=1 time |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def gbps(r, ms):
        return r["bytes"] / (ms * 1e-3) / 1e9

    one_token = {(r["B"], r["state"]): r["timings"][0][1] for r in rows if r["T"] == 1}
    for r in rows:
        kdac_ms = r["timings"][0][1]
        base = one_token.get((r["B"], r["state"]))
        ratio = f"{kdac_ms / base:.2f}" if base else "-"
        lines.append(f"| {r['name']} | {r['fla_ms']:.4f} | {gbps(r, r['fla_ms']):.0f} | "
                     f"{r['floor_ms'] / r['fla_ms']:.2f} | "
                     f"{kdac_ms:.4f} | {gbps(r, kdac_ms):.0f} | {r['floor_ms'] / kdac_ms:.2f} | "
                     f"{r['fla_ms'] / kdac_ms:.2f}x | {r['floor_ms']:.4f} | {ratio} |")
    if len(configs) > 1:
        lines += ["", "kdac configurations (median ms):", ""]
        for r in rows:
            lines.append(f"- {r['name']}: " + ", ".join(
                f"{c}: {ms:.4f}" for c, ms, _ in r["timings"]))
    write_report(args.out, lines, [(r["name"], r["timings"][0][2]) for r in rows])


if __name__ == "__main__":
    main()
