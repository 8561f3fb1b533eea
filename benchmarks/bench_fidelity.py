"""Fidelity under a wall-clock budget: every shower model trained for the same time on the same GFlash showers,
judged by the same evaluation (GitHub issue "Showers that pass the classifier", part 1).

The command (the lead's benchmark; alone on the machine, 2 threads, 30 minutes per model):

    PYTHONPATH=src python benchmarks/bench_fidelity.py --workdir WORK --models wgan,bibae \\
        --budget 30m --threads 2 --n-train 50000 --n-reference 10000 --geometry calochallenge-2

Data: GFlash electrons (``--particle pion``: pions of hepgen's hadronic model, ``--tune hadronic-a`` or ``hadronic-b``)
on the geometry (default calochallenge-2), incident energies log-uniform 1 GeV - 1 TeV (the CaloChallenge 2022
range, M. Faucci Giannelli, G. Kasieczka, C. Krause, B. Nachman et al., "Fast Calorimeter Simulation Challenge 2022",
arXiv:2410.21611; pions 10 GeV - 1 TeV): ``--n-train`` training showers (seed 1), an independent
``--n-reference`` reference (seed 2) and, once, a second independent sample of the reference's size (seed 3) whose
AUC against the reference is the "indistinguishable" row (the same-distribution AUC at that sample size).

Per model (``--models``: registered names, ``name@config.yaml`` trains with a config file, ``name@preset`` with one of
the model's presets, e.g. ``wgan@pion-small``):

1. train for ``--budget`` of wall clock (a total over all resumes; torch threads ``--threads``), validating with
   ``hepgen.evaluate.quick_metrics`` (the best epoch is kept and generates); the 1-minute load average is recorded
   at the start and end of every training session: a row trained at load > 3 does not count (not alone);
2. generate ``--n-reference`` showers at the reference's incident energies;
3. evaluate against the reference with hepgen's default classifier and with the challenge's official recipe
   (``--no-official-classifier`` skips it: it is slow on a CPU): AUCs, the ten largest separation powers,
   E_vis/E_inc separation power, FPD/KPD; mean E_vis/E_inc per incident-energy decade from the two files;
4. time generation (torch, batch 1/100/10000, ms per shower) and count the parameters.

Everything goes to ``WORK/GEOMETRY/`` (data, one folder per model: run, generated file, reports, timing,
record.json). Rerunning the same command resumes: an unfinished training continues from its last checkpoint
(the budget counts over all sessions), and finished steps (a generated file, a metrics.json, a timing.json) are
skipped. ``OUT/fidelity.json`` (written atomically after each model) and ``OUT/fidelity.md`` hold every model with a
record in the work folder (also those of earlier invocations). Nothing is fetched.

The peer (``--peer NAME=CHECKOUT_PATH``, repeatable): a public CaloChallenge submission trained by its own code from
a checkout the user gives (never copied into hepgen), on the same files with the same budget and threads, and judged
by the same evaluation; its row is in the same table (adapters in ``benchmarks/peers/``, docs/fidelity_peer.md).
``--models ''`` runs the peer alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

ENERGIES = "log-uniform:1GeV:1TeV"
# pions from 10 GeV: below it the hadronic model's calibrated showers fluctuate past the loader's plausibility check
# (E_vis <= 2 E_inc; 1.5 % of the 1-10 GeV pions exceed 1.5 E_inc), and the thesis's pions start at 10 GeV
PION_ENERGIES = "log-uniform:10GeV:1TeV"
DECADES_GEV = ((1.0, 10.0), (10.0, 100.0), (100.0, 1000.0))
BATCH_SIZES = (1, 100, 10000)
LOAD_LIMIT = 3.0
SEEDS = {"train": 1, "reference": 2, "same": 3}


def refuse(message: str) -> NoReturn:
    """Bad input: one line ``error: message`` on stderr and exit code 2 (nothing has been written yet)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_models(models: list[tuple[str, str | None, str]], kinds: tuple[str, ...], what: str) -> None:
    """Refuse (:func:`refuse`) a model that is not registered, whose data kind is not in ``kinds``, or whose
    config is neither a file nor one of its presets."""
    from hepgen.models.registry import get_model_class, list_models
    from hepgen.training.config import config_presets

    for name, config, _ in models:
        if name not in list_models():
            refuse(f"unknown model '{name}': registered models are {', '.join(list_models())}")
        if get_model_class(name).data_kind not in kinds:
            refuse(f"model '{name}' does not generate {what}")
        if config and not Path(config).is_file() and config not in config_presets(name):
            refuse(f"'{config}' of model '{name}' is neither a config file nor one of its presets "
                   f"({', '.join(sorted(config_presets(name))) or 'none'})")


def run_script(main: Any) -> None:
    """Run a benchmark's ``main``; an :class:`~hepgen.errors.InputError` (a bad file) is one line and exit code 2."""
    from hepgen.errors import InputError

    try:
        main()
    except InputError as exc:
        refuse(str(exc))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to a temporary file beside ``path`` and replace ``path`` with it.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "a.json"; write_json_atomic(p, {"x": 1})
    >>> json.loads(p.read_text())
    {'x': 1}
    """
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def parse_models(text: str) -> list[tuple[str, str | None, str]]:
    """``(name, config file or None, label)`` for each entry of a comma list ``name`` / ``name@config.yaml``.

    >>> parse_models("wgan,bibae@cfg/seed-size.yaml")
    [('wgan', None, 'wgan'), ('bibae', 'cfg/seed-size.yaml', 'bibae@seed-size')]
    """
    out = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        name, _, config = item.partition("@")
        out.append((name, config or None, f"{name}@{Path(config).stem}" if config else name))
    return out


def simulate(path: Path, geometry: str, n: int, seed: int, particle: str = "electron",
             tune: str | None = None) -> Path:
    """Reference showers (GFlash electrons, log-uniform 1 GeV - 1 TeV, or pions of the hadronic model with
    ``tune``, 10 GeV - 1 TeV) into ``path`` (reused when finished; a ``.partial`` continues)."""
    from hepgen.progress import status
    from hepgen.simulate import simulate_to_file

    if path.is_file():
        return path
    status(f"simulating {n} {particle} showers on {geometry} (seed {seed}) -> {path.name}")
    energies = PION_ENERGIES if particle == "pion" else ENERGIES
    simulate_to_file(path, geometry, energies, n, particle=particle, seed=seed, tune=tune)
    return path


def loadavg() -> float:
    """The 1-minute load average of the machine."""
    return float(os.getloadavg()[0])


def training_progress(run: Path) -> dict[str, Any]:
    """Epochs, optimizer steps and seconds trained over all sessions (the checkpoint's Lightning timer), status."""
    from hepgen.training.run import RunDir, load_checkpoint

    rd = RunDir(run)
    state = rd.state()
    out: dict[str, Any] = {"status": state.get("status"), "max_time_s": state.get("max_time_s")}
    if rd.checkpoint.is_file():
        ckpt = load_checkpoint(rd.checkpoint)
        out["epochs"] = int(ckpt.get("epoch", 0))
        out["steps"] = int(ckpt.get("global_step", 0))
        for key, value in (ckpt.get("callbacks") or {}).items():
            if str(key).startswith("Timer") and isinstance(value, dict):
                out["trained_s"] = round(float(value.get("time_elapsed", {}).get("train", 0.0)), 1)
    if rd.best.is_file():
        out["best_epoch"] = int(load_checkpoint(rd.best).get("epoch", -1))
    if rd.metrics.is_file():
        lines = [json.loads(x) for x in rd.metrics.read_text().splitlines() if x.strip()]
        if lines:
            out["last_log"] = lines[-1]
    return out


def train_model(name: str, config: str | None, run: Path, train_file: Path, budget_s: float, threads: int,
                max_epochs: int, record: dict[str, Any], record_path: Path, device: str = "cpu") -> None:
    """Train (or resume) ``run`` until ``budget_s`` of training wall clock is spent; record loads and seconds
    (the session's start is written to ``record_path`` first, so a session that dies is still on record)."""
    import torch

    from hepgen.evaluate import quick_metrics
    from hepgen.progress import status
    from hepgen.training import train
    from hepgen.training.config import preset_or_file
    from hepgen.training.run import RunDir

    state = RunDir(run).state()
    if state.get("max_time_s") is not None and abs(float(state["max_time_s"]) - budget_s) > 1e-6:
        refuse(f"{run} was trained with a budget of {state['max_time_s']:.0f} s, not {budget_s:.0f} s: "
               "use another --workdir (or remove that model's folder)")
    if state.get("status") == "finished":
        status(f"{record['model']}: training finished earlier, skipped")
        return
    if state.get("status") == "diverged":
        record["error"] = state.get("message", "diverged")
        return
    cfg: dict[str, Any] = preset_or_file(name, config) if config else {}
    cfg = {**cfg, "training": {**(cfg.get("training") or {}), "num_threads": threads}}
    torch.set_num_threads(threads)
    session = {"load_start": loadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    record.setdefault("sessions", []).append(session)
    write_json_atomic(record_path, record)
    done = training_progress(run).get("trained_s", 0.0) if RunDir(run).exists() else 0.0
    status(f"{record['model']}: training for {budget_s - done:.0f} s more of {budget_s:.0f} s "
           f"({threads} threads, load {session['load_start']:.2f})")
    t0 = time.monotonic()
    try:
        train(name, train_file, run, cfg, max_time=budget_s, max_epochs=max_epochs, seed=0, resume=True,
              validation=quick_metrics, accelerator="gpu" if device.startswith("cuda") else "cpu")
    except Exception as exc:  # a diverged (or otherwise failed) training is a result: the row says so
        record["error"] = f"{type(exc).__name__}: {exc}"
        status(f"{record['model']}: training failed: {record['error']}")
    session["wall_s"] = round(time.monotonic() - t0, 1)
    session["load_end"] = loadavg()


def energy_response(reference: Path, generated: Path, threshold_mev: float) -> list[dict[str, Any]]:
    """Mean E_vis/E_inc of reference and generated showers per incident-energy decade (1-10, 10-100, 100-1000 GeV),
    E_vis summed over the voxels at or above the evaluation threshold. Implausible showers (a model that has not
    found the energy scale) are read, as the evaluation reads them."""
    from hepgen.data import ShowerFile
    from hepgen.data.validate import LENIENT
    from hepgen.evaluate.observables import apply_threshold

    def ratios(path: Path) -> tuple[np.ndarray, np.ndarray]:
        inc, ratio = [], []
        for chunk in ShowerFile(path, policy=LENIENT).chunks(2000):
            e_vis = apply_threshold(chunk.energy, threshold_mev).sum(axis=1, dtype=np.float64)
            inc.append(chunk.incident_energy)
            ratio.append(e_vis / chunk.incident_energy)
        return np.concatenate(inc), np.concatenate(ratio)

    (ir, rr), (ig, rg) = ratios(reference), ratios(generated)
    out = []
    for k, (lo, hi) in enumerate(DECADES_GEV):
        last = k == len(DECADES_GEV) - 1
        mr = (ir >= lo * 1e3) & ((ir <= hi * 1e3) if last else (ir < hi * 1e3))
        mg = (ig >= lo * 1e3) & ((ig <= hi * 1e3) if last else (ig < hi * 1e3))
        ref_mean = float(rr[mr].mean()) if mr.any() else float("nan")
        gen_mean = float(rg[mg].mean()) if mg.any() else float("nan")
        out.append({"E_inc_gev": [lo, hi], "n_reference": int(mr.sum()), "n_generated": int(mg.sum()),
                    "reference_mean": ref_mean, "generated_mean": gen_mean,
                    "ratio": gen_mean / ref_mean if ref_mean else float("nan")})
    return out


def evaluate(reference: Path, generated: Path, out_dir: Path, recipe: str, threads: int) -> dict[str, Any]:
    """metrics.json of the report in ``out_dir`` (evaluated with the classifier ``recipe`` unless present)."""
    from hepgen.progress import status
    from hepgen.report.evaluation import evaluate_and_report

    metrics = out_dir / "metrics.json"
    if not metrics.is_file():
        status(f"evaluating {generated.name} against {reference.name}, classifier recipe '{recipe}'")
        evaluate_and_report(reference, generated, out_dir, classifier=True, classifier_options={"recipe": recipe},
                            workers=max(1, threads))
    return json.loads(metrics.read_text())


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the table from one metrics.json."""
    hists = metrics.get("histograms", {})
    out: dict[str, Any] = {
        "auc": {level: {"value": c.get("auc"), "error": c.get("auc_error")}
                for level, c in metrics.get("classifier", {}).items()},
        "worst_separation_powers": [{"name": w["name"], "value": w["separation_power"],
                                     "error": w.get("separation_power_error")}
                                    for w in metrics.get("worst_separation_powers", [])[:10]],
        "E_vis/E_inc_separation_power": hists.get("E_vis/E_inc", {}).get("separation_power"),
        "threshold_mev": metrics.get("threshold_mev"),
    }
    for key in ("fpd", "kpd"):
        if key in metrics:
            out[key] = {"value": metrics[key].get("value"), "error": metrics[key].get("error")}
    return out


def timing(run: Path, threads: int, path: Path, device: str = "cpu") -> dict[str, Any]:
    """ms per shower (torch, sample) at batch 1/100/10000 and the parameter counts (timing.json, reused)."""
    from hepgen.progress import status
    from hepgen.timing import benchmark_run

    if not path.is_file():
        status(f"timing {run.parent.name}: batch sizes {', '.join(map(str, BATCH_SIZES))}")
        write_json_atomic(path, benchmark_run(run, list(BATCH_SIZES), ("torch",), ("sample",), reference=False,
                                              threads=threads, max_point_s=120, device=device))
    result = json.loads(path.read_text())
    sample = result.get("timings", {}).get("torch", {}).get("sample", {})
    ms = {str(b): (sample.get(str(b), {}).get("mean_ms") if "mean_ms" in sample.get(str(b), {}) else None)
          for b in BATCH_SIZES}
    return {"ms_per_shower": ms, "parameters": result.get("parameters")}


def open_record(base: Path, label: str, name: str, config: str | None, budget_s: float,
                threads: int) -> tuple[Path, Path, dict[str, Any]]:
    """(folder, record path, record) of one model's row in ``base``: the record of earlier sessions, if any, with
    this session's budget and threads and without an earlier error."""
    folder = base / label.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / "record.json"
    record = read_json(record_path) or {"model": label, "name": name, "config": config}
    record.update({"budget_s": budget_s, "threads": threads})
    record.pop("error", None)
    return folder, record_path, record


def note_training(record: dict[str, Any], run: Path) -> None:
    """Put the training's progress, the largest recorded load and whether the row counts (load <= 3) in ``record``."""
    record["training"] = training_progress(run) if run.is_dir() else {}
    loads = [v for s in record.get("sessions", []) for k, v in s.items() if k.startswith("load_")]
    record["max_load"] = max(loads) if loads else None
    record["counts"] = record["max_load"] is not None and record["max_load"] <= LOAD_LIMIT


def run_model(name: str, config: str | None, label: str, base: Path, files: dict[str, Path],
              args: argparse.Namespace, budget_s: float) -> dict[str, Any]:
    """Every step for one model (each skipped when its output exists); returns the model's record."""
    from hepgen.progress import status
    from hepgen.training import generate

    folder, record_path, record = open_record(base, label, name, config, budget_s, args.threads)
    run = folder / "run"
    train_model(name, config, run, files["train"], budget_s, args.threads, args.max_epochs, record,
                record_path, args.device)
    note_training(record, run)
    write_json_atomic(record_path, record)
    if "error" in record or record["training"].get("status") != "finished":
        return record
    generated = folder / "generated.h5"
    if not generated.is_file():
        status(f"{label}: generating {args.n_reference} showers at the reference's incident energies")
        generate(run, args.n_reference, "like:" + str(files["reference"]), generated, seed=0, device=args.device)
    recipes = ["default"] + (["official"] if args.official_classifier else [])
    record["evaluation"] = {r: summary(evaluate(files["reference"], generated, folder / f"eval-{r}", r,
                                                args.threads)) for r in recipes}
    threshold = record["evaluation"]["default"]["threshold_mev"]
    record["energy_response"] = energy_response(files["reference"], generated, float(threshold or 0.0))
    record.update(timing(run, args.threads, folder / "timing.json", args.device))
    record["device"] = args.device
    write_json_atomic(record_path, record)
    return record


def run_peer(name: str, checkout: Path, base: Path, files: dict[str, Path], args: argparse.Namespace,
             budget_s: float) -> dict[str, Any]:
    """Every step for one peer (its own training and generation, our evaluation; each skipped when done)."""
    from hepgen.errors import InputError
    from hepgen.progress import status
    from peers import load_peer

    peer = load_peer(name)
    folder = base / f"peer-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / "record.json"
    revision = peer.commit(checkout)
    record = read_json(record_path) or {"name": name, "peer": True}
    record.update({"model": f"{peer.TITLE} (peer, own code{' ' + revision[:7] if revision else ''})",
                   "budget_s": budget_s, "threads": args.threads, "checkout": str(checkout), "commit": revision,
                   "paper": peer.PAPER})
    record.pop("error", None)
    session = {"load_start": loadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    record.setdefault("sessions", []).append(session)
    write_json_atomic(record_path, record)
    t0 = time.monotonic()
    try:
        record["training"] = peer.train(checkout, folder, files["train"], files["reference"], args.geometry,
                                        budget_s, args.threads, args.peer_python, args.device, args.peer_n_train)
    except (InputError, RuntimeError) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        status(f"{record['model']}: training failed: {record['error']}")
    session["wall_s"] = round(time.monotonic() - t0, 1)
    session["load_end"] = loadavg()
    loads = [v for s in record.get("sessions", []) for k, v in s.items() if k.startswith("load_")]
    record["max_load"] = max(loads)
    record["counts"] = record["max_load"] <= LOAD_LIMIT
    write_json_atomic(record_path, record)
    if "error" in record:
        return record
    generated = folder / "generated.h5"
    timing_path = folder / "timing.json"
    timing_info = read_json(timing_path) or {}
    try:
        if not generated.is_file():
            status(f"{record['model']}: generating {args.n_reference} showers at the reference's incident energies "
                   f"(its own sampler, {args.peer_sample_steps} steps, batch {peer.BATCH})")
            own = folder / "peer-generated.h5"
            timing_info["wall_n"] = [args.n_reference, peer.run_generation(
                checkout, folder, args.n_reference, own, args.threads, args.peer_python, args.device,
                args.peer_sample_steps)]
            write_json_atomic(timing_path, timing_info)
            record["conversion"] = peer.convert(own, files["reference"], generated, args.geometry)
        if "wall_batch" not in timing_info and args.n_reference > peer.BATCH:
            status(f"{record['model']}: timing one batch of {peer.BATCH}")
            timing_info["wall_batch"] = [peer.BATCH, peer.run_generation(
                checkout, folder, peer.BATCH, folder / "peer-timing.h5", args.threads, args.peer_python,
                args.device, args.peer_sample_steps)]
            write_json_atomic(timing_path, timing_info)
    except (InputError, RuntimeError) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        status(f"{record['model']}: generation failed: {record['error']}")
        write_json_atomic(record_path, record)
        return record
    recipes = ["default"] + (["official"] if args.official_classifier else [])
    record["evaluation"] = {r: summary(evaluate(files["reference"], generated, folder / f"eval-{r}", r,
                                                args.threads)) for r in recipes}
    threshold = record["evaluation"]["default"]["threshold_mev"]
    record["energy_response"] = energy_response(files["reference"], generated, float(threshold or 0.0))
    ms = {str(b): None for b in BATCH_SIZES}
    if "wall_n" in timing_info and "wall_batch" in timing_info:
        (n, wall_n), (nb, wall_b) = timing_info["wall_n"], timing_info["wall_batch"]
        ms[str(peer.BATCH)] = 1e3 * (wall_n - wall_b) / (n - nb)
    record["ms_per_shower"] = ms
    record["generation"] = {"sample_steps": args.peer_sample_steps, "batch": peer.BATCH, **timing_info}
    try:
        record["parameters"] = peer.parameters(folder)
    except (OSError, RuntimeError, KeyError, AttributeError) as exc:
        status(f"{record['model']}: parameters not counted ({type(exc).__name__}: {exc})")
        record["parameters"] = None
    record["device"] = args.device
    write_json_atomic(record_path, record)
    return record


def same_distribution(base: Path, files: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """The reference against a second GFlash sample of its size (seed 3), default classifier: 'indistinguishable'."""
    folder = base / "same-distribution"
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / "record.json"
    record = read_json(record_path)
    if record and "evaluation" in record:
        return record
    name = "GFlash" if args.particle == "electron" else f"hadronic model ({args.tune or 'hadronic-a'})"
    record = {"model": f"{name} vs {name} (same distribution)"}
    record["evaluation"] = {"default": summary(evaluate(files["reference"], files["same"], folder / "eval-default",
                                                        "default", args.threads))}
    threshold = record["evaluation"]["default"]["threshold_mev"]
    record["energy_response"] = energy_response(files["reference"], files["same"], float(threshold or 0.0))
    write_json_atomic(record_path, record)
    return record


def _pm(entry: dict | None, digits: int = 3) -> str:
    if not entry or entry.get("value") is None or not np.isfinite(entry["value"]):
        return "-"
    err = entry.get("error")
    return f"{entry['value']:.{digits}f}" + (f" ± {err:.{digits}f}" if err is not None and np.isfinite(err) else "")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _budget(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def markdown(records: list[dict[str, Any]], same: dict[str, Any] | None, head: str) -> str:
    """The fidelity table (one row per model and the same-distribution row) and the E_vis/E_inc table.

    >>> r = {"model": "m", "budget_s": 60, "max_load": 1.0, "counts": True, "evaluation": {"default": {
    ...      "auc": {"low_level": {"value": 0.9, "error": 0.01}}, "worst_separation_powers": [], "fpd": None}}}
    >>> "| m | 1 min | - | 1.00 | 0.900 ± 0.010 |" in markdown([r], None, "")
    True
    """
    cols = ["model", "budget", "trained s (epochs)", "load", "AUC low (default)", "AUC high (default)",
            "AUC low (official)", "AUC high (official)", "max separation power (name)", "E_vis/E_inc sep.",
            "FPD × 10³", "KPD × 10³"] + [f"ms/shower {b}" for b in BATCH_SIZES] + [
            "parameters (generation / training)"]
    lines = [head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in records + ([same] if same else []):
        ev = r.get("evaluation", {})
        d, o = ev.get("default", {}), ev.get("official", {})
        name = r["model"]
        if r.get("max_load") is not None and not r.get("counts", True):
            name += " (load > 3: does not count)"
        if r.get("error"):
            name += f" ({r['error'][:80]})"
        elif "budget_s" in r and not ev:
            name += f" (training {r.get('training', {}).get('status', 'not started')})"
        worst = d.get("worst_separation_powers") or []
        sep = f"{worst[0]['value']:.3f} ({worst[0]['name']})" if worst else "-"
        evis = d.get("E_vis/E_inc_separation_power")
        scaled = {k: ({"value": d[k]["value"] * 1e3, "error": (d[k].get("error") or 0) * 1e3}
                      if d.get(k) and d[k].get("value") is not None else None) for k in ("fpd", "kpd")}
        ms = r.get("ms_per_shower") or {}
        params = r.get("parameters") or {}
        tr = r.get("training") or {}
        trained = f"{tr['trained_s']:.0f} ({tr.get('epochs', '?')})" if tr.get("trained_s") is not None else "-"
        cells = [name, _budget(r["budget_s"]) if "budget_s" in r else "-", trained,
                 f"{r['max_load']:.2f}" if r.get("max_load") is not None else "-",
                 _pm(d.get("auc", {}).get("low_level")), _pm(d.get("auc", {}).get("high_level")),
                 _pm(o.get("auc", {}).get("low_level")), _pm(o.get("auc", {}).get("high_level")), sep,
                 f"{evis:.3f}" if evis is not None and np.isfinite(evis) else "-",
                 _pm(scaled["fpd"], 2), _pm(scaled["kpd"], 2)] + [_ms(ms.get(str(b))) for b in BATCH_SIZES] + \
                [f"{params.get('generation')} / {params.get('training')}" if params else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean E_vis/E_inc, generated / reference, per incident-energy decade:", "",
              "| model | " + " | ".join(f"{lo:g}-{hi:g} GeV" for lo, hi in DECADES_GEV) + " |",
              "|---|" + "---|" * len(DECADES_GEV)]
    for r in records + ([same] if same else []):
        resp = r.get("energy_response")
        if resp:
            lines.append(f"| {r['model']} | " + " | ".join(
                f"{e['generated_mean']:.4f} / {e['reference_mean']:.4f}" for e in resp) + " |")
    peers = [r for r in records if r.get("peer")]
    if peers:
        lines += ["", "Peers, trained and sampled by their own code from a checkout (docs/fidelity_peer.md):", ""]
        for r in peers:
            gen, phases = r.get("generation") or {}, (r.get("training") or {}).get("phases") or {}
            n_train = (r.get("training") or {}).get("n_train")
            lines.append(f"- {r['model']}: {r.get('paper')}; commit {r.get('commit') or 'unknown'}; training "
                         + ", ".join(f"{k} {p.get('trained_s', 0):.0f} s" for k, p in phases.items())
                         + (f" on the first {n_train} training showers (its epoch)" if n_train else "")
                         + (f"; {gen['sample_steps']} sampling steps, ms/shower at batch {gen['batch']} from the "
                            f"wall clock of its generation of N and of {gen['batch']} showers" if gen else ""))
    lines += ["", "Ten largest separation powers (default evaluation):", ""]
    for r in records + ([same] if same else []):
        worst = r.get("evaluation", {}).get("default", {}).get("worst_separation_powers")
        if worst:
            lines.append(f"- {r['model']}: " + ", ".join(f"{w['name']} {w['value']:.3f}" for w in worst))
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True,
                    help="work folder: simulated data, runs, generated files, reports (WORKDIR/GEOMETRY/...)")
    ap.add_argument("--out", default=None, help="folder for fidelity.json and fidelity.md (default WORKDIR/GEOMETRY)")
    ap.add_argument("--models", default="wgan,bibae",
                    help="comma list of registered model names; 'name@config.yaml' trains with that config file "
                         "(its row is labelled name@STEM) (default: %(default)s)")
    ap.add_argument("--geometry", default="calochallenge-2",
                    help="shower geometry, calochallenge-3 works too (default: %(default)s)")
    ap.add_argument("--particle", default="electron", choices=("electron", "pion"),
                    help="reference particle: GFlash electrons or pions of the hadronic model (default: %(default)s)")
    ap.add_argument("--tune", default=None, choices=("hadronic-a", "hadronic-b"),
                    help="parameter set of the hadronic model for --particle pion (default: hadronic-a)")
    ap.add_argument("--n-train", type=int, default=50000, help="training showers, seed 1 (default: %(default)s)")
    ap.add_argument("--n-reference", type=int, default=10000,
                    help="reference showers (seed 2), generated showers per model, and showers of the "
                         "same-distribution sample (seed 3) (default: %(default)s)")
    ap.add_argument("--budget", default="30m", help="training wall clock per model, a total over all resumes "
                                                    "(e.g. 90s, 30m, 1.5h; default: %(default)s)")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads for training, generation and timing (default: %(default)s)")
    ap.add_argument("--max-epochs", type=int, default=100000,
                    help="epoch limit passed to training, large so that the budget decides "
                         "(default: %(default)s)")
    ap.add_argument("--device", default="cpu",
                    help="torch device for training, generation and timing: cpu (default) or cuda / cuda:N (the "
                         "GPU check; evaluation stays on the CPU)")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=CHECKOUT_PATH",
                    help="also train a public CaloChallenge submission with its own code from this checkout "
                         "(repeatable; known: calodiffusion; docs/fidelity_peer.md)")
    ap.add_argument("--peer-python", default=None,
                    help="Python interpreter of the peer's environment (default: this one)")
    ap.add_argument("--peer-n-train", type=int, default=None,
                    help="train the peer on the first N showers of the training file (its own -n option, i.e. its "
                         "epoch size: it saves once per epoch; default: all)")
    ap.add_argument("--peer-sample-steps", type=int, default=200,
                    help="sampling steps of the peer's own sampler (default: %(default)s, CaloDiffusion's own "
                         "default)")
    ap.add_argument("--official-classifier", action=argparse.BooleanOptionalAction, default=True,
                    help="also evaluate with the challenge's official classifier recipe, slow on a CPU (default: on)")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    from hepgen.progress import status
    from hepgen.timing import machine_info
    from hepgen.training.loop import parse_duration

    torch.set_num_threads(args.threads)
    budget_s = parse_duration(args.budget)
    if not budget_s or budget_s <= 0:
        refuse(f"--budget must be a positive duration, got {args.budget!r}")
    models = parse_models(args.models)
    check_models(models, ("showers", "points"), "showers")
    peers = []
    for text in args.peer:
        from hepgen.errors import InputError
        from peers import load_peer, parse_peer

        try:
            name, checkout = parse_peer(text)
            peers.append((name, load_peer(name).check_checkout(checkout)))
        except (ValueError, InputError) as exc:
            refuse(str(exc))
    base = Path(args.workdir) / args.geometry
    out = Path(args.out) if args.out else base
    base.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    if args.tune and args.particle != "pion":
        refuse("--tune is a parameter set of the hadronic model: give it with --particle pion")
    settings = {"geometry": args.geometry, "n_train": args.n_train, "n_reference": args.n_reference,
                "energies": PION_ENERGIES if args.particle == "pion" else ENERGIES, "particle": args.particle,
                "seeds": SEEDS}
    if args.particle == "pion":
        settings["tune"] = args.tune or "hadronic-a"
    saved = read_json(base / "settings.json")
    if saved and saved != settings:
        refuse(f"{base} holds a benchmark with other settings {saved}: use another --workdir")
    write_json_atomic(base / "settings.json", settings)
    data = base / "data"
    data.mkdir(exist_ok=True)
    sizes = {"train": args.n_train, "reference": args.n_reference, "same": args.n_reference}
    files = {k: simulate(data / f"{args.particle}s-{k}-n{sizes[k]}-seed{SEEDS[k]}.h5", args.geometry, sizes[k],
                         SEEDS[k], args.particle, settings.get("tune"))
             for k in ("train", "reference", "same")}
    command = "python benchmarks/bench_fidelity.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))

    reference_name = ("GFlash electrons" if args.particle == "electron"
                      else f"pions (hepgen's hadronic model, {settings['tune']})")

    def publish(same: dict[str, Any] | None) -> None:
        labels = sorted(p.parent.name for p in base.glob("*/record.json") if p.parent.name != "same-distribution")
        records = [read_json(base / lab / "record.json") for lab in labels]
        info = machine_info()
        gpu = f" ({torch.cuda.get_device_name(args.device)})" if args.device.startswith("cuda") else ""
        head = (f"Fidelity under a {_budget(budget_s)} budget on {args.geometry}: {args.n_train} training "
                f"{reference_name}, {args.n_reference} reference showers, "
                f"{settings['energies']}; {args.threads} thread(s); "
                f"machine nproc {info.get('nproc')}, {info.get('cpu', '')}; device {args.device}{gpu}; load: the "
                f"largest 1-minute load average at the start/end of the training sessions; AUC ± Hanley-McNeil "
                f"error.\n\n    {command}")
        write_json_atomic(out / "fidelity.json", {"settings": settings, "budget_s": budget_s, "command": command,
                                                  "machine": info, "models": records, "same_distribution": same})
        tmp = out / "fidelity.md.tmp"
        tmp.write_text(markdown(records, same, head))
        os.replace(tmp, out / "fidelity.md")

    same = read_json(base / "same-distribution" / "record.json")
    for name, config, label in models:
        status(f"== {label} ==")
        run_model(name, config, label, base, files, args, budget_s)
        publish(same)
    for name, checkout in peers:
        status(f"== peer {name} ({checkout}) ==")
        run_peer(name, checkout, base, files, args, budget_s)
        publish(same)
    same = same_distribution(base, files, args)
    publish(same)
    status(f"wrote {out / 'fidelity.json'} and {out / 'fidelity.md'}")
    print((out / "fidelity.md").read_text())


if __name__ == "__main__":
    run_script(main)
