"""``hepgen train``: train a registered model on a data file (showers, jets) into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def train(
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Training showers (CaloChallenge or ILD HDF5)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Run directory (created; an existing run is "
                                          "resumed)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name, e.g. wgan or bibae "
                                        "(or 'model:' in the config)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config: model/params/training/"
                                          "preprocessing/labels sections; defaults per model. Or a preset "
                                          "of the model, e.g. 'pion' for wgan and bibae."),
    max_time: Optional[str] = typer.Option(None, "--max-time", help="Training budget over all resumes, e.g. 30m, 2h."),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Number of epochs (default from config)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (CPU runs are reproducible)."),
    no_resume: bool = typer.Option(False, "--no-resume", help="Refuse an existing run instead of resuming it."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from this run's last weights "
                                             "(fine-tuning, e.g. calochallenge-2 -> -3 point clouds)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (overrides the model's 'lr' parameter)."),
    list_models: bool = typer.Option(False, "--list-models", help="Print the registered models and exit."),
    devices: int = typer.Option(1, "--devices",
                                help="Processes/GPUs for data-parallel training (with --strategy ddp)."),
    strategy: str = typer.Option("auto", "--strategy", help="Lightning strategy: auto or ddp (gloo on CPU, NCCL on "
                                 "GPUs; also works under torchrun)."),
    accelerator: str = typer.Option("cpu", "--accelerator", help="cpu, gpu or auto."),
) -> None:
    """Train a generator; progress bar and per-epoch validation metrics (separation powers) on stderr.

    Killed runs resume from their last checkpoint when the same command is run again. A NaN/inf
    loss stops training with one line (exit code 3) and keeps the last good checkpoint, if one was written.
    """
    from hepgen.evaluate import quick_metrics
    from hepgen.training import TrainingDiverged
    from hepgen.training import train as run_training

    if list_models:
        from hepgen.models import list_models as names

        typer.echo("\n".join(names()))
        raise typer.Exit()
    missing = [flag for flag, v in (("--data", data), ("--output", output)) if v is None]
    if missing:
        raise typer.BadParameter(f"missing {', '.join(missing)} (see hepgen train --help)")
    try:
        run = run_training(model, data, output, config, max_time=max_time, max_epochs=max_epochs, seed=seed,
                           resume=not no_resume, devices=devices, strategy=strategy, accelerator=accelerator,
                           init_from=init_from, lr=lr, validation=quick_metrics)
    except TrainingDiverged as exc:
        typer.echo(f"hepgen: training stopped: {exc}", err=True)
        raise typer.Exit(3) from None
    typer.echo(f"trained; run directory {run}")
