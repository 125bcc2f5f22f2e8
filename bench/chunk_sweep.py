#!/usr/bin/env python3
"""kdac at 16- and 32-token chunks next to FLA's chunk_kda, on the same inputs.

Runs on the GPU machine with fla-core installed; prints one line per shape
(median ms). The data behind the default chunk size (bench/RESULTS.md).

  python3 bench/chunk_sweep.py path/to/kdac
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as r  # noqa: E402

kdac = sys.argv[1]
shapes = [(1, 16384, 32, 64), (1, 8192, 64, 64), (1, 4096, 16, 64), (4, 2048, 32, 64),
          (1, 8192, 64, 128), (1, 2048, 64, 128), (4, 1024, 16, 128)]
for i, (B, T, H, K) in enumerate(shapes):
    r.log(f"[{i + 1}/{len(shapes)}] B={B} T={T} H={H} K=V={K}")
    x = r.make_inputs(B, T, H, K, K, None, seed=i)
    fla_ms, _ = r.run_fla(x, K)
    path = f"/tmp/sweep_{i}.st"
    r.write_case(path, x, B, T, H, K, K)
    row = [f"B={B} T={T} H={H} K=V={K}", f"FLA {fla_ms:.3f}"]
    for c in (16, 32):
        fields, raw = r.run_kdac(kdac, path, 30, [f"--chunk-size={c}"])
        row.append(f"c{c} {float(fields['median']):.3f}")
    print(" | ".join(row), flush=True)
