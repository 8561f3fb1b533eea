"""``hepgen evaluate REFERENCE.h5 GENERATED.h5 -o report/``: judge a generated shower sample."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def evaluate(
    reference: Path = typer.Argument(..., help="Reference shower file (CaloChallenge or ILD HDF5), e.g. Geant4."),
    generated: Path = typer.Argument(..., help="Generated shower file of the same geometry and incident-energy range."),
    output: Path = typer.Option(Path("report"), "--output", "-o",
                                help="Folder for metrics.json, figures/ and index.html."),
    classifier: str = typer.Option("default", "--classifier",
                                   help="Classifier recipe (low- and high-level DNN): 'default' (3 x 256 units, early "
                                   "stopping, label-blind standardisation, high-level features standardised given "
                                   "E_inc), 'official' (the challenge's evaluate.py: 3 x 2048 units, 50 epochs, raw "
                                   "inputs; slow on a CPU) or 'none'."),
    no_classifier: bool = typer.Option(False, "--no-classifier", help="Skip the classifiers (same as --classifier "
                                       "none); much faster."),
    epochs: Optional[int] = typer.Option(None, help="Classifier epochs at most (default: the recipe's, 30 or 50)."),
    hidden: Optional[int] = typer.Option(None, help="Classifier hidden units per layer (default: the recipe's, "
                                         "256 or 2048)."),
    multiclass: List[Path] = typer.Option([], "--multiclass", help="Another generated file (repeat the option for "
                                          "several): also run the multiclass classifier test on the high-level "
                                          "inputs of REFERENCE, GENERATED and these; writes multiclass.json."),
    classifier_showers: int = typer.Option(20_000, help="Showers of each sample the classifier reads at most."),
    threshold: Optional[float] = typer.Option(None, help="Cell threshold in MeV (default: the challenge's or the "
                                              "source study's value for the geometry, e.g. 0.0152 MeV for "
                                              "calochallenge-2/3)."),
    geometry: Optional[str] = typer.Option(None, "--geometry", "-g", help="Geometry, when the files do not say."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Draw the comparison figures."),
    all_layers: bool = typer.Option(False, "--all-layers", help="Also draw every per-layer feature: one figure per "
                                    "layer with all its histograms (45 figures for calochallenge-2; slower)."),
    seed: int = typer.Option(0, help="Seed of the classifier split and training and of the resampling."),
    chunk_size: int = typer.Option(5_000, help="Showers read at a time (bounds the memory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing report in the output folder."),
    hadronic: bool = typer.Option(False, "--hadronic", help="Pion evaluation (Diefenbacher 2022, Chs. 7-8): cells "
                                  "below 0.5 MIP dropped (unless --threshold), the CALICE shower-start layer, "
                                  "mu90 per beam energy with and without the start-layer cut, correlations."),
    mip_mev: Optional[float] = typer.Option(None, "--mip-mev", help="With --hadronic: 1 MIP in MeV of the files' "
                                            "energies (default: 26.8 for calice-ahcal-2018, 0.5 for ild-ahcal)."),
    workers: int = typer.Option(2, min=1, max=2, help="Processes for the features: 2 reads the generated file beside "
                                "the reference (twice the memory of one chunk); 1 reads them one after the other."),
) -> None:
    """Compare GENERATED to REFERENCE: observables, CaloChallenge high-level features, separation powers,
    chi2, W1, KS, FPD/KPD, PRDC, classifier AUC/JSD; writes metrics.json and index.html."""
    from hepgen.errors import InputError
    from hepgen.report import evaluate_and_report

    if mip_mev is not None and not hadronic:
        raise InputError("--mip-mev applies to the hadronic evaluation: add --hadronic")

    recipe = "none" if no_classifier else classifier
    if recipe not in ("default", "official", "none"):
        raise InputError(f"--classifier '{classifier}': expected default, official or none")
    if multiclass and recipe == "none":
        raise InputError("--multiclass needs a classifier recipe (not --no-classifier / --classifier none)")
    if multiclass and (output / "multiclass.json").exists() and not overwrite:
        raise InputError("report exists; pass --overwrite to replace it", file=str(output / "multiclass.json"))
    options = {"recipe": recipe, "n_epochs": epochs, "n_hidden": hidden} if recipe != "none" else {}
    index = evaluate_and_report(reference, generated, output, classifier=recipe != "none", seed=seed,
                                threshold_mev=threshold, geometry=geometry, chunk_size=chunk_size, figures=figures,
                                classifier_options=options, classifier_max_showers=classifier_showers,
                                overwrite=overwrite, workers=workers, layer_grids=all_layers,
                                hadronic=hadronic, mip_mev=mip_mev)
    typer.echo(f"report: {index}")
    if multiclass:
        import json

        from hepgen.data.atomic import atomic_path
        from hepgen.evaluate.classifier import format_confusion, multiclass_files

        result = multiclass_files(reference, [generated, *multiclass], recipe=recipe, max_showers=classifier_showers,
                                  threshold_mev=threshold, geometry=geometry, seed=seed, n_epochs=epochs,
                                  n_hidden=hidden)
        with atomic_path(output / "multiclass.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(result, indent=1))
        typer.echo(format_confusion(result))
        typer.echo("mean class probability on held-out reference showers (reference class left out): " +
                   ", ".join(f"{k} {v:.3f}" for k, v in result["reference_assignment"].items()))
        typer.echo(f"multiclass: {output / 'multiclass.json'}")
