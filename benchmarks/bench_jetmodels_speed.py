"""MDMA-GAN generation speed on CPU, side by side with the public implementation of Käch & Melzer-Pellmann,
"Attention to Mean-Fields for Particle Cloud Generation", arXiv:2305.15254 (github.com/kaechb/MDMA,
``models/model.py``, generator only) in one process, with interleaved repetitions.

Usage::

    PYTHONPATH=src python benchmarks/bench_jetmodels_speed.py --public-checkout MDMA-CHECKOUT \
        [--jets top150.h5] [--threads 2] [--batches 100,1000] [--layouts 150,30] [--repeat 7] \
        [--out DIR] [--profile]

What is timed, per layout (n_max 150 = JetNet150, the layout of the public ``hparams/default_jet.yaml``; n_max 30 =
JetNet30 with the same sizes) and batch size B, on ``--n`` jets (at least B) per repetition:

* hepgen: ``MDMAGAN.sample`` on B conditions at a time (the library's generation call: noise, size buckets of
  ``bucket`` = 128 clouds padded to their own largest cloud, output padded to n_max with the mask feature).
* public: what its ``fit/fit.py`` ``test_step`` / ``sampleandscale`` do for jets, without the inverse scaling:
  ``create_mask(n, size=n_part)`` (clouds padded to n_max), noise ``torch.normal``, ``z[mask] = 0``,
  cond = n / mean n, ``Gen.forward``, ``fake[mask] = 0``; ``gen.avg_n`` = mean multiplicity (as ``main.py``).
* public, trimmed (unless ``--no-trimmed``): the same with ``create_mask(n)`` (its default: padded only to the
  batch's largest cloud), to separate the cost of padding from that of the network.

Both under ``torch.inference_mode`` with ``torch.set_num_threads(--threads)``, on the same multiplicities (KDE of
``--jets`` multiplicities, else N(60, 15) rounded and clipped to [1, n_max]; for n_max 30 the same draws clipped to
30). Sizes for both: the public checkout's ``hparams/default_jet.yaml`` (l_dim_gen, hidden_gen, num_layers_gen,
heads_gen, = Käch 2024 Table 5.4), else hepgen's defaults (the same numbers). Weights are random: the cost does not
depend on them. Each repetition times every (layout, batch) cell for both implementations, alternating which goes
first, after one untimed warm-up call each; reported: median (and min) µs per jet, the public / hepgen ratio,
parameter counts and ``/proc/loadavg`` at start and end.

Shim (the public ``utils/helpers.py`` imports plotting packages and a module ``my_cmaps`` that the repository
does not contain, so it cannot be imported): the three definitions ``models/model.py`` needs from it
(``WeightNormalizedLinear``, ``MultiheadL2Attention``, ``create_mask``) are taken from the checkout's
``utils/helpers.py`` source (parsed, executed alone with torch in scope, nothing rewritten) and installed as
module ``utils.helpers``; ``models/model.py`` is then executed unmodified.

``--wait-idle SECONDS`` first waits until the 1-minute load average is at most ``--idle-load`` (1.5); the output
says whether the run started idle. ``--out DIR`` writes ``mdma_speed.json`` and ``mdma_speed.md`` (each
atomically); ``--profile`` adds the top operators of hepgen's sampling at batch 1000 (torch.profiler, first layout).
"""

from __future__ import annotations

import argparse
import ast
import datetime
import functools
import json
import math
import os
import platform
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

from hepgen.data.atomic import atomic_path
from hepgen.models.cardinality import CardinalityKDE
from hepgen.models.mdma_gan import MDMAGAN

HELPER_NAMES = ("WeightNormalizedLinear", "MultiheadL2Attention", "create_mask")


def loadavg() -> str:
    """The first three fields of /proc/loadavg (1, 5, 15 minutes)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def public_helpers(checkout: Path) -> types.ModuleType:
    """Module ``utils.helpers`` holding only the public definitions ``models/model.py`` imports."""
    path = checkout / "utils" / "helpers.py"
    tree = ast.parse(path.read_text(), str(path))
    nodes = [n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name in HELPER_NAMES]
    missing = set(HELPER_NAMES) - {n.name for n in nodes}
    if missing:
        raise SystemExit(f"{path}: definitions {sorted(missing)} not found (expected kaechb/MDMA utils/helpers.py)")
    module = types.ModuleType("utils.helpers")
    module.__dict__.update(torch=torch, nn=torch.nn, F=torch.nn.functional, math=math,
                           Parameter=torch.nn.Parameter, spectral_norm=torch.nn.utils.spectral_norm)
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), module.__dict__)
    return module


def public_sizes(checkout: Path | None) -> dict:
    """Generator sizes from the public ``hparams/default_jet.yaml`` (else Käch 2024 Table 5.4 = hepgen's)."""
    c = MDMAGAN.default_config
    sizes = {"n_dim": 3, "l_dim_gen": c["l_dim_gen"], "hidden_gen": c["hidden_gen"],
             "num_layers_gen": c["num_blocks_gen"], "heads_gen": c["heads_gen"], "cond_dim": 1,
             "cloudnormgen": False, "glu": False, "n_part": 150, "source": "hepgen MDMAGAN.default_config"}
    if checkout is not None:
        import yaml

        hp = yaml.safe_load((checkout / "hparams" / "default_jet.yaml").read_text())
        sizes.update({k: hp[k] for k in sizes if k in hp}, source="public hparams/default_jet.yaml")
    return sizes


def public_generator(checkout: Path, sizes: dict, avg_n: float):
    """(the public ``Gen`` at ``sizes``, in eval mode, and its ``create_mask``)."""
    helpers = public_helpers(checkout)
    sys.modules.setdefault("utils", types.ModuleType("utils"))
    sys.modules["utils.helpers"] = helpers
    path = checkout / "models" / "model.py"
    namespace: dict = {"__name__": "public_mdma_model"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    gen = namespace["Gen"](**{k: v for k, v in sizes.items() if k not in ("n_part", "source")}).eval()
    gen.avg_n = avg_n
    return gen, helpers.create_mask


def public_used_parameters(gen) -> int:
    """Parameters the public generator's forward pass reads (``fc0_cls`` and, without glu, ``cond_cls`` idle)."""
    return sum(p.numel() for name, p in gen.named_parameters() if ".fc0_cls." not in name and ".cond_cls." not in name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--public-checkout", "--public-mdma", dest="public", type=Path, default=None,
                    help="a checkout of github.com/kaechb/MDMA (never downloaded here)")
    ap.add_argument("--jets", type=Path, default=None, help="jets whose multiplicities the KDE is fitted to")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="100,1000", help="comma-separated; 10000 adds ≈ 8 s per repetition")
    ap.add_argument("--layouts", default="150,30", help="n_max values")
    ap.add_argument("--n", type=int, default=2000, help="jets per timing (at least one batch)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None, help="folder for mdma_speed.json / .md")
    ap.add_argument("--profile", action="store_true", help="profile hepgen's sampling at batch 1000")
    ap.add_argument("--no-trimmed", action="store_true",
                    help="skip the public variant padded only to each batch's largest cloud")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="first wait (at most this long) until the 1-minute load average is at most --idle-load")
    ap.add_argument("--idle-load", type=float, default=1.5)
    args = ap.parse_args()
    if args.public is not None and not (args.public / "models" / "model.py").is_file():
        raise SystemExit(f"{args.public}: no models/model.py (expected a checkout of github.com/kaechb/MDMA)")
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    layouts = [int(n) for n in args.layouts.split(",")]
    deadline = time.monotonic() + args.wait_idle
    while float(loadavg().split()[0]) > args.idle_load and time.monotonic() < deadline:
        time.sleep(5)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = loadavg()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
               platform.processor())
    if args.jets is not None:
        from hepgen.data import read_jets

        mult = read_jets(args.jets).n_particles
    else:
        mult = np.clip(np.rint(np.random.default_rng(0).normal(60, 15, 10000)), 1, 150)
    n_jets = max([args.n] + batches)
    n150 = CardinalityKDE(mult, 150).sample(n_jets, seed=1)
    sizes = public_sizes(args.public)
    print(f"start {started}, load {load_start}, nproc {os.cpu_count()}, {cpu}, torch {torch.__version__}, "
          f"threads {args.threads}; sizes from {sizes['source']}", flush=True)

    cells, timers = [], {}
    for n_max in layouts:
        n = np.minimum(n150, n_max).astype(np.int64)
        torch.manual_seed(0)
        cfg = {**MDMAGAN.default_config, "l_dim_gen": sizes["l_dim_gen"], "hidden_gen": sizes["hidden_gen"],
               "num_blocks_gen": sizes["num_layers_gen"], "heads_gen": sizes["heads_gen"]}
        model = MDMAGAN((n_max, 4), 1, cfg).eval()
        cond = torch.as_tensor(n / n_max, dtype=torch.float32).unsqueeze(1)
        info = {"n_max": n_max, "mean_n": float(n.mean()), "hepgen_parameters": model.n_parameters(),
                "hepgen_bucket": int(cfg["bucket"])}
        pub = None
        if args.public is not None:
            pub, create_mask = public_generator(args.public, sizes, float(n.mean()))
            info["public_parameters"] = sum(p.numel() for p in pub.parameters())
            info["public_parameters_used"] = public_used_parameters(pub)
        for batch in batches:
            jets = max(args.n, batch) // batch * batch
            key = (n_max, batch)

            def run_hepgen(model=model, cond=cond, batch=batch, jets=jets):
                for i in range(0, jets, batch):
                    model.sample(cond[i:i + batch])

            timers[key] = {"hepgen": run_hepgen}
            if pub is not None:
                n_t = torch.as_tensor(n)

                def run_public(size, pub=pub, n_t=n_t, batch=batch, jets=jets, create_mask=create_mask,
                               mean_n=float(n.mean())):
                    for i in range(0, jets, batch):
                        mask = create_mask(n_t[i:i + batch], size=size)          # True = padded slot
                        z = torch.normal(torch.zeros(*mask.shape, 3), torch.ones(*mask.shape, 3))
                        z[mask] = 0
                        c = (~mask).sum(1).float().reshape(-1, 1, 1) / mean_n
                        fake = pub(z, mask=mask.clone(), cond=c.clone(), weight=False)
                        fake[mask] = 0

                timers[key]["public"] = functools.partial(run_public, n_max)   # as its test_step: n_part slots
                if not args.no_trimmed:                                          # create_mask's own default
                    timers[key]["public_trimmed"] = functools.partial(run_public, None)
            cells.append({**info, "batch": batch, "jets_per_timing": jets, "seconds": {k: [] for k in timers[key]}})

    with torch.inference_mode():
        for fns in timers.values():                                            # warm-up
            for fn in fns.values():
                fn()
        for rep in range(args.repeat):
            for cell in cells:
                fns = timers[(cell["n_max"], cell["batch"])]
                names = list(fns) if rep % 2 == 0 else list(fns)[::-1]        # alternate who goes first
                for name in names:
                    t0 = time.perf_counter()
                    fns[name]()
                    cell["seconds"][name].append(time.perf_counter() - t0)
            print(f"repetition {rep + 1}/{args.repeat} done, load {loadavg()}", flush=True)

    for cell in cells:
        cell["us_per_jet_median"] = {k: 1e6 * float(np.median(v)) / cell["jets_per_timing"]
                                     for k, v in cell["seconds"].items()}
        cell["us_per_jet_min"] = {k: 1e6 * float(np.min(v)) / cell["jets_per_timing"]
                                  for k, v in cell["seconds"].items()}
        med = cell["us_per_jet_median"]
        for name in ("public", "public_trimmed"):
            if name in med:
                cell[f"{name}_over_hepgen"] = med[name] / med["hepgen"]
    result = {"started": started, "load_start": load_start,
              "idle_at_start": float(load_start.split()[0]) <= args.idle_load, "load_end": loadavg(), "cpu": cpu,
              "nproc": os.cpu_count(), "torch": torch.__version__, "threads": args.threads,
              "repeat": args.repeat, "sizes": sizes, "multiplicities": str(args.jets or "N(60, 15) clipped"),
              "command": " ".join(["python"] + sys.argv), "weights": "random (untrained)", "cells": cells}

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        key = (layouts[0], 1000)
        fn = timers[key]["hepgen"] if key in timers else next(iter(timers.values()))["hepgen"]
        with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:15]
        result["profile_hepgen_batch1000"] = [
            {"op": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1e3} for e in events]
        total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e3
        result["profile_total_self_ms"] = total
        print(f"profile of hepgen sampling, layout {key[0]}, batch 1000 ({total:.1f} ms self CPU in all):")
        for e in result["profile_hepgen_batch1000"]:
            print(f"  {e['op']:<36s} {e['calls']:6d} calls {e['self_ms']:8.2f} ms")

    lines = [f"MDMA-GAN generation, {result['started']}, {cpu}, nproc {result['nproc']}, torch {result['torch']}, "
             f"{args.threads} threads, load average {load_start} at start "
             f"({'idle' if result['idle_at_start'] else 'NOT idle'}: 1-minute load vs {args.idle_load}), "
             f"{result['load_end']} at end; "
             f"median (min) of {args.repeat} interleaved repetitions; random weights.", "",
             "| n_max (mean n) | batch | hepgen µs/jet | public µs/jet (padded to n_max) | public / hepgen "
             "| public µs/jet (trimmed to batch max) | trimmed / hepgen | parameters hepgen / public (used) |",
             "|---|---|---|---|---|---|---|---|"]
    for c in cells:
        med, low = c["us_per_jet_median"], c["us_per_jet_min"]
        cols = []
        for name in ("public", "public_trimmed"):
            cols += ([f"{med[name]:.1f} ({low[name]:.1f})", f"{c[f'{name}_over_hepgen']:.2f}"] if name in med
                     else ["-", "-"])
        params = (f"{c['hepgen_parameters']:,} / {c['public_parameters']:,} ({c['public_parameters_used']:,})"
                  if "public_parameters" in c else f"{c['hepgen_parameters']:,}")
        lines.append(f"| {c['n_max']} ({c['mean_n']:.1f}) | {c['batch']} | {med['hepgen']:.1f} ({low['hepgen']:.1f}) "
                     f"| {' | '.join(cols)} | {params} |")
    lines += ["", f"Command: `{result['command']}`", ""]
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in (("mdma_speed.json", json.dumps(result, indent=1)), ("mdma_speed.md", table)):
            with atomic_path(args.out / name, overwrite=True) as tmp:
                tmp.write_text(text)
        print(f"wrote {args.out / 'mdma_speed.json'} and {args.out / 'mdma_speed.md'}")


if __name__ == "__main__":
    main()
