"""Profile sampling of every registered model on CPU (hepgen's Generator.sample path).

Builds a run directory per model on calochallenge-2 with the models' default sizes (one short
epoch on random showers: weights do not change the cost), then times ``sample`` (model + inverse
preprocessing, no writing) at a few batch sizes, single-threaded, and with torch's profiler lists
the top operators. Used for the before/after table in docs/history.md.

    PYTHONPATH=src python benchmarks/bench_speed_profile.py [--runs DIR] [--n 400] [--models wgan,bibae]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def tiny_run(model: str, folder: Path, geometry: str = "calochallenge-2") -> Path:
    from hepgen.data import ShowerData
    from hepgen.training import train

    run = folder / f"{model}-{geometry}"
    if (run / "checkpoints" / "last.ckpt").is_file():
        return run
    rng = np.random.default_rng(0)
    from hepgen.geometry import get_geometry

    n_vox = get_geometry(geometry).n_voxels
    e = np.exp(rng.uniform(np.log(1e3), np.log(1e6), 16))
    x = (rng.exponential(1, (16, n_vox)) * (rng.random((16, n_vox)) < 0.2) * (0.02 * e[:, None] / n_vox * 5))
    cfg = {"training": {"batch_size": 8, "val_fraction": 0.0}}
    if model == "bibae":
        cfg["params"] = {"pp_start_epoch": 0}
    return train(model, ShowerData(e, x.astype(np.float32), geometry), run, cfg, max_epochs=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default=None)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--models", default=None)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from hepgen.models.registry import list_models
    from hepgen.progress import set_quiet
    from hepgen.training.generate import load_generator

    set_quiet(True)
    folder = Path(args.runs or tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",") if args.models else list_models()
    print(f"# torch threads {torch.get_num_threads()}, n {args.n}")
    print("| model | batch | sample ms/shower | forward-only ms/shower |")
    print("|---|---|---|---|")
    for name in models:
        try:
            run = tiny_run(name, folder)
        except Exception as exc:  # a model that cannot train on voxels (e.g. jets) is skipped
            print(f"| {name} | skipped: {exc} | | |")
            continue
        gen = load_generator(run)
        e = np.exp(np.random.default_rng(1).uniform(np.log(1e3), np.log(1e6), args.n))
        for bs in (100, 400):
            gen.sample(e[:bs], batch_size=bs, seed=0)  # warm-up
            t = time.perf_counter()
            gen.sample(e, batch_size=bs, seed=0)
            ms = (time.perf_counter() - t) * 1e3 / len(e)
            cond = torch.as_tensor(gen.kind.encode_cond(e[:bs]))
            with torch.no_grad():
                gen.model.sample(cond)
                t = time.perf_counter()
                for _ in range(len(e) // bs):
                    gen.model.sample(cond)
            fms = (time.perf_counter() - t) * 1e3 / len(e)
            print(f"| {name} | {bs} | {ms:.3f} | {fms:.3f} |")
            sys.stdout.flush()
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                gen.sample(e[:200], batch_size=200, seed=0)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
