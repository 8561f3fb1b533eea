"""``hepgen regress``: energy and impact-position regressors of crystal-array showers (train, apply, report)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def regress(
    train: Optional[Path] = typer.Argument(None, help="Reference shower file to train on (one-layer crystal array, "
                                           "e.g. hepgen simulate --preset belle2-ecl-5x5-train)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder: energy_regressor.pt, "
                                "position_regressor.pt, metrics.json, calibrated.h5."),
    apply: Optional[Path] = typer.Option(None, "--apply", help="A (generated) shower file to calibrate: written "
                                         "to OUTPUT/calibrated.h5 with the labels calibrated_energy (MeV) and "
                                         "reconstructed_impact_x_mm/_y_mm; resolution and bias against its "
                                         "conditioning labels go to metrics.json."),
    test: Optional[Path] = typer.Option(None, "--test", help="A held-out reference file: resolution and bias of "
                                        "the regressors on it (default: the last 10% of TRAIN, not trained on)."),
    regressors: Optional[Path] = typer.Option(None, "--regressors", help="Reuse the regressors of an earlier "
                                              "OUTPUT folder instead of training."),
    targets: str = typer.Option("energy,position", "--targets", help="energy, position or both (comma list); "
                                "position needs the impact labels (hepgen simulate --impact)."),
    energy_target: str = typer.Option("incident_energy", "--energy-target", help="incident_energy (E, the "
                                      "thesis's §3.4.1) or visible_energy (the deposited E_T, its Belle II variant)."),
    steps: int = typer.Option(2000, "--steps", help="Training minibatches per regressor."),
    batch_size: int = typer.Option(250, "--batch-size", help="Minibatch size (the thesis's 250)."),
    lr: float = typer.Option(1e-3, "--lr", help="Learning rate (the thesis: 5e-5 alongside a GAN)."),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam or rmsprop."),
    arch: str = typer.Option("thesis", "--arch", help="thesis (the thesis's tables for 5x5, 10x10, 30x30) or "
                             "compact (small, any grid)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1 ..."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation and minibatches."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
) -> None:
    """Train CNN regressors of the incident energy and the impact point (J. Irakkathil Jabbar, PhD thesis, KIT
    2022, §3.4.1-3.4.2) on reference showers, report their resolution and bias (overall and per incident energy)
    on held-out reference showers and on a generated file, and write the generated file with calibrated energies
    and reconstructed impact points as labels.

    Example: hepgen regress train.h5 --test holdout.h5 --apply generated.h5 -o regress/
    """
    import json

    import numpy as np

    from hepgen.data import ShowerData, read_showers, write_showers
    from hepgen.data.atomic import atomic_path, check_writable
    from hepgen.errors import InputError
    from hepgen.models.regressors import (ENERGY_TARGETS, POSITION_TARGETS, fit_regressor, load_regressor, predict,
                                          regression_summary, save_regressor, targets_of)
    from hepgen.progress import ProgressBar

    wanted = [t.strip() for t in targets.split(",") if t.strip()]
    if not wanted or set(wanted) - {"energy", "position"}:
        raise InputError(f"--targets '{targets}': expected energy, position or energy,position")
    if energy_target not in ENERGY_TARGETS:
        raise InputError(f"--energy-target '{energy_target}': expected {' or '.join(ENERGY_TARGETS)}")
    if train is None and regressors is None:
        raise InputError("give a training file or --regressors FOLDER (see hepgen regress --help)")
    output.mkdir(parents=True, exist_ok=True)
    names = {"energy": [energy_target], "position": list(POSITION_TARGETS)}
    files = {"energy": output / "energy_regressor.pt", "position": output / "position_regressor.pt"}
    calibrated_path = output / "calibrated.h5"
    for path in [output / "metrics.json"] + [files[w] for w in wanted if regressors is None] + \
            ([calibrated_path] if apply is not None else []):
        check_writable(path, overwrite)

    test_set: ShowerData | None = read_showers(test) if test is not None else None
    models = {}
    if regressors is not None:
        for w in wanted:
            models[w] = load_regressor(regressors / files[w].name, device)
    else:
        data = read_showers(train)
        if test_set is None:
            cut = int(round(0.9 * len(data)))
            data, test_set = data[:cut], data[cut:]
        for w in wanted:
            with ProgressBar(total=steps, description=f"training the {w} regressor") as bar:
                models[w] = fit_regressor(data, names[w], steps=steps, batch_size=batch_size, lr=lr,
                                          optimizer=optimizer, arch=arch, seed=seed, device=device,
                                          progress=lambda _: bar.advance(1))
            save_regressor(files[w], models[w])

    def merged(sample: ShowerData) -> dict:
        """One summary over every regressor: {all: {target: stats}, per_energy: {E: {target: stats}}}."""
        result: dict = {}
        for reg in models.values():
            if reg.targets[0] in POSITION_TARGETS and not set(POSITION_TARGETS) <= set(sample.labels):
                continue
            part = regression_summary(predict(reg, sample), targets_of(sample, reg.targets), reg.targets,
                                      sample.incident_energy)
            for group, rows in part.items():
                if group == "all":
                    result.setdefault("all", {}).update(rows)
                else:
                    for e, stats in rows.items():
                        result.setdefault(group, {}).setdefault(e, {}).update(stats)
        return result

    metrics: dict = {"device": device, "regressors": {w: r.config() for w, r in models.items()}}
    if test_set is not None and len(test_set):
        metrics["reference"] = merged(test_set)
    if apply is not None:
        generated = read_showers(apply)
        metrics["applied"] = merged(generated)
        labels = dict(generated.labels)
        scales = dict(generated.label_scales)
        if "energy" in models:
            labels["calibrated_energy"] = predict(models["energy"], generated)[:, 0]
            scales["calibrated_energy"] = "log"
        if "position" in models:
            p = predict(models["position"], generated)
            labels["reconstructed_impact_x_mm"], labels["reconstructed_impact_y_mm"] = p[:, 0], p[:, 1]
            scales.update(reconstructed_impact_x_mm="linear", reconstructed_impact_y_mm="linear")
        if "calibrated_energy" in labels and np.any(labels["calibrated_energy"] <= 0):
            scales.pop("calibrated_energy")
        write_showers(calibrated_path, ShowerData(generated.incident_energy, generated.energy, generated.geometry,
                                                  labels, scales), overwrite=overwrite,
                      metadata={"calibrated_from": str(apply), "regressors": str(regressors or output)})
    with atomic_path(output / "metrics.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))
    for where in ("reference", "applied"):
        if where not in metrics:
            continue
        typer.echo(f"{where}: target, n, bias, resolution (rms of predicting the mean)")
        groups = [("all", metrics[where]["all"])] + list(metrics[where].get("per_energy", {}).items())
        for group, rows in groups:
            for t, r in rows.items():
                unit = "MeV" if t in ENERGY_TARGETS else "mm"
                rel = f"  ({100 * r['relative_resolution']:.2f}% of E)" if "relative_resolution" in r else ""
                typer.echo(f"  {group:>9} {t:<16} {r['n']:>6} {r['bias']:>9.2f} {unit} {r['resolution']:>9.2f} "
                           f"{unit}{rel}  ({r['baseline_rms']:.2f})")
    typer.echo(f"wrote {output}")
