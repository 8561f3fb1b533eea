"""Benchmark the voxel shower models: same CPU training budget for each, fidelity, sampling speed.

Full run (issue 5; hours on 2 cores, not run yet):

    python benchmarks/bench_models.py --geometry calochallenge-2 --n-train 50000 --n-reference 50000 \
        --train-time 60m --threads 2 --out bench-models

Smoke run (minutes):

    python benchmarks/bench_models.py --smoke --out bench-smoke

Reference showers come from ``--data FILE`` or from hepgen's GFlash simulator (electrons,
log-uniform 1 GeV - 1 TeV) when ``hepgen.simulate`` is installed; otherwise a synthetic toy sample
is used and the output says so. Fidelity uses ``hepgen.evaluate.evaluate_samples`` (classifier
AUCs, FPD/KPD, separation powers) when present, else the separation power of E_vis/E_inc and
n_hits. Prints a Markdown table and writes ``results.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np


def reference_sample(args):
    from hepgen.data import ShowerData, read_showers
    from hepgen.units import parse_energy

    n = args.n_train + args.n_reference
    if args.data:
        return read_showers(args.data, stop=n), f"file {args.data}"
    energies = parse_energy("log-uniform:1GeV:1TeV").sample(n, seed=args.seed)
    try:
        from hepgen.simulate import simulate_showers
    except ImportError:
        from hepgen.geometry import get_geometry

        geo = get_geometry(args.geometry)
        rng = np.random.default_rng(args.seed)
        layer = geo.layer_of_voxel
        depth = np.exp(-0.5 * ((layer - 0.3 * geo.n_layers) / (0.15 * geo.n_layers)) ** 2)
        energy = rng.gamma(0.3, 1.0, (n, geo.n_voxels)) * depth * (rng.random((n, geo.n_voxels)) < 0.3)
        energy *= (0.5 * energies / np.maximum(energy.sum(1), 1e-9))[:, None]
        return ShowerData(energies, energy, geo), "synthetic toy (hepgen.simulate not installed)"
    t0 = time.perf_counter()
    showers = simulate_showers(args.geometry, energies, "electron", seed=args.seed)
    args.gflash_ms = 1e3 * (time.perf_counter() - t0) / n
    return showers, "GFlash electrons, log-uniform 1 GeV-1 TeV"


def fidelity(reference, generated) -> dict[str, float]:
    try:
        from hepgen.evaluate import evaluate_samples
    except ImportError:
        from hepgen.training.loop import fallback_metrics

        return fallback_metrics(reference, generated)
    result = evaluate_samples(reference, generated, classifier=True, seed=0)
    flat: dict[str, float] = {}

    def walk(prefix, obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(obj, (int, float)) and any(t in prefix.lower() for t in ("auc", "fpd", "kpd", "sep")):
            flat[prefix] = float(obj)

    walk("", result)
    return flat


def time_sampling(gen, batch: int, repeats: int, seed: int = 0) -> float:
    """Milliseconds per shower at one batch size (model + inverse preprocessing, no disk)."""
    e = np.exp(np.random.default_rng(seed).uniform(np.log(1e3), np.log(1e6), batch))
    gen.sample(e[: min(batch, 10)], batch_size=batch, seed=seed)          # warm-up
    t0 = time.perf_counter()
    for i in range(repeats):
        gen.sample(e, batch_size=batch, seed=seed + i)
    return 1e3 * (time.perf_counter() - t0) / (repeats * batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="wgan,bibae")
    ap.add_argument("--geometry", default="calochallenge-2")
    ap.add_argument("--data", default=None)
    ap.add_argument("--n-train", type=int, default=50000)
    ap.add_argument("--n-reference", type=int, default=50000)
    ap.add_argument("--train-time", default="60m")
    ap.add_argument("--batches", default="1,100,10000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default=None, help="YAML/JSON with per-model config dicts {model: config}")
    ap.add_argument("--smoke", action="store_true", help="500 train / 500 reference showers, 60 s per model, "
                    "batches 1,100,1000")
    ap.add_argument("--out", default="bench-models")
    args = ap.parse_args()
    if args.smoke:
        args.n_train, args.n_reference, args.train_time, args.batches = 500, 500, "60s", "1,100,1000"
    import torch

    from hepgen.evaluate import quick_metrics
    from hepgen.progress import set_quiet
    from hepgen.training import load_generator, train

    torch.set_num_threads(args.threads)
    set_quiet(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args.gflash_ms = None
    showers, source = reference_sample(args)
    train_set, reference = showers[: args.n_train], showers[args.n_train:]
    configs = json.loads(Path(args.config).read_text()) if args.config else {}
    results = {"source": source, "geometry": args.geometry, "n_train": len(train_set), "n_reference": len(reference),
               "train_time": args.train_time, "threads": args.threads, "gflash_ms_per_shower": args.gflash_ms,
               "cpu": platform.processor(), "models": {}}
    for name in args.models.split(","):
        cfg = configs.get(name, {"training": {"batch_size": 64, "max_epochs": 100000, "val_max": 500}})
        t0 = time.perf_counter()
        run = train(name, train_set, out / f"run-{name}", cfg, max_time=args.train_time, seed=args.seed,
                    validation=quick_metrics)
        train_s = time.perf_counter() - t0
        gen = load_generator(run)
        state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
        generated = gen.sample(reference.incident_energy, batch_size=1000, seed=1)
        timing = {}
        for b in (int(v) for v in args.batches.split(",")):
            timing[b] = time_sampling(gen, b, repeats=max(1, min(20, 2000 // b)))
        results["models"][name] = {
            "parameters": gen.model.n_parameters(), "train_s": round(train_s, 1), "epochs": int(state["epoch"]),
            "generator_steps": int(state["state_dict"]["model.generator_steps"]), "ms_per_shower": timing,
            "fidelity": fidelity(reference, generated),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        print(json.dumps({name: results["models"][name]}, indent=1), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nsource: {source}; {len(train_set)} train / {len(reference)} reference; "
          f"budget {args.train_time} per model")
    print("| model | parameters | epochs | generator steps | "
          + " | ".join(f"ms/shower @{b}" for b in args.batches.split(","))
          + " | fidelity |")
    print("|---" * (5 + len(args.batches.split(","))) + "|")
    for name, r in results["models"].items():
        fid = ", ".join(f"{k} {v:.3g}" for k, v in sorted(r["fidelity"].items())[:6])
        print(f"| {name} | {r['parameters']} | {r['epochs']} | {r['generator_steps']} | "
              + " | ".join(f"{v:.3g}" for v in r["ms_per_shower"].values()) + f" | {fid} |")
    if args.gflash_ms is not None:
        print(f"GFlash: {args.gflash_ms:.3g} ms per shower")


if __name__ == "__main__":
    main()
