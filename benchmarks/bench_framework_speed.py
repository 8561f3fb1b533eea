"""Speed at the simulation framework's operating point: ms per shower of each exported target graph in ONNX Runtime,
batch 1, one intra-op thread, graph optimisations off (how Par04OnnxInference and DDML's ONNXInference open it),
inputs built as the C++ builds them (hepgen.training.conformance).

Every exportable shower model is trained for one epoch on a small random sample at its DEFAULT sizes (the timing
depends on the network, not on how well it is trained): voxel models on calochallenge-2 for par04-calodit and
ddml-calodit and on calochallenge-3 for par04 (VAE mesh), hit-cloud models on ild-ecal for ddml-caloclouds.

    python benchmarks/bench_framework_speed.py [--out DIR] [--calls N] [--models a,b]

Prints a markdown table (model, target, geometry, parameters, ms/shower median of 3 repeats of N calls).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

VOXEL = {"calochallenge-2": ("par04-calodit", "ddml-calodit"), "calochallenge-3": ("par04",)}
POINTS = {"ild-ecal": ("ddml-caloclouds",)}


def _time(sess, target, inputs, calls: int) -> float:
    from hepgen.training.conformance import run_framework

    for _ in range(3):
        run_framework(sess, target, inputs)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(calls):
            run_framework(sess, target, inputs)
        times.append((time.perf_counter() - t0) / calls * 1e3)
    return float(np.median(times))


def main() -> None:
    import torch

    from conftest import random_showers
    from hepgen.errors import InputError
    from hepgen.models.registry import get_model_class, list_models
    from hepgen.progress import set_quiet
    from hepgen.training import train
    from hepgen.training.conformance import framework_inputs, framework_session
    from hepgen.training.run import load_run_model
    from hepgen.training.targets import export_target, get_target

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--models", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    set_quiet(True)
    out = Path(args.out or tempfile.mkdtemp())
    wanted = [m for m in args.models.split(",") if m]
    rows = []
    for name in list_models():
        if wanted and name not in wanted:
            continue
        cls = get_model_class(name)
        plans = VOXEL if cls.data_kind == "showers" else POINTS if cls.data_kind == "points" else {}
        for geo, targets in plans.items():
            cfg: dict = {"training": {"batch_size": 8}}
            if cls.data_kind == "points":
                cfg["preprocessing"] = [{"name": "hits", "nhits_model": "poly"}]
                data = random_showers(geo, 16, seed=1, occupancy=0.003)
            else:
                data = random_showers(geo, 16, seed=1, occupancy=0.05)
            run = out / f"{name}-{geo}"
            if not run.exists():
                train(name, data, run, cfg, max_epochs=1, seed=1)
            model, _, _ = load_run_model(run)
            n_par = sum(p.numel() for p in model.parameters())
            for tname in targets:
                t = get_target(tname)
                path = out / f"{name}-{geo}-{tname}.onnx"
                try:
                    card = export_target(run, path, tname, overwrite=True)
                except InputError as exc:
                    print(f"{name:18s} {tname:16s} refused: {exc}", flush=True)
                    rows.append((name, tname, geo, n_par, float("nan")))
                    continue
                latent = card["inputs"][0]["shape"][1] - 4 if t.noise == "latent-input" else None
                z = np.random.default_rng(0).standard_normal(latent) if latent else None
                inputs = framework_inputs(t, 5e4, np.pi / 2, 0.0, z)
                ms = _time(framework_session(path), t, inputs, args.calls)
                rows.append((name, tname, geo, n_par, ms))
                print(f"{name:18s} {tname:16s} {geo:16s} {n_par:>9d} {ms:9.2f} ms", flush=True)
    print("\n| model | target | run geometry | parameters | ms / shower (batch 1, 1 thread) |")
    print("|---|---|---|---:|---:|")
    for name, tname, geo, n_par, ms in rows:
        print(f"| {name} | {tname} | {geo} | {n_par:,} | {ms:.2f} |")


if __name__ == "__main__":
    main()
