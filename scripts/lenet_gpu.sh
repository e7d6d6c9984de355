#!/usr/bin/env bash
# Chapter 09 on a GPU in one go: the CUDA tests, the throughput benchmark on the CPU and the
# GPU in one run (batches of 64 and 1024, compiled, bfloat16), and the optimizer comparison
# on the GPU, cached beside the CPU's. Writes its logs and caches to $OUT (default /tmp/lenet-gpu)
# and copies the caches into book/_data/.
#
#   PY=.venv/bin/python DESCENT_DATA=/path/to/mnist bash scripts/lenet_gpu.sh
#
# PY: a Python with a CUDA build of torch and the course's packages (make venv, then the CUDA
# wheel of the pinned torch); the package itself is taken from src/. DESCENT_DATA: the folder
# of the MNIST IDX files (the comparison of the page uses the same split as the CPU cache's).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-/tmp/lenet-gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; \
print(torch.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv | tee "$OUT/gpu.txt" || true

"$PY" -m pytest -q -p no:cacheprovider tests/test_checks_lenet.py tests/test_demos_lenet.py \
    tests/test_lab_speed.py 2>&1 | tee "$OUT/tests.log"
"$PY" benchmarks/lenet_throughput.py --device cpu,cuda --batch-size 64,1024 --compile --amp \
    --json "$OUT/lenet_throughput.json" 2>&1 | tee "$OUT/throughput.log"
"$PY" scripts/lenet_full.py --device cuda --out "$OUT/lenet_lab_cuda.json" 2>&1 \
    | tee "$OUT/lab_full.log"
cp "$OUT/lenet_throughput.json" "$OUT/lenet_lab_cuda.json" book/_data/
echo "done: book/_data/lenet_throughput.json and lenet_lab_cuda.json; logs in $OUT"
