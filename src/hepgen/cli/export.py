"""``hepgen export RUN_DIR --onnx model.onnx``: a run's generator as an ONNX graph."""

from __future__ import annotations

from pathlib import Path

import typer


def export(
    run_dir: Path = typer.Argument(..., help="Run directory written by 'hepgen train'."),
    onnx: Path = typer.Option(..., "--onnx", help="Output ONNX file."),
    n_check: int = typer.Option(64, "--n-check", help="Batch size of the ONNX vs PyTorch agreement check."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Export the generator with its conditioning and inverse preprocessing (inputs: conditions in MeV
    and the random draws; output: voxel energies in MeV; dynamic batch) and check that ONNX Runtime
    reproduces PyTorch (max relative deviation <= 1e-4 on a fixed batch). Exit code 1 if it does not.
    See docs/onnx_cpp.md for calling the file from C++."""
    from hepgen.training.onnx import export_onnx

    report = export_onnx(run_dir, onnx, n_check=n_check, opset=opset, overwrite=overwrite)
    typer.echo(report.summary())
    if not report.passed:
        raise typer.Exit(1)
