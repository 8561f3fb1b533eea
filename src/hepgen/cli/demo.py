"""``hepgen demo``: the main job on the embedded default (simulate, train, generate, evaluate, report)."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    output: Path = typer.Option(Path("hepgen-demo"), "--output", "-o", help="Folder for the demo's files and report."),
    minutes: float = typer.Option(4.0, help="Training budget in minutes (CPU)."),
    model: str = typer.Option("calo-cfm", help="Registered model to train (see `hepgen train --help`); the default, "
                              "calo-cfm, learns the layer energies first and the shapes second."),
    quick: bool = typer.Option(False, "--quick", help="A tiny run (under a minute) to check the installation."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again instead of reusing the folder's files."),
) -> None:
    """Simulate GFlash electrons in the CaloChallenge dataset-2 detector (10k for training, 5k as reference),
    train a generator for a few minutes, generate 5k showers, evaluate them against the reference and
    write an HTML report. Finishes in under 10 minutes on 2 cores; a re-run reuses finished steps."""
    from dataclasses import replace

    from hepgen.pipeline import DemoConfig, run_demo

    cfg = DemoConfig.quick() if quick else DemoConfig(train_minutes=minutes)
    cfg = replace(cfg, model=model)
    report = run_demo(output, cfg, overwrite=overwrite)
    typer.echo(f"demo finished; open {report}")
