#!/usr/bin/env bash
# The GPU benchmark of issue 23 in one go (not yet timed on a GPU), from the repository root:
#
#   PYTHONPATH=/tmp/site bash benchmarks/gpu_check.sh
#
# 1. The CUDA resume test: a training process killed mid-run resumes to identical results
#    (tests/training/test_resume.py, on the CPU and on CUDA; about a minute).
# 2. benchmarks/gpu_check.py: the eleven models at batch 32 on the paper's split sizes (959
#    training, 2,840 test patches, 245 validation), the splits on the device, bf16 autocast;
#    start-up, 200 steady iterations, validation, checkpoints and the test pass; it/s, the
#    projected 11 x 5000 iterations against the 15-minute target, host and device memory.
# 3. benchmarks/train.py, part (c) on CUDA: the host memory of training with a release of the
#    original's size (3,799 + 245 + 800 patches) and a larger one (target <= 2 GB).
#    Lines are printed (and written) as they come, so a cut-off run still reports.
#
# Needs python3 with torch (CUDA), numpy, h5py, pytest, pydantic and the landslide4sense wheel
# (installed with `pip install --no-deps --target /tmp/site ...`); nothing else: no network,
# no rasterio, geopandas or Prefect. Arguments go to gpu_check.py (a CPU dry run:
# `--device cpu --warmup 2 --steady 3 --patches 8,4,4 --size 64 --batch-size 4`).
# With OUT set, everything printed also goes to $OUT/gpu_check.txt.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-python3}"
log=/dev/null
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; log="$OUT/gpu_check.txt"; fi
export CUBLAS_WORKSPACE_CONFIG=:4096:8  # deterministic cuBLAS for the resume test

echo "CUDA resume test (tests/training/test_resume.py):" | tee "$log"
# -P: the repository's own landslide4sense/ folder must not shadow the installed package.
(cd "$repo" && "$python" -P -m pytest --noconftest -p no:cacheprovider -q -rs \
    tests/training/test_resume.py 2>&1) | tee -a "$log"
resume=${PIPESTATUS[0]}
echo | tee -a "$log"

"$python" "$here/gpu_check.py" "$@" 2>&1 | tee -a "$log"  # figures, as they come
figures=${PIPESTATUS[0]}

"$python" "$here/train.py" --parts c --device cuda --baseline none 2>&1 | tee -a "$log"
memory=${PIPESTATUS[0]}

echo "gpu_check: figures exit $figures, memory exit $memory, resume test exit $resume" \
    | tee -a "$log"
[ "$figures" -eq 0 ] && [ "$memory" -eq 0 ] && [ "$resume" -eq 0 ]
