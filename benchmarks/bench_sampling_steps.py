"""Fidelity against speed of a trained flow-matching run sampled with fewer ODE steps.

Takes one trained run (e.g. the calo-cfm run of ``bench_fidelity.py``: ``WORK/calochallenge-2/calo-cfm/run``) and,
for each ``STEPS,CELL_STEPS`` pair, sets the model's ``steps`` and ``cell_steps`` (midpoint steps of the energy and
ring networks, and of the cell network), times generation at batch 100 (``--repeats`` calls of 100 showers at
log-uniform 1 GeV - 1 TeV, after one warm-up call), generates one shower per reference shower at its incident energy
(seed ``--seed``, the same noise stream for every pair; ``--set KEY=VALUE`` changes other model settings
for every pair, e.g. ``cell_ode_one_hit=true``) and evaluates it against the reference with hepgen's default
classifier (:func:`hepgen.evaluate.evaluation.compare_files`). Record the load beside the figures: a time taken at
load > 3 does not count.

    PYTHONPATH=src python benchmarks/bench_sampling_steps.py --run WORK/calochallenge-2/calo-cfm/run \\
        --reference WORK/calochallenge-2/data/electrons-reference-n10000-seed2.h5 --out OUT --pairs 10,8 6,5 4,4

Writes ``OUT/sampling_steps.json`` (one row per pair: AUCs and errors, E_vis/E_inc separation power, the three
largest separation powers, ms/shower at batch 100 with its spread, the 1-minute load and the time of day) after each
pair, atomically; a pair already in it is skipped on a rerun (a generated file of an unfinished pair is written
again). Bad input (a missing run or file, a run without ``steps`` / ``cell_steps``, a malformed pair): one line on
stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fidelity import run_script  # noqa: E402  (sibling benchmark: one line and exit 2 on bad input)


def parse_pairs(pairs: list[str]) -> list[tuple[int, int]]:
    """``["10,8", "4,4"]`` -> [(10, 8), (4, 4)]; anything else is refused.

    >>> parse_pairs(["10,8", "4,4"])
    [(10, 8), (4, 4)]
    """
    from hepgen.errors import InputError

    out = []
    for pair in pairs:
        parts = pair.split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
            raise InputError(f"--pairs: '{pair}' is not STEPS,CELL_STEPS (two integers >= 1, e.g. 4,4)")
        out.append((int(parts[0]), int(parts[1])))
    return out


def parse_settings(settings: list[str]) -> dict:
    """``["cell_ode_one_hit=true"]`` -> {"cell_ode_one_hit": True} (values read as YAML scalars).

    >>> parse_settings(["cell_ode_one_hit=true", "sample_chunk=128"])
    {'cell_ode_one_hit': True, 'sample_chunk': 128}
    """
    import yaml

    from hepgen.errors import InputError

    out = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set: '{setting}' is not KEY=VALUE (e.g. cell_ode_one_hit=true)")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a trained run directory of a model with steps / cell_steps")
    parser.add_argument("--reference", required=True, help="reference shower file (HDF5)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--pairs", nargs="+", default=["10,8", "6,5", "4,4"], help="STEPS,CELL_STEPS pairs")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="model settings for every pair (e.g. cell_ode_one_hit=true); rows are kept per settings")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls of 100 showers per pair")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import numpy as np
    import torch

    from hepgen.data import read_showers
    from hepgen.data.atomic import atomic_path
    from hepgen.data.hdf5 import write_showers
    from hepgen.errors import InputError
    from hepgen.evaluate.evaluation import compare_files
    from hepgen.timing.benchmark import time_per_item
    from hepgen.training import load_generator

    pairs = parse_pairs(args.pairs)
    settings = parse_settings(args.set)
    tag = "".join(f"_{k}-{v}" for k, v in settings.items())
    torch.set_num_threads(args.threads)
    reference = read_showers(args.reference)
    generator = load_generator(args.run)
    if not {"steps", "cell_steps"} <= set(generator.model.config):
        raise InputError("the run's model has no 'steps' and 'cell_steps' to set (a flow-matching model such as "
                         "calo-cfm)", file=args.run)
    unknown = sorted(set(settings) - set(generator.model.default_config))
    if unknown:
        raise InputError(f"--set: the run's model has no setting {', '.join(unknown)}", file=args.run)
    generator.model.config.update(settings)
    out = Path(args.out)                                 # created once the inputs have been read
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sampling_steps.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    energies_100 = np.exp(np.random.default_rng(0).uniform(np.log(1e3), np.log(1e6), 100))   # MeV
    for steps, cell_steps in pairs:
        if any(r["steps"] == steps and r["cell_steps"] == cell_steps and r.get("settings", {}) == settings
               for r in rows):
            continue
        generator.model.config["steps"], generator.model.config["cell_steps"] = steps, cell_steps
        timed = time_per_item(lambda: generator.sample(energies_100, batch_size=100, seed=1), 100, args.repeats)
        generated = generator.sample(reference.incident_energy, batch_size=1000, seed=args.seed)
        gen_path = out / f"generated_{steps}_{cell_steps}{tag}.h5"
        write_showers(gen_path, generated, overwrite=True)      # this script's own file of an unfinished pair
        result, _, _ = compare_files(args.reference, gen_path, out / f"cache_{steps}_{cell_steps}{tag}", workers=1)
        c = result["classifier"]
        rows.append({"steps": steps, "cell_steps": cell_steps, "settings": settings,
                     "ms_per_shower_100": timed["mean_ms"], "ms_std": timed["std_ms"],
                     "auc_low": c["low_level"]["auc"], "auc_low_error": c["low_level"]["auc_error"],
                     "auc_high": c["high_level"]["auc"], "auc_high_error": c["high_level"]["auc_error"],
                     "E_vis_sep": result["histograms"]["E_vis/E_inc"]["separation_power"],
                     "worst": [(w["name"], round(w["separation_power"], 3))
                               for w in result["worst_separation_powers"][:3]],
                     "load": float(Path("/proc/loadavg").read_text().split()[0]) if Path("/proc/loadavg").exists()
                     else None, "time": time.strftime("%Y-%m-%d %H:%M:%S")})
        with atomic_path(path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(rows, indent=1))
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    run_script(main)
