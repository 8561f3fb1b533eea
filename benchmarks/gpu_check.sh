#!/usr/bin/env bash
# GPU check. Two parts, each one call of under 10 minutes on one H100 (CI never runs either):
#   bash benchmarks/gpu_check.sh [OUT] [--models a,b]   every registered model trains 20 steps on the GPU, samples
#                                                       there, exports to ONNX and is timed at batch 100 / 10000
#                                                       (issue "One contract"; benchmarks/gpu_check.py)
#   bash benchmarks/gpu_check.sh [OUT] --fidelity       the default model (calo-cfm) trained 8 minutes on the GPU on
#                                                       20k GFlash calochallenge-2 electrons, judged against 5k
#                                                       (AUCs, separation powers) and timed on the GPU at batch
#                                                       1 / 100 / 10000 (issue "Showers that pass the classifier";
#                                                       benchmarks/bench_fidelity.py). It resumes: if the call
#                                                       ends early, the same command continues.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check}
shift || true
python -c "import hepgen" 2>/dev/null || pip install -q -e ".[jets,onnx,flows]"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA device')"
if [ "${1:-}" = "--fidelity" ]; then
  timeout 570 python benchmarks/bench_fidelity.py --workdir "$out/fidelity" --models calo-cfm --budget 8m \
    --threads "$(nproc)" --n-train 20000 --n-reference 5000 --device cuda --no-official-classifier
else
  timeout 480 python benchmarks/gpu_check.py --out "$out" "$@"
fi
