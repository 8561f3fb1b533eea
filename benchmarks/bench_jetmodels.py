"""Jets under a wall-clock budget: every jet model trained for the same time on the same Pythia jets and scored
with the JetNet metrics in the layout of B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis,
U. Hamburg / DESY (2024), Table 5.5 (GitHub issue "Jets that pass the JetNet metrics", part 2).

The command (the lead's benchmark; alone on the machine, 30 minutes per model)::

    PYTHONPATH=src python benchmarks/bench_jetmodels.py --workdir WORK --jet-type t --n-max 30 \
        --models all --budget 30m --threads 2

Data: Pythia 8 + FastJet jets of ``--jet-type`` (t, g, q, w, z) made with hepgen's JetNet recipe
(docs/jet_recipe.md; R. Kansal et al., "Particle Cloud Generation with Message Passing Generative Adversarial
Networks", arXiv:2106.11535) in 150 particle slots: ``--n-train`` training jets (seed 1) and ``--n-test`` test jets
(seed 2), made once into ``WORK/data/`` and shared by every layout; ``--n-max 30`` keeps each jet's 30 hardest
particles (JetNet30), ``--n-max 150`` all (JetNet150). The test jets are split in halves: the ``IN`` row compares
the two halves, every model generates as many jets as one half and is scored against the first, so every row
sees the same N.

Per model (``--models``: registered jet models, ``all`` = every registered jet model, MDMA-Flow at its ``cpu`` size
(``mdma-flow@cpu``: its defaults are the thesis's GPU setting), plus NF(cc) (``jet-flow@nf-cc``); ``name@preset``
trains with one of the model's presets, ``name@config.yaml`` with a file):

1. train for ``--budget`` of wall clock (a total over all resumes) with ``--threads`` torch threads; each epoch is
   validated by W1M on held-out training jets and the best epoch generates (the thesis's epoch selection); the
   1-minute load average is recorded at the start and end of every training session (a row trained at load > 3
   does not count);
2. generate one test half's worth of jets at batch 1000 and time it (µs per jet);
3. score W1M, W1P (per feature and combined), W1EFP, KPD and FPD against the first test half.

Everything goes to ``WORK/<type><n-max>/`` (one folder per model: run, generated.h5, record.json). Rerunning the
same command resumes: an unfinished training continues from its last checkpoint and finished steps are skipped.
``jets.json`` and ``jets.md`` there (written atomically after each model) hold every model with a record in that
folder, also those of earlier or parallel invocations: two invocations with ``--threads 1`` and different
``--models`` may run side by side (make the data first with ``--models ''``). Nothing is fetched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fidelity import (  # noqa: E402  (sibling benchmark: one copy of the budgeted training)
    check_models,
    note_training,
    open_record,
    parse_models,
    read_json,
    refuse,
    run_script,
    train_model,
    write_json_atomic,
)

SEEDS = {"train": 1, "test": 2}
GENERATION_BATCH = 1000
FEATURES = ("eta_rel", "phi_rel", "pt_rel")
#: sizes that ``--models all`` uses instead of a model's defaults (MDMA-Flow's and TNF's defaults are the thesis's
#: GPU setting)
CPU_SIZES = {"mdma-flow": "mdma-flow@cpu", "tnf": "tnf@cpu"}


def jet_models() -> list[str]:
    """The entries of ``--models all``: every registered jet model (MDMA-Flow and TNF at their ``cpu`` sizes) and
    NF(cc).

    >>> "mdma-gan" in jet_models() and "jet-flow@nf-cc" in jet_models() and "mdma-flow@cpu" in jet_models()
    True
    """
    from hepgen.models import get_model_class, list_models

    names = [CPU_SIZES.get(n, n) for n in list_models() if get_model_class(n).data_kind == "jets"]
    return names + ["jet-flow@nf-cc"]


def make_jets(path: Path, jet_type: str, n: int, seed: int) -> Path:
    """``n`` Pythia jets of ``jet_type`` in 150 slots (hepgen's JetNet recipe) into ``path``, once (resumable)."""
    from hepgen.progress import status
    from hepgen.simulate.jets import JetProduction, simulate_jets

    if not path.is_file():
        status(f"Pythia: {n} {jet_type} jets, 150 slots, seed {seed} -> {path.name}")
        simulate_jets(JetProduction(jet_type, n, max_particles=150, seed=seed), path, workers=2)
    return path


def layout(source: Path, target: Path, n_max: int) -> Path:
    """``source``'s jets cut to their ``n_max`` hardest particles (JetNet30 from the 150-slot file), written once."""
    import numpy as np

    from hepgen.data import JetData, read_jets, write_jets

    if n_max >= 150:
        return source
    if not target.is_file():
        jets = read_jets(source)
        p = np.array(jets.particles, copy=True)
        order = np.argsort(-p[..., 2] * (p[..., 3] > 0), axis=1, kind="stable")[:, :n_max]
        p = np.take_along_axis(p, order[..., None], axis=1)
        features = np.array(jets.jets, copy=True)      # the jet's pT, eta and mass stay those of the whole jet
        features[:, 3] = p[..., 3].sum(1)              # (as in JetNet30); the count is that of the kept particles
        write_jets(target, JetData(p, features, jets.jet_type), overwrite=True)
    return target


def score(reference: Any, generated: Any) -> dict[str, Any]:
    """The Table 5.5 metrics of ``generated`` against ``reference`` (equal N; resampling sizes set to N)."""
    from hepgen.evaluate.jets import score_jets

    n = min(len(reference), len(generated))
    row = score_jets(reference, generated, num_eval_samples=n, num_batches=5, fpd_min_samples=n // 2,
                     fpd_max_samples=n, kpd_batch_size=n // 2)
    return json.loads(json.dumps(row, default=float))


def run_model(name: str, config: str | None, label: str, base: Path, files: dict[str, Path],
              reference: Any, args: argparse.Namespace, budget_s: float) -> dict[str, Any]:
    """Train (or resume), generate, time and score one model; each step skipped when done. Returns its record."""
    import torch

    from hepgen.data import read_jets, write_jets
    from hepgen.progress import status
    from hepgen.training import load_generator
    from hepgen.training.run import RunDir

    folder, record_path, record = open_record(base, label, name, config, budget_s, args.threads)
    run = folder / "run"
    train_model(name, config, run, files["train"], budget_s, args.threads, 100_000, record, record_path)
    note_training(record, run)
    record["parameters"] = RunDir(run).state().get("n_parameters") if run.is_dir() else None
    write_json_atomic(record_path, record)
    if "error" in record or record["training"].get("status") != "finished":
        return record
    generated = folder / "generated.h5"
    if not generated.is_file() or "us_per_jet" not in record:
        torch.set_num_threads(args.threads)
        status(f"{label}: generating {len(reference)} jets at batch {GENERATION_BATCH}")
        gen = load_generator(run)
        gen.sample(n=min(200, len(reference)), batch_size=GENERATION_BATCH, seed=5)  # warm-up
        load_start = os.getloadavg()[0]
        t0 = time.perf_counter()
        sample = gen.sample(n=len(reference), batch_size=GENERATION_BATCH, seed=7)
        record["us_per_jet"] = 1e6 * (time.perf_counter() - t0) / len(reference)
        record["generation_load"] = [load_start, os.getloadavg()[0]]
        write_jets(generated, sample, overwrite=True)
    if "metrics" not in record:
        status(f"{label}: JetNet metrics against {len(reference)} test jets")
        record["metrics"] = score(reference, read_jets(generated))
    write_json_atomic(record_path, record)
    return record


def _pm(entry: Any) -> str:
    from hepgen.evaluate.jets import _fmt

    return _fmt(float(entry[0]), float(entry[1])) if entry else "-"


def markdown(records: list[dict[str, Any]], in_row: dict[str, Any] | None, head: str) -> str:
    """Table 5.5's layout: W1M, W1P (combined and per feature), W1EFP, KPD, FPD, µs/jet, parameters, training.

    >>> m = {"W1M": [1.0, 0.1], "W1P": [2.0, 0.2], "W1EFP": [3.0, 0.3], "KPD": [0.1, 0.05], "FPD": [5.0, 1.0],
    ...      "details": {"W1P_per_feature": {"eta_rel": [1.0, 0.1], "phi_rel": [2.0, 0.2], "pt_rel": [3.0, 0.3]}}}
    >>> r = {"model": "mdma-gan", "budget_s": 60, "max_load": 1.5, "counts": True, "metrics": m, "us_per_jet": 49.0,
    ...      "parameters": 1000, "training": {"trained_s": 60.0, "epochs": 3, "best_epoch": 2}}
    >>> cells = markdown([r], None, "").splitlines()[-1].split(" | ")[1:]
    >>> cells[:7]
    ['1.00 ± 0.10', '2.0 ± 0.2', '1.00 ± 0.10', '2.0 ± 0.2', '3.0 ± 0.3', '3.0 ± 0.3', '0.10 ± 0.05']
    >>> cells[7:]
    ['5.0 ± 1.0', '49', '1,000', '1 min', '60 (3, best 2)', '1.50 |']
    """
    cols = ["Model", "W1M ×10³", "W1P ×10³", "W1P η ×10³", "W1P φ ×10³", "W1P pT ×10³", "W1EFP ×10⁵",
            "KPD ×10⁴", "FPD ×10⁴", "µs/jet (batch 1000)", "parameters", "budget", "trained s (epochs, best)",
            "load"]
    lines = [head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)] if head else \
        ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    rows = [(r["model"], r) for r in records] + ([("IN", {"metrics": in_row})] if in_row else [])
    for label, r in rows:
        m = r.get("metrics") or {}
        per = (m.get("details") or {}).get("W1P_per_feature") or {}
        tr = r.get("training") or {}
        name = label if r.get("counts", True) else f"{label} (load > 3: does not count)"
        if r.get("error"):
            name += f" (failed: {r['error'][:60]})"
        trained = (f"{tr['trained_s']:.0f} ({tr.get('epochs', '?')}, best {tr.get('best_epoch', '?')})"
                   if tr.get("trained_s") is not None else "-")
        cells = [name, _pm(m.get("W1M")), _pm(m.get("W1P"))] + [_pm(per.get(f)) for f in FEATURES] + [
            _pm(m.get("W1EFP")), _pm(m.get("KPD")), _pm(m.get("FPD")),
            f"{r['us_per_jet']:.0f}" if r.get("us_per_jet") is not None else "-",
            f"{r['parameters']:,}" if r.get("parameters") else "-",
            f"{r['budget_s'] / 60:.0f} min" if r.get("budget_s") else "-", trained,
            f"{r['max_load']:.2f}" if r.get("max_load") is not None else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True, help="work folder: jets, runs, generated files, tables")
    ap.add_argument("--jet-type", default="t", choices=("t", "g", "q", "w", "z"),
                    help="t (top), g (gluon), q, w or z (default: t)")
    ap.add_argument("--n-max", type=int, default=30, choices=(30, 150), help="JetNet30 or JetNet150 (default 30)")
    ap.add_argument("--models", default="all", help="comma list of jet models, name@preset or name@config.yaml; "
                    "'all': every registered jet model and jet-flow@nf-cc; '': only make the data (default: all)")
    ap.add_argument("--n-train", type=int, default=50_000, help="training jets, seed 1 (default 50000)")
    ap.add_argument("--n-test", type=int, default=20_000, help="test jets, seed 2; halves for IN (default 20000)")
    ap.add_argument("--budget", default="30m", help="training wall clock per model, total over resumes (30m)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    return ap


def main(argv: list[str] | None = None) -> None:
    from hepgen.data import read_jets
    from hepgen.progress import status
    from hepgen.training.loop import parse_duration

    args = build_parser().parse_args(argv)
    budget_s = parse_duration(args.budget)
    if not budget_s or budget_s <= 0:
        refuse(f"--budget must be a positive duration, got {args.budget!r}")
    models = parse_models(",".join(jet_models()) if args.models.strip() == "all" else args.models)
    check_models(models, ("jets",), "jets")
    data = args.workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    t = args.jet_type
    raw = {"train": make_jets(data / f"{t}150-train-n{args.n_train}-seed{SEEDS['train']}.h5", t, args.n_train,
                              SEEDS["train"]),
           "test": make_jets(data / f"{t}150-test-n{args.n_test}-seed{SEEDS['test']}.h5", t, args.n_test,
                             SEEDS["test"])}
    files = {k: layout(v, data / v.name.replace("150-", f"{args.n_max}-"), args.n_max) for k, v in raw.items()}
    base = args.workdir / f"{t}{args.n_max}"
    base.mkdir(parents=True, exist_ok=True)
    test = read_jets(files["test"])
    half = len(test) // 2
    reference, second = test[:half], test[half:2 * half]
    in_path = base / "IN.json"
    in_row = read_json(in_path)
    if in_row is None:
        status(f"IN row: {half} vs {half} test jets")
        in_row = score(reference, second)
        write_json_atomic(in_path, in_row)
    for name, config, label in models:
        run_model(name, config, label, base, files, reference, args, budget_s)
        write_tables(base, in_row, args)
    write_tables(base, in_row, args)


def write_tables(base: Path, in_row: dict[str, Any], args: argparse.Namespace) -> None:
    """``jets.json`` and ``jets.md`` in ``base`` from every record there (atomically)."""
    records = [json.loads(p.read_text()) for p in sorted(base.glob("*/record.json"))]
    records = [r for r in records if r.get("metrics") or r.get("error")]
    head = (f"{args.jet_type} jets, JetNet{args.n_max}, {args.n_train} training / {args.n_test} test jets "
            f"({args.n_test // 2} vs {args.n_test // 2} scored); load = the highest 1-minute load average "
            "recorded during training")
    write_json_atomic(base / "jets.json", {"records": records, "IN": in_row})
    tmp = base / "jets.md.tmp"
    tmp.write_text(markdown(records, in_row, head) + "\n")
    os.replace(tmp, base / "jets.md")
    print(markdown(records, in_row, head), flush=True)


if __name__ == "__main__":
    run_script(main)
