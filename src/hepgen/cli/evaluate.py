"""``hepgen evaluate REFERENCE.h5 GENERATED.h5 -o report/``: judge a generated shower sample."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def evaluate(
    reference: Path = typer.Argument(..., help="Reference shower file (CaloChallenge or ILD HDF5), e.g. Geant4."),
    generated: Path = typer.Argument(..., help="Generated shower file of the same geometry and incident-energy range."),
    output: Path = typer.Option(Path("report"), "--output", "-o", help="Folder for metrics.json, figures/ and index.html."),
    classifier: bool = typer.Option(True, "--classifier/--no-classifier",
                                    help="Train the challenge's DNN classifiers (low- and high-level); off is much faster."),
    epochs: int = typer.Option(30, help="Classifier epochs at most (early stop after 5 without improvement)."),
    hidden: int = typer.Option(256, help="Classifier hidden units per layer (the challenge uses 2048)."),
    classifier_showers: int = typer.Option(20_000, help="Showers of each sample the classifier reads at most."),
    threshold: Optional[float] = typer.Option(None, help="Cell threshold in MeV (default: the challenge's or the source "
                                              "study's value for the geometry, e.g. 0.0152 MeV for calochallenge-2/3)."),
    geometry: Optional[str] = typer.Option(None, "--geometry", "-g", help="Geometry, when the files do not say."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Draw the comparison figures."),
    all_layers: bool = typer.Option(False, "--all-layers", help="Also draw every per-layer feature: one figure per "
                                    "layer with all its histograms (45 figures for calochallenge-2; slower)."),
    seed: int = typer.Option(0, help="Seed of the classifier split and training and of the resampling."),
    chunk_size: int = typer.Option(5_000, help="Showers read at a time (bounds the memory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing report in the output folder."),
    workers: int = typer.Option(2, min=1, max=2, help="Processes for the features: 2 reads the generated file beside "
                                "the reference (twice the memory of one chunk); 1 reads them one after the other."),
) -> None:
    """Compare GENERATED to REFERENCE: observables, CaloChallenge high-level features, separation powers,
    chi2, W1, KS, FPD/KPD, PRDC, classifier AUC/JSD; writes metrics.json and index.html."""
    from hepgen.evaluate import evaluate_files

    options = {"n_epochs": epochs, "n_hidden": hidden}
    index = evaluate_files(reference, generated, output, classifier=classifier, seed=seed, threshold_mev=threshold,
                           geometry=geometry, chunk_size=chunk_size, figures=figures, classifier_options=options,
                           classifier_max_showers=classifier_showers, overwrite=overwrite, workers=workers,
                           layer_grids=all_layers)
    typer.echo(f"report: {index}")
