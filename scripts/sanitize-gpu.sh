#!/usr/bin/env bash
# Runs the JIT-compiled kernels under compute-sanitizer (memcheck, racecheck,
# synccheck) on a subset of cases: golden vectors with varlen, long T and
# K = 256, and random bf16 / varlen-vk cases. Needs a GPU.
#   scripts/sanitize-gpu.sh [path/to/kdac] [golden dir]
set -euo pipefail
kdac=${1:-build/bin/kdac}
golden=${2:-../shared/golden}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$kdac" gen-case --B=2 --T=77 --H=2 --HV=4 --K=64 --V=64 --dtype=bf16 \
  --gate-activation=lowerbound --a-log --dt-bias --qk-l2norm --beta-sigmoid \
  --initial-state --final-state --seed=5 -o "$tmp/bf16.safetensors" >/dev/null
"$kdac" gen-case --varlen --seqlens=1,17,1,40 --H=1 --HV=2 --K=32 --V=32 \
  --gate=scalar --gate-activation=softplus --initial-state --final-state \
  --state-layout=vk --seed=6 -o "$tmp/varlen.safetensors" >/dev/null
status=0
for c in "$golden/varlen_all_flags.safetensors" "$golden/long_d128.safetensors" \
         "$golden/k256_v64.safetensors" "$tmp/bf16.safetensors" "$tmp/varlen.safetensors"; do
  for tool in memcheck racecheck synccheck; do
    echo "== $tool $(basename "$c")"
    compute-sanitizer --tool "$tool" --error-exitcode 9 \
      "$kdac" check "$c" --backend=gpu --tol=5e-3 || status=1
  done
done
exit $status
