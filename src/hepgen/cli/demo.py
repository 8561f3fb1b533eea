"""``hepgen demo``: the main job on the embedded default (simulate, train, generate, evaluate, report)."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    output: Path = typer.Option(Path("hepgen-demo"), "--output", "-o", help="Folder for the demo's files and report."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace files of an earlier demo in that folder."),
) -> None:
    """Run the whole pipeline on a small embedded example and print where the report is."""
    from hepgen.pipeline import run_demo

    report = run_demo(output, overwrite=overwrite)
    typer.echo(f"demo finished; open {report}")
