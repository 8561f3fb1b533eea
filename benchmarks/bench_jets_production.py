"""Jet production and physics check: jets/s per type, mass peaks, mean multiplicity, IN-row metrics.

Usage: PYTHONPATH=src python benchmarks/bench_jets_production.py --outdir DIR --n-top 2000 --n-other 500
Writes DIR/<type>150.h5 and prints a Markdown fragment for docs/history.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from hepgen.data.jetnet import read_jets
from hepgen.progress import set_quiet
from hepgen.simulate.jets import JetProduction, simulate_jets


def _peaks(mass: np.ndarray, lo: float, hi: float, width: float = 4.0) -> str:
    """Mode of the jet-mass histogram and median (GeV) within [lo, hi], and the fraction there."""
    s = mass[(mass > lo) & (mass < hi)]
    edges = np.arange(lo, hi + width, width)
    h, _ = np.histogram(s, edges)
    return f"mode {edges[np.argmax(h)] + width / 2:.0f}, median {np.median(s):.1f} ({100 * len(s) / len(mass):.0f} %)"


WINDOWS = {"t": (140, 210), "w": (60, 110), "z": (70, 120), "q": (0, 250), "g": (0, 250)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", type=Path, required=True)
    ap.add_argument("--n-top", type=int, default=2000)
    ap.add_argument("--n-other", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--types", default="twzqg")
    ap.add_argument("--mpi", action="store_true", help="multi-parton interactions on (default: the recipe's)")
    ap.add_argument("--recipe", default="jetnet", help="jet recipe: jetnet (default) or hepgen")
    args = ap.parse_args()
    set_quiet(True)
    args.outdir.mkdir(parents=True, exist_ok=True)
    print(f"load before: {os.getloadavg()}")
    for t in args.types:
        n = args.n_top if t == "t" else args.n_other
        out = args.outdir / f"{t}150.h5"
        t0 = time.time()
        if not out.exists():
            simulate_jets(JetProduction(t, n, 150, seed=1, chunk_size=250, mpi=True if args.mpi else None,
                                        recipe=args.recipe), out, workers=args.workers)
        dt = time.time() - t0
        j = read_jets(out)
        m = j.jets[:, 2]
        line = (f"| {t} | {len(j)} | {len(j) / dt:.1f} | {j.n_particles.mean():.1f} | "
                f"{(np.minimum(j.n_particles, 30)).mean():.1f} | {np.median(j.jets[:, 0]):.0f} | "
                f"{_peaks(m, *WINDOWS[t])} |")
        if t == "t":
            line += f" W window 60-110: {_peaks(m, 60, 110)} |"
        print(line, f"load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
