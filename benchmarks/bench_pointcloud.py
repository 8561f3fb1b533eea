"""Point-cloud shower models on calochallenge-2 GFlash electrons, laid out like Table 6.1 of
B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024).

Simulates training and test showers (log-uniform incident energies), trains each model for a fixed
wall-clock budget with the shared loop, generates the test sample (n_hits drawn from the fitted
n_hits(E_inc) model, not taken from the test set), evaluates with hepgen.evaluate (low-/high-level
classifier AUC) and times generation per shower at fixed incident energies.

    PYTHONPATH=src python benchmarks/bench_pointcloud.py --n-train 4000 --n-test 500 --budget 6m
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--budget", default="6m", help="training wall-clock budget per model")
    ap.add_argument("--models", default="mdma-calo-gan,mdma-calo-flow")
    ap.add_argument("--e-min", type=float, default=1e3, help="MeV")
    ap.add_argument("--e-max", type=float, default=1e5, help="MeV")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--classifier-epochs", type=int, default=30)
    ap.add_argument("--flow-steps", type=int, default=10, help="midpoint steps of MDMA-Flow sampling (Käch 2024: 200)")
    ap.add_argument("--n-timing", type=int, default=20, help="showers per energy for the timing vs E_inc")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from hepgen.evaluate import evaluate_samples, quick_metrics
    from hepgen.progress import set_quiet
    from hepgen.simulate import simulate_showers
    from hepgen.training import load_generator, train

    set_quiet(True)
    work = args.workdir or tempfile.mkdtemp(prefix="bench_pointcloud_")
    rng = np.random.default_rng(0)
    log_lo, log_hi = np.log(args.e_min), np.log(args.e_max)
    t0 = time.perf_counter()
    train_set = simulate_showers("calochallenge-2", np.exp(rng.uniform(log_lo, log_hi, args.n_train)), "electron",
                                 seed=1)
    test_set = simulate_showers("calochallenge-2", np.exp(rng.uniform(log_lo, log_hi, args.n_test)), "electron",
                                seed=2)
    print(f"simulated {args.n_train} + {args.n_test} showers in {time.perf_counter() - t0:.1f} s; "
          f"n_hits train mean {train_set.n_hits().mean():.0f}, max {train_set.n_hits().max()}", flush=True)
    results = {"args": vars(args), "load_start": os.getloadavg(), "models": {}}
    for name in args.models.split(","):
        t0 = time.perf_counter()
        cfg = {"training": {"batch_size": args.batch_size, "max_epochs": 10_000}}
        if "flow" in name:
            cfg["params"] = {"steps": args.flow_steps}
        run = train(name, train_set, os.path.join(work, name), cfg,
                    max_time=args.budget, seed=0, validation=quick_metrics)
        t_train = time.perf_counter() - t0
        epochs = sum(1 for _ in open(os.path.join(run, "logs", "metrics.jsonl")))
        gen = load_generator(run)
        t0 = time.perf_counter()
        sample = gen.sample(test_set.incident_energy, batch_size=200, seed=1)
        ms_per_shower = 1e3 * (time.perf_counter() - t0) / len(test_set)
        per_energy = {}
        for e in (1e3, 1e4, 1e5):
            t0 = time.perf_counter()
            gen.sample(np.full(args.n_timing, e), batch_size=args.n_timing, seed=2)
            per_energy[f"{e / 1e3:g} GeV"] = 1e3 * (time.perf_counter() - t0) / args.n_timing
        ev = evaluate_samples(test_set, sample, classifier=True, seed=0,
                              classifier_options={"n_epochs": args.classifier_epochs})
        cls = ev["classifier"]
        res = {"auc_low": cls["low_level"]["auc"], "auc_high": cls["high_level"]["auc"],
               "ms_per_shower": ms_per_shower, "ms_per_shower_vs_energy": per_energy,
               "n_parameters": gen.model.n_parameters(), "train_s": t_train, "epochs": epochs,
               "n_hit_voxels_gen_mean": float(sample.n_hits().mean()),
               "n_hit_voxels_ref_mean": float(test_set.n_hits().mean()),
               "response_gen": float(np.mean(sample.visible_energy / sample.incident_energy)),
               "response_ref": float(np.mean(test_set.visible_energy / test_set.incident_energy)),
               "load": os.getloadavg()}
        results["models"][name] = res
        print(name, json.dumps(res), flush=True)
    print("\n| Dataset | Model | AUC (low-level) | AUC (high-level) | Time [ms] per shower | #parameters |")
    print("|---|---|---|---|---|---|")
    for name, r in results["models"].items():
        print(f"| calochallenge-2 (GFlash) | {name} | {r['auc_low']:.3f} | {r['auc_high']:.3f} | "
              f"{r['ms_per_shower']:.1f} | {r['n_parameters'] / 1e3:.0f} k |")
    print("\n| Model | " + " | ".join(next(iter(results["models"].values()))["ms_per_shower_vs_energy"]) + " |")
    for name, r in results["models"].items():
        print(f"| {name} | " + " | ".join(f"{v:.1f} ms" for v in r["ms_per_shower_vs_energy"].values()) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
