#!/usr/bin/env bash
# The device checks and timings of the token-records work (issue 20): the
# decode GPU tests, kdac bench of slots / per-token / records (+ commit) at
# B=256 H=32 K=V=128 T in 1,2,4,8, kv vs vk at T=1, sanitizers, the Python GPU
# tests, and kdac tune --decode into $OUT/h200.json. Run on the device from the
# repository root with a .carry/ holding bin/kdac, gt/JitGpuTest and
# lib/libkdac_capi.so (stripped copies of the build); results land in $OUT.
export KDAC_CACHE_DIR=/tmp/kc
K=$PWD/.carry/bin/kdac
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv > $OUT/gtest.txt
timeout 240 .carry/gt/JitGpuTest --gtest_filter='*Decode*' >> $OUT/gtest.txt 2>&1; echo "gtest rc=$?" >> $OUT/gtest.txt
tail -5 $OUT/gtest.txt
F="--H=32 --K=128 --V=128 --gate-activation=lowerbound --a-log --dt-bias --qk-l2norm --beta-sigmoid --initial-state --final-state --store-dtype=bf16"
for sd in bf16 f32; do for T in 1 2 4 8; do
  c=/tmp/c_${sd}_$T.safetensors
  timeout 120 $K gen-case $F --B=256 --T=$T --state-dtype=$sd -o $c > /dev/null 2>&1 || echo "gen fail $sd $T"
  for mode in "" "--per-token" "--token-records"; do
    echo "state=$sd T=$T mode=${mode:-slots}: $(timeout 60 $K bench $c --state-pool $mode --iters=200 2>&1 | tr '\n' ' ')" >> $OUT/bench.txt
  done
done; done
for sd in bf16 f32; do for lay in kv vk; do
  c=/tmp/l_${sd}_$lay.safetensors
  timeout 120 $K gen-case $F --B=256 --T=1 --state-dtype=$sd --state-layout=$lay -o $c > /dev/null 2>&1 || echo "gen fail"
  echo "layout=$lay state=$sd T=1 plain: $(timeout 60 $K bench $c --decode --iters=200 2>&1 | tr '\n' ' ')" >> $OUT/bench.txt
done; done
cat $OUT/bench.txt
cd python/tests && KDAC_CAPI_LIBRARY=$OLDPWD/.carry/lib/libkdac_capi.so PYTHONPATH=$OLDPWD/python KDAC_POISON_OUTPUTS=1 timeout 150 python3 -m pytest -q -p no:cacheprovider test_torch_gpu.py -k "token_records or state_pool" > $OUT/pytest.txt 2>&1; echo "pytest rc=$?" >> $OUT/pytest.txt; cd $OLDPWD
tail -5 $OUT/pytest.txt
timeout 150 compute-sanitizer --tool racecheck --racecheck-report hazard .carry/gt/JitGpuTest --gtest_filter='JitGpu.DecodeTokenRecordsAndCommit' > $OUT/racecheck.txt 2>&1; echo "racecheck rc=$?" >> $OUT/racecheck.txt
timeout 100 compute-sanitizer --tool memcheck .carry/gt/JitGpuTest --gtest_filter='JitGpu.DecodeTokenRecordsAndCommit' > $OUT/memcheck.txt 2>&1; echo "memcheck rc=$?" >> $OUT/memcheck.txt
tail -4 $OUT/racecheck.txt $OUT/memcheck.txt

F="--H=32 --K=128 --V=128 --gate-activation=lowerbound --a-log --dt-bias --qk-l2norm --beta-sigmoid --initial-state --final-state --store-dtype=bf16"
for sd in bf16 f32; do for T in 1 4; do for B in 256; do
  c=/tmp/c_${sd}_$T.safetensors
  echo "## state $sd T=$T B=$B" >> $OUT/tune.md
  timeout 100 $K tune $c --decode --db=$OUT/h200.json --iters=50 >> $OUT/tune.md 2>> $OUT/tune.err
  echo "default: $(timeout 60 $K bench $c --decode --iters=200 2>&1 | tr '\n' ' ')" >> $OUT/tune.md
  echo "tuned:   $(KDAC_TUNING_DB=$OUT/h200.json timeout 60 $K bench $c --decode --iters=200 2>&1 | tr '\n' ' ')" >> $OUT/tune.md
done; done; done
grep -E "^##|^best|^default|^tuned" $OUT/tune.md
