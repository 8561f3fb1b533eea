"""Sampling time of one trained run under several model settings, timed side by side (interleaved rounds).

Takes a trained run (e.g. ``WORK/calochallenge-3/calo-cfm/run`` of ``bench_fidelity.py``) and named variants, each
a set of model settings (``NAME:KEY=VALUE,KEY=VALUE``, values read as YAML scalars), and times generation at
batch 100 (100 showers at log-uniform 1 GeV - 1 TeV, ``--threads`` threads, one warm-up call per variant) in
``--rounds`` rounds, each round every variant once (``--repeats`` calls each): a slower moment of the machine
falls on every variant alike. Fidelity of the same variants: ``bench_sampling_steps.py --set``. Record the load
beside the figures: a time taken at load > 3 does not count.

    PYTHONPATH=src python benchmarks/bench_sampling_rules.py --run WORK/calochallenge-3/calo-cfm/run --out OUT \\
        --variants "4+4:cell_steps=4,cell_ode_one_hit=true" "4+2:cell_steps=2,cell_ode_one_hit=false"

Writes ``OUT/sampling_rules.json`` (per variant: the settings, the ms/shower of every round, their median, and
the 1-minute load before and after), atomically. Bad input (a missing run, a malformed variant, a setting the
model does not have): one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fidelity import run_script  # noqa: E402  (sibling benchmark: one line and exit 2 on bad input)
from bench_sampling_steps import parse_settings  # noqa: E402


def parse_variants(variants: list[str]) -> dict[str, dict]:
    """``["a:cell_steps=2,cell_ode_one_hit=false"]`` -> {"a": {"cell_steps": 2, "cell_ode_one_hit": False}}.

    >>> parse_variants(["4+2:cell_steps=2,cell_ode_one_hit=false", "as-trained:"])
    {'4+2': {'cell_steps': 2, 'cell_ode_one_hit': False}, 'as-trained': {}}
    """
    from hepgen.errors import InputError

    out = {}
    for variant in variants:
        name, sep, settings = variant.partition(":")
        if not sep or not name.strip() or name.strip() in out:
            raise InputError(f"--variants: '{variant}' is not a new NAME:KEY=VALUE,... (e.g. 4+2:cell_steps=2)")
        out[name.strip()] = parse_settings([s for s in settings.split(",") if s.strip()])
    return out


def load_1min() -> float | None:
    """The 1-minute load average, or None where /proc/loadavg is missing."""
    path = Path("/proc/loadavg")
    return float(path.read_text().split()[0]) if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a trained run directory")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--variants", nargs="+", required=True, metavar="NAME:KEY=VALUE,...")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of 100 showers per variant and round")
    args = parser.parse_args()

    import numpy as np
    import torch

    from hepgen.data.atomic import atomic_path
    from hepgen.errors import InputError
    from hepgen.timing.benchmark import time_per_item
    from hepgen.training import load_generator

    variants = parse_variants(args.variants)
    torch.set_num_threads(args.threads)
    generator = load_generator(args.run)
    config = generator.model.config
    unknown = sorted({k for s in variants.values() for k in s} - set(generator.model.default_config))
    if unknown:
        raise InputError(f"--variants: the run's model has no setting {', '.join(unknown)}", file=args.run)
    as_trained = dict(config)
    energies = np.exp(np.random.default_rng(0).uniform(np.log(1e3), np.log(1e6), 100))   # MeV
    rows = {name: {"settings": s, "ms_per_shower_100": []} for name, s in variants.items()}
    load_before = load_1min()
    for _ in range(args.rounds):
        for name, settings in variants.items():
            config.clear()
            config.update({**as_trained, **settings})
            timed = time_per_item(lambda: generator.sample(energies, batch_size=100, seed=1), 100, args.repeats)
            rows[name]["ms_per_shower_100"].append(round(timed["mean_ms"], 3))
    for row in rows.values():
        row["median_ms"] = statistics.median(row["ms_per_shower_100"])
    result = {"run": str(args.run), "threads": args.threads, "rounds": args.rounds, "repeats": args.repeats,
              "load_before": load_before, "load_after": load_1min(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
              "variants": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "sampling_rules.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    for name, row in rows.items():
        print(f"{name}: {row['median_ms']:.2f} ms/shower (rounds {row['ms_per_shower_100']})")


if __name__ == "__main__":
    run_script(main)
