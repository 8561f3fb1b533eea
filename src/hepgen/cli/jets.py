"""``hepgen simulate jets`` (Pythia 8 + FastJet jets in the JetNet format) and ``hepgen evaluate-jets``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def simulate_jets(
    jet_type: str = typer.Option(..., "--type", "-t",
                                 help="Jet type: g (gluon), q (light quark), t (top), w (W), z (Z)."),
    n_jets: int = typer.Option(..., "-n", "--n-jets", help="Number of jets to produce."),
    output: Path = typer.Option(..., "-o", "--output", help="Output JetNet file (.h5, .npz or .npy)."),
    max_particles: int = typer.Option(30, "--max-particles", help="Particle slots per jet (JetNet: 30 or 150)."),
    seed: int = typer.Option(1, "--seed", help="Random seed; the same seed gives the same jets for any --workers."),
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes."),
    chunk_size: int = typer.Option(500, "--chunk-size", help="Jets per chunk (unit of checkpointing and of seeding)."),
    pt_gev: float = typer.Option(1000.0, "--pt", help="Hard-parton pT in GeV (JetNet: 1000)."),
    jetnet_recipe: bool = typer.Option(True, "--jetnet-recipe/--hepgen-recipe", help="JetNet's recipe (default; "
                                       "docs/jet_recipe.md) or hepgen's first production (no underlying event, all "
                                       "visible particles, pT-hat window +-2 %)."),
    pt_window: Optional[float] = typer.Option(None, "--pt-window", help="Relative half-width of the pT-hat window "
                                              "(default: the recipe's, JetNet 0.01, hepgen 0.02)."),
    mpi: Optional[bool] = typer.Option(None, "--mpi/--no-mpi", help="Pythia multi-parton interactions (underlying "
                                       "event); default: the recipe's (JetNet on, hepgen off)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Generate jets with Pythia 8 (13 TeV) + FastJet anti-kT R = 0.8 in the JetNet layout.

    Resumable: an interrupted run keeps its finished chunks in OUTPUT.chunks/; run the same command again.
    """
    from hepgen.simulate.jets import JetProduction, simulate_jets as run

    prod = JetProduction(jet_type, n_jets, max_particles, seed, pt_gev, pt_window, mpi=mpi, chunk_size=chunk_size,
                         recipe="jetnet" if jetnet_recipe else "hepgen")
    path = run(prod, output, workers=workers, overwrite=overwrite)
    typer.echo(f"wrote {n_jets} {jet_type} jets to {path}")


def evaluate_jets(
    reference: Path = typer.Argument(..., help="Reference JetNet file (e.g. Pythia test jets)."),
    generated: List[Path] = typer.Argument(..., help="One or more generated JetNet files."),
    reference2: Optional[Path] = typer.Option(None, "--reference2", help="Second independent reference for the IN "
                                              "row (default: split REFERENCE in halves)."),
    n_eval: int = typer.Option(50_000, "--n-eval", help="Jets drawn per W1 resampling (Käch 2024: 50 000)."),
    batches: int = typer.Option(5, "--batches", help="W1 resamplings."),
    fpd_min: int = typer.Option(20_000, "--fpd-min", help="Smallest FPD batch (Käch 2024: 20 000)."),
    fpd_max: int = typer.Option(50_000, "--fpd-max", help="Largest FPD batch (Käch 2024: 50 000)."),
    kpd_batch: int = typer.Option(5_000, "--kpd-batch", help="KPD batch size (Käch 2024: 5 000)."),
    max_jets: Optional[int] = typer.Option(None, "--max-jets", help="Use at most this many jets of each file."),
    seed: int = typer.Option(42, "--seed", help="Seed of the resamplings."),
    output: Path = typer.Option(Path("jets_report"), "--output", "-o", help="Folder for metrics.json."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write an HTML report with histograms and correlations."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing metrics.json and HTML report."),
    multiclass: bool = typer.Option(False, "--multiclass", help="Also run the multiclass classifier test (one class "
                                    "per file: REFERENCE and every GENERATED) on the jet features and the "
                                    "pt-ordered particles; prints the confusion matrix."),
) -> None:
    """JetNet metrics of GENERATED against REFERENCE plus the in-sample IN row, in the units of the tables of B. Käch,
    "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024).

    W1M, W1P (x1e3), W1EFP (x1e5), KPD, FPD (x1e4), each with its uncertainty; W1P per particle feature
    below the table. Writes OUTPUT/metrics.json (refused if it exists, unless --overwrite).
    """
    import json

    from hepgen.data.atomic import atomic_path, check_writable
    from hepgen.data.jetnet import read_jets
    from hepgen.errors import InputError
    from hepgen.evaluate.evaluation import jsonable
    from hepgen.evaluate.jets import (COMBINATION, UNITS, evaluate_jets as run, format_details, format_table,
                                      rows_as_json)

    metrics_path = output / "metrics.json"
    if metrics_path.exists() and not overwrite:
        raise InputError("report exists; pass --overwrite to replace it", file=str(metrics_path))
    if output.exists() and not output.is_dir():
        raise InputError("output path is a file, expected a folder", file=str(output))
    if html is not None:
        check_writable(html, overwrite)
    ref = read_jets(reference, stop=max_jets)
    ref2 = read_jets(reference2, stop=max_jets) if reference2 is not None else None
    gens = {p.stem: read_jets(p, stop=max_jets) for p in generated}
    rows = run(ref, gens, ref2, num_eval_samples=n_eval, num_batches=batches, fpd_min_samples=fpd_min,
               fpd_max_samples=fpd_max, kpd_batch_size=kpd_batch, seed=seed)
    table = format_table(rows)
    typer.echo(table)
    typer.echo(format_details(rows))
    result = {"reference_file": str(reference), "reference2_file": str(reference2) if reference2 else None,
              "generated_files": {p.stem: str(p) for p in generated}, "max_jets": max_jets,
              "settings": {"num_eval_samples": n_eval, "num_batches": batches, "fpd_min_samples": fpd_min,
                           "fpd_max_samples": fpd_max, "kpd_batch_size": kpd_batch, "seed": seed},
              "units": {k: f"x{v:g}" for k, v in UNITS.items()}, "combination": COMBINATION,
              "in_row": "IN: two independent reference samples (--reference2, else the halves of REFERENCE; then "
                        "the model rows use the first half as reference)",
              "rows": rows_as_json(rows)}
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(metrics_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(jsonable(result), indent=1, allow_nan=False))
    typer.echo(f"metrics: {metrics_path}")
    if multiclass:
        from hepgen.evaluate.classifier import format_confusion, jet_classifier_inputs, multiclass_test

        name = reference.stem if reference.stem not in gens else "reference"
        inputs = {name: jet_classifier_inputs(ref), **{k: jet_classifier_inputs(g) for k, g in gens.items()}}
        result = multiclass_test(inputs, reference=name, seed=seed)
        typer.echo(format_confusion(result))
        typer.echo("mean class probability on held-out reference jets (reference class left out): " +
                   ", ".join(f"{k} {v:.3f}" for k, v in result["reference_assignment"].items()))
    if html is not None:
        from hepgen.report.jets import jets_report

        jets_report(html, ref, gens, table, overwrite=overwrite)
        typer.echo(f"report: {html}")
