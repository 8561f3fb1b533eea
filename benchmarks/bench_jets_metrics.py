"""JetNet metrics on Pythia jets: the IN row (two independent halves), a deliberately distorted sample,
EFP speed (batched vs energyflow's batch_compute) and cross-checks against direct scipy/numpy formulas.

Usage: PYTHONPATH=src python benchmarks/bench_jets_metrics.py FILE.h5 [--n-eval N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from hepgen.data import JetData
from hepgen.data.jetnet import read_jets
from hepgen.evaluate import jets as M


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--efp-timing-jets", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    j = read_jets(args.file)
    half = len(j) // 2
    a, b = j[:half], j[half:2 * half]
    print(f"{len(j)} jets of {j.n_max} slots; load {os.getloadavg()[0]:.2f}")

    M.efp_graphs()
    k = min(args.efp_timing_jets, len(j))
    t0 = time.time()
    e1 = M.efps(j[:k])
    t1 = time.time()
    e2 = M.efps(j[:k], backend="energyflow")
    t2 = time.time()
    print(f"EFPs (36, d<=4): batched {1e3 * (t1 - t0) / k:.2f} ms/jet, energyflow {1e3 * (t2 - t1) / k:.2f} ms/jet, "
          f"max rel diff {np.max(np.abs(e1 - e2) / np.maximum(np.abs(e2), 1e-300)):.1e}; load {os.getloadavg()[0]:.2f}")

    # direct cross-checks of the resampled metrics with one batch of all jets, no resampling
    from scipy.stats import wasserstein_distance
    ma, mb = M.relative_mass(a), M.relative_mass(b)
    print(f"W1M direct scipy (all jets) x1e3: {1e3 * wasserstein_distance(ma, mb):.3f}")

    # distorted sample: pt_rel smeared by 10 % (renormalised), to show the metrics respond
    rng = np.random.default_rng(0)
    p = b.particles.copy()
    p[..., 2] *= np.exp(rng.normal(0, 0.1, p[..., 2].shape)) * p[..., 3]
    p[..., 2] /= p[..., 2].sum(1, keepdims=True)
    order = np.argsort(-p[..., 2], axis=1)
    p = np.take_along_axis(p, order[..., None], 1)
    smeared = JetData(p, jet_type=j.jet_type)

    n = half
    t0 = time.time()
    rows = M.evaluate_jets(a, {"pt-smeared 10 %": smeared}, b, num_eval_samples=n, num_batches=5,
                           fpd_min_samples=max(n // 2, 2), fpd_max_samples=n, kpd_batch_size=min(n, 5000))
    print(f"evaluate: {time.time() - t0:.1f} s for N = {n} per sample; load {os.getloadavg()[0]:.2f}")
    print(M.format_table(rows))


if __name__ == "__main__":
    main()
