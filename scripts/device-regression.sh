#!/usr/bin/env bash
# The broad GPU regression after a change to the kernel IR or the emitter:
# every GPU unit suite (their IR strings are parsed only on a GPU machine),
# the goldens through the gpu and decode backends, the backward goldens, and
# the Python GPU tests. Run on the device from the repository root with a
# .carry/ holding bin/kdac, gt/{JitGpuTest,CudaEmitterGpuTest,RuntimeGpuTest},
# lib/libkdac_capi.so and gold/{golden,golden_bwd} (copies of ../shared);
# one summary line per suite lands in $OUT/regression.txt, logs beside it.
export KDAC_CACHE_DIR=/tmp/kc
out=${OUT:-/tmp}
summary=$out/regression.txt
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$summary"
for suite in RuntimeGpuTest CudaEmitterGpuTest JitGpuTest; do
  timeout 400 .carry/gt/$suite > "$out/$suite.txt" 2>&1
  echo "$suite rc=$? $(grep -E '^\[  (PASSED|FAILED)  \]' "$out/$suite.txt" | tr '\n' ' ')" >> "$summary"
done
pass=0 fail=0
# The forward goldens through both kernel sets, the backward ones (which
# the decode backend has no backward for) through the chunked kernels.
for c in .carry/gold/golden/*.safetensors .carry/gold/golden_bwd/*.safetensors; do
  backends="gpu decode"
  case $c in */golden_bwd/*) backends=gpu ;; esac
  for backend in $backends; do
    if timeout 60 .carry/bin/kdac check "$c" --backend=$backend >> "$out/goldens.txt" 2>&1; then
      pass=$((pass + 1))
    else
      fail=$((fail + 1)); echo "FAIL $backend $c" >> "$summary"
    fi
  done
done
echo "goldens: $pass passed, $fail failed" >> "$summary"
(cd python/tests && KDAC_CAPI_LIBRARY=$OLDPWD/.carry/lib/libkdac_capi.so \
   PYTHONPATH=$OLDPWD/python timeout 300 python3 -m pytest -q -p no:cacheprovider \
   test_torch_gpu.py > "$out/pytest.txt" 2>&1; echo "pytest rc=$? $(tail -1 "$out/pytest.txt")" >> "$summary")
cat "$summary"
