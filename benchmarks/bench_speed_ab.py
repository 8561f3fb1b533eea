"""Before/after of the sampling path, measured interleaved in one process (robust to a loaded machine).

Variants on each registered model's run (built as in bench_speed_profile.py, calochallenge-2,
default model sizes), single-threaded, median over rounds of ms per shower:

* ``before``: ``torch.no_grad`` + network + inverse preprocessing in float64 NumPy (the sampling
  code before the speed work);
* ``after``: ``torch.inference_mode`` + inverse preprocessing fused in float32 torch (now in
  ``Generator.sample``);
* ``after+channels_last``: the same with the network's weights in channels-last-3d memory format;
* ``after@B``: the after path at other batch sizes B (cache effects: the throughput-optimal batch).

    PYTHONPATH=src python benchmarks/bench_speed_ab.py [--runs DIR] [--rounds 5] [--models wgan,bibae]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_speed_profile import tiny_run
from hepgen.training.kinds import Conditions


def before(gen, e, bs):
    parts = []
    with torch.no_grad():
        for s in range(0, len(e), bs):
            c = Conditions(incident_energy=e[s:s + bs])
            x = gen.model.sample(torch.as_tensor(gen.kind.conditions(c)), None).numpy()
            parts.append(gen.kind.decode(x, c))
    return parts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default=None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--models", default=None)
    ap.add_argument("--batches", default="10,25,50,200", help="other batch sizes of the after path")
    ap.add_argument("--only-batches", action="store_true", help="skip before/channels_last")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from hepgen.models.registry import list_models
    from hepgen.progress import set_quiet
    from hepgen.training.generate import load_generator

    set_quiet(True)
    folder = Path(args.runs or tempfile.mkdtemp())
    models = args.models.split(",") if args.models else list_models()
    print("| model | variant | batch | ms/shower (median) | min |")
    print("|---|---|---|---|---|")
    for name in models:
        try:
            run = tiny_run(name, folder)
        except Exception as exc:
            print(f"| {name} | skipped: {exc} | | | |")
            continue
        gen = load_generator(run)
        cl = load_generator(run)
        cl.model.to(memory_format=torch.channels_last_3d)
        n = 100 if name == "bibae" else 400
        e = np.exp(np.random.default_rng(1).uniform(np.log(1e3), np.log(1e6), n))
        variants = {} if args.only_batches else {
            ("before", 100): lambda: before(gen, e, 100),
            ("after", 100): lambda: gen.sample(e, batch_size=100),
            ("after+channels_last", 100): lambda: cl.sample(e, batch_size=100),
        }
        for b in (int(x) for x in args.batches.split(",")):
            variants[("after", b)] = (lambda b=b: gen.sample(e, batch_size=b))
        times = {k: [] for k in variants}
        for fn in variants.values():
            fn()  # warm-up
        for _ in range(args.rounds):
            for k, fn in variants.items():
                t = time.perf_counter()
                fn()
                times[k].append((time.perf_counter() - t) * 1e3 / n)
        for (v, b), ts in times.items():
            print(f"| {name} | {v} | {b} | {statistics.median(ts):.3f} | {min(ts):.3f} |", flush=True)


if __name__ == "__main__":
    main()
