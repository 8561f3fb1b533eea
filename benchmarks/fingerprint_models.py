"""Behaviour fingerprint of every registered model: proof that a refactoring changed no number.

For each model of ``list_models()`` the script trains the tiny one-epoch run of
``bench_all_models.tiny_run`` (fixed seeds, one thread), then samples with a fixed seed through the
run's generator and prints one line per model: the parameter count, a digest of the trained weights and
a digest plus the mean and maximum of the generated sample (MeV for showers, JetNet features for jets,
data units for arrays). Two runs of the same code give identical lines; a run before and after a
refactoring must too (or the difference has to be explained).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/fingerprint_models.py --out FOLDER [--models a,b] > before.txt
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float32)).tobytes())
    return h.hexdigest()[:16]


def fingerprint(model: str, runs: Path) -> str:
    """One line: parameters, weight digest, sample digest, sample mean and maximum."""
    import torch

    from bench_all_models import tiny_run
    from hepgen.training import load_generator
    from hepgen.training.run import load_run_model

    torch.manual_seed(0)
    run = tiny_run(model, runs)
    net, _, _ = load_run_model(run)
    weights = _digest(*[p.detach().cpu().numpy() for p in net.state_dict().values() if p.is_floating_point()])
    n_par = sum(p.numel() for p in net.parameters() if p.requires_grad)
    gen = load_generator(run)
    kind = gen.kind.kind
    if kind in ("showers", "points"):
        e = np.geomspace(1e3, 1e6, 32)
        out = gen.sample(e, batch_size=16, seed=7).energy
    elif kind == "jets":
        jets = gen.sample(n=32, batch_size=16, seed=7)
        out = np.concatenate([jets.particles.reshape(-1), jets.jets.reshape(-1)])
    else:
        out = gen.sample(n=32, batch_size=16, seed=7)
    out = np.asarray(out, dtype=np.float64)
    return (f"{model:16s} params={n_par:9d} weights={weights} sample={_digest(out)} "
            f"mean={out.mean():.6e} max={out.max():.6e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for the tiny runs (reused when present)")
    ap.add_argument("--models", default=None, help="comma list (default: every registered model)")
    args = ap.parse_args()
    import torch

    from hepgen.models.registry import list_models

    torch.set_num_threads(1)
    names = args.models.split(",") if args.models else list_models()
    for name in names:
        print(fingerprint(name, Path(args.out)), flush=True)


if __name__ == "__main__":
    main()
