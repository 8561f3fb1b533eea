"""Short CPU trainings of the jet models on Pythia top jets, scored with the JetNet metrics (B. Käch,
"Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024),
Tables 5.3 / 5.5 layout: W1M, W1P, W1EFP, KPD, FPD, generation time, parameters, plus the IN row).

Usage::

    PYTHONPATH=src python benchmarks/bench_jetmodels.py --jets top150.h5 --n-max 150 --budget 240 \
        --models mdma-gan,mdma-flow,epic-gan --outdir OUT

The file is split (seeded) into training jets and test jets (``--n-test``); the IN row compares the two
halves of the test jets and every model row uses the first half as reference, so all rows see equal N.
``--n-max 30`` keeps the 30 hardest particles (JetNet30). Each model trains for ``--budget`` seconds of
wall time with the CPU configs below (smaller than the thesis's GPU settings where stated), then generates
as many jets as the test set; generation time per jet is measured at batch 1000. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

#: CPU configs: the thesis's architecture unless noted (MDMA-Flow and NF shrunk to fit a minutes budget)
CONFIGS = {
    "mdma-gan": {"params": {}, "training": {"batch_size": 128}},
    "epic-gan": {"params": {}, "training": {"batch_size": 128}},
    "mdma-flow": {"params": {"l_dim": 32, "hidden": 64, "heads": 4, "num_blocks": 4, "steps": 20},
                  "training": {"batch_size": 128}},
    "tgan": {"params": {}, "training": {"batch_size": 128}},
    "jet-flow": {"params": {"transforms": 6, "hidden": [128, 128]}, "training": {"batch_size": 256}},
}


def main() -> None:
    import torch

    from hepgen.data import JetData, read_jets, write_jets
    from hepgen.evaluate.jets import evaluate_jets, format_table
    from hepgen.progress import set_quiet
    from hepgen.training import load_generator, train
    from hepgen.training.run import RunDir

    ap = argparse.ArgumentParser()
    ap.add_argument("--jets", type=Path, required=True)
    ap.add_argument("--n-max", type=int, default=150)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--budget", type=float, default=240.0, help="training seconds per model")
    ap.add_argument("--models", default="mdma-gan,mdma-flow,epic-gan")
    ap.add_argument("--outdir", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    set_quiet(True)
    torch.set_num_threads(args.threads)
    jets = read_jets(args.jets)
    p = jets.particles[:, : args.n_max]
    keep = p[..., 3].sum(1) > 0
    jets = JetData(p[keep], jet_type=jets.jet_type)
    order = np.random.default_rng(0).permutation(len(jets))
    test, training = jets[np.sort(order[: args.n_test])], jets[np.sort(order[args.n_test:])]
    args.outdir.mkdir(parents=True, exist_ok=True)
    print(f"{len(training)} training / {len(test)} test jets, n_max {args.n_max}, "
          f"mean n {training.n_particles.mean():.1f}; "
          f"load {os.getloadavg()}")
    gens, extra = {}, {}
    for name in args.models.split(","):
        cfg = {k: dict(v) for k, v in CONFIGS[name].items()}
        cfg["training"].update(num_threads=args.threads, val_fraction=0.0, max_epochs=100_000)
        run_dir = args.outdir / f"{name}-{args.n_max}"
        t0 = time.time()
        train(name, training, run_dir, cfg, max_time=args.budget, seed=1)
        state = RunDir(run_dir).state()
        steps = sum(1 for _ in open(RunDir(run_dir).metrics))
        gen = load_generator(run_dir)
        gen.sample(n=min(200, len(test)), batch_size=1000, seed=5)
        t1 = time.perf_counter()
        sample = gen.sample(n=len(test), batch_size=1000, seed=7)
        per_jet = 1e6 * (time.perf_counter() - t1) / len(test)
        write_jets(args.outdir / f"{name}-{args.n_max}.h5", sample, overwrite=True)
        gens[name] = sample
        extra[name] = (per_jet, state.get("n_parameters"), time.time() - t0, steps)
        print(f"{name}: trained {args.budget:.0f} s ({steps} epochs), generation {per_jet:.0f} µs/jet, "
              f"{state.get('n_parameters')} parameters; load {os.getloadavg()[0]:.1f}", flush=True)
    n = len(test) // 2
    rows = evaluate_jets(test, gens, num_eval_samples=n, num_batches=5, fpd_min_samples=n // 2,
                         fpd_max_samples=n, kpd_batch_size=n // 2)
    table = format_table(rows).splitlines()
    table[0] += " Time [µs] | #params |"
    table[1] += "---|---|"
    for i, model in enumerate(rows, start=2):
        t, params = (extra[model][0], extra[model][1]) if model in extra else (None, None)
        table[i] += f" {t:.0f} | {params} |" if t is not None else " - | - |"
    print("\n".join(table))
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
