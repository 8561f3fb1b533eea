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
    """Export the generator of a run of any registered model (its ``export_graph()``; dynamic batch) and check
    that ONNX Runtime on the model's own draws reproduces PyTorch sampling for the same seed (max relative
    deviation <= 1e-4 on a fixed batch); exit code 1 if it does not. Voxel-shower runs: inputs conditions in
    MeV and the random draws, output voxel energies in MeV; other runs: preprocessed conditions and draws,
    output in preprocessed units (clouds padded to n_max with their mask). A model that cannot be exported
    says why in one line. See docs/onnx_cpp.md for calling the file from C++."""
    from hepgen.training.onnx import export_onnx

    report = export_onnx(run_dir, onnx, n_check=n_check, opset=opset, overwrite=overwrite)
    typer.echo(report.summary())
    if not report.passed:
        raise typer.Exit(1)
