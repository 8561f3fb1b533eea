#!/usr/bin/env bash
# GPU check (issue "One contract"): every registered model trains 20 steps on the GPU, samples there, exports to
# ONNX and is timed at batch 100 / 10000 (see benchmarks/gpu_check.py). Needs a CUDA build of torch; runs in
# about 8 minutes on one H100. CI never runs it.
#   bash benchmarks/gpu_check.sh [OUT] [--models a,b]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check}
shift || true
python -c "import hepgen" 2>/dev/null || pip install -q -e ".[jets,onnx,flows]"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA device')"
timeout 480 python benchmarks/gpu_check.py --out "$out" "$@"
