"""MDMA-GAN generation speed on CPU at the JetNet150 settings of Käch 2024 (Table 5.4), optionally side by side
with the public implementation (github.com/kaechb/MDMA, ``models/model.py``, generator only).

Usage::

    PYTHONPATH=src python benchmarks/bench_jetmodels_speed.py --jets top150.h5 [--public-mdma CHECKOUT] \
        [--threads 2] [--n 2000]

Multiplicities are drawn from the KDE of the given jets' multiplicities (else ~N(60, 15), clipped to
[1, 150]). hepgen is timed as ``MDMAGAN.sample`` (size buckets, noise included) with 16 heads (the thesis's
setting) and with 4 heads (head width 12); the public generator as its ``Gen.forward`` on clouds padded
to 150 with ``avg_n`` = mean multiplicity, the way its sampling code calls it. Weights are random (the
cost does not depend on them). The public code is loaded from the given checkout at run time, with its
plotting-heavy ``utils.helpers`` replaced by a stand-in providing the two layer classes the module imports.
Prints µs per jet (best of ``--repeat``) and the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

from hepgen.models.cardinality import CardinalityKDE
from hepgen.models.mdma_gan import MDMAGAN


def _time(fn, repeat: int) -> float:
    fn()
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def public_generator(checkout: Path, avg_n: float):
    """The public MDMA generator at Table 5.4 / ``hparams/default_jet.yaml`` settings."""
    helpers = types.ModuleType("utils.helpers")

    class WeightNormalizedLinear(torch.nn.Linear):   # stand-in; the generator never calls it
        pass

    helpers.WeightNormalizedLinear = WeightNormalizedLinear
    helpers.MultiheadL2Attention = torch.nn.MultiheadAttention
    sys.modules.setdefault("utils", types.ModuleType("utils"))
    sys.modules["utils.helpers"] = helpers
    namespace: dict = {"__name__": "public_mdma_model"}
    exec(compile((checkout / "models" / "model.py").read_text(), str(checkout / "models" / "model.py"), "exec"),
         namespace)
    gen = namespace["Gen"](n_dim=3, l_dim_gen=16, hidden_gen=48, num_layers_gen=7, heads_gen=16, cond_dim=1,
                           cloudnormgen=False, glu=False).eval()
    gen.avg_n = avg_n
    return gen


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jets", type=Path, default=None)
    ap.add_argument("--public-mdma", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=2000, help="jets per timing")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.jets is not None:
        from hepgen.data import read_jets

        mult = read_jets(args.jets).n_particles
    else:
        mult = np.clip(np.rint(np.random.default_rng(0).normal(60, 15, 10000)), 1, 150)
    n = CardinalityKDE(mult, 150).sample(args.n, seed=1)
    cond = torch.as_tensor(n / 150.0, dtype=torch.float32).unsqueeze(1)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
               platform.processor())
    print(f"nproc {os.cpu_count()}, {cpu}, torch threads {args.threads}, mean n {n.mean():.1f}, "
          f"load {os.getloadavg()}")
    for heads in (16, 4):
        m = MDMAGAN((150, 4), 1, {**MDMAGAN.default_config, "heads_gen": heads}).eval()
        for batch in (100, 1000):
            m.config["bucket"] = batch
            with torch.inference_mode():
                t = _time(lambda: [m.sample(cond[i:i + batch]) for i in range(0, args.n, batch)], args.repeat)
            print(f"hepgen MDMA-GAN heads_gen {heads:2d}, batch {batch:4d}: {1e6 * t / args.n:7.1f} µs/jet "
                  f"({m.n_parameters()} generator parameters)")
    if args.public_mdma is not None:
        gen = public_generator(args.public_mdma, float(mult.mean()))
        used = sum(p.numel() for name, p in gen.named_parameters() if ".cond_cls." not in name)
        for batch in (100, 1000):
            def run():
                for i in range(0, args.n, batch):
                    nb = torch.as_tensor(n[i:i + batch])
                    mask = torch.arange(150).unsqueeze(0) >= nb.unsqueeze(1)      # True = padded
                    z = torch.randn(len(nb), 150, 3)
                    c = (nb.float() / 150).view(-1, 1, 1)
                    gen(z, mask, c)

            with torch.inference_mode():
                t = _time(run, args.repeat)
            print(f"public MDMA Gen (padded to 150), batch {batch:4d}: {1e6 * t / args.n:7.1f} µs/jet "
                  f"({used} parameters used in the forward pass)")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
