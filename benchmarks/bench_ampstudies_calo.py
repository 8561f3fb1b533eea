"""Calomplification (seed 002) on a shared CPU: simulate, train the VAE-GAN, generate, measure.

    PYTHONPATH=src python benchmarks/bench_ampstudies_calo.py --workdir calo --n-ref 20000 --n-pool 5000 \
        --train-time 6m --n-generated 100000 --out calo_amp
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hepgen.amplify.calomplification import (OBSERVABLE_SETS, calomplification_study, generate_images,
                                             simulate_images, train_vaegan)
from hepgen.amplify.study import write_study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="calo")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-ref", type=int, default=20000)
    ap.add_argument("--n-pool", type=int, default=5000)
    ap.add_argument("--sizes", default="1000,2000,5000")
    ap.add_argument("--train-time", default="6m")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--n-generated", type=int, default=100000)
    ap.add_argument("--hist-splits", type=int, default=100)
    ap.add_argument("--out", default="calo_amp")
    a = ap.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    times = {}
    t = time.time()
    f_train, f_ref = work / "train.npy", work / f"ref_{a.n_ref}.npy"
    if not f_train.exists():
        np.save(f_train, simulate_images(a.n_train, seed=101, threshold_mev=0.0))
    if not f_ref.exists():
        np.save(f_ref, simulate_images(a.n_ref, seed=202, threshold_mev=0.0))
    times["simulate_s"] = time.time() - t
    train, ref = np.load(f_train), np.load(f_ref)
    t = time.time()
    cfg = {"params": {"lr": a.lr, "width": a.width}, "training": {"batch_size": 50, "max_epochs": 100000,
                                                                   "num_threads": 1, "val_fraction": 0.0}}
    run = train_vaegan(train, work / "vaegan_run", cfg, max_time=a.train_time, seed=0)
    times["train_s"] = time.time() - t
    t = time.time()
    gen = generate_images(run, a.n_generated, seed=1, batch_size=5000)
    times["generate_s"] = time.time() - t
    t = time.time()
    sizes = [int(s) for s in a.sizes.split(",")]
    res = calomplification_study([train], [gen], ref, a.n_pool, OBSERVABLE_SETS, sizes=sizes, replicates=3,
                                 hist_splits=a.hist_splits, n_baseline_samples=a.n_generated)
    times["study_s"] = time.time() - t
    res["settings"] = {**vars(a), "times": times,
                       "epochs": sum(1 for _ in open(Path(run) / "logs" / "metrics.jsonl"))}
    write_study(res, a.out, overwrite=True)
    print(json.dumps(res["settings"], indent=1))


if __name__ == "__main__":
    main()
