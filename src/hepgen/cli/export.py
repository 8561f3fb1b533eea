"""``hepgen export RUN_DIR --onnx model.onnx [--target par04|par04-calodit|ddml-calodit|ddml-caloclouds]``: a run's
generator as an ONNX graph, plain or in a simulation framework's contract."""

from __future__ import annotations

from pathlib import Path

import typer


def export(
    run_dir: Path = typer.Argument(..., help="Run directory written by 'hepgen train'."),
    onnx: Path = typer.Option(..., "--onnx", help="Output ONNX file."),
    target: str = typer.Option("", "--target", help="Framework contract: par04 (Geant4 Par04 VAE), par04-calodit "
                               "(Par04 CaloDiT-2), ddml-calodit, ddml-caloclouds (key4hep DDML); empty: hepgen's "
                               "plain graph."),
    check: bool = typer.Option(False, "--check", help="With --target: run the conformance harness on the written "
                               "file (exit 1 if it fails)."),
    n_check: int = typer.Option(64, "--n-check", help="Batch size of the ONNX vs PyTorch agreement check "
                                "(--target --check: number of showers)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Export the generator of a run of any registered model (its ``export_graph()``; dynamic batch) and check
    that ONNX Runtime on the model's own draws reproduces PyTorch sampling for the same seed (max relative
    deviation <= 1e-4 on a fixed batch); exit code 1 if it does not. Voxel-shower runs: inputs conditions in
    MeV and the random draws, output voxel energies in MeV; other runs: preprocessed conditions and draws,
    output in preprocessed units (clouds padded to n_max with their mask). A model that cannot be exported
    says why in one line. See docs/onnx_cpp.md for calling the file from C++.

    With --target the graph has the framework's inputs, outputs, units, voxel order and mesh (or the export is
    refused in one line naming the geometry the target needs) and a model card ``<name>.card.json`` is written
    beside it; see docs/simulation_chain.md."""
    if target:
        from hepgen.training.conformance import check_conformance
        from hepgen.training.targets import card_path_of, export_target

        card = export_target(run_dir, onnx, target, overwrite=overwrite, opset=opset)
        shapes = ", ".join(f"{i['name']} {i['shape']}" for i in card["inputs"])
        typer.echo(f"exported '{card['model']}' for {card['framework']} ({card['model_type']}) to {onnx}: inputs "
                   f"{shapes}; output {card['output']['name']} ({card['output']['unit']}); card "
                   f"{card_path_of(onnx)}")
        if check:
            report = check_conformance(run_dir, onnx, target, n_showers=min(n_check, 64))
            typer.echo(report.summary())
            if not report.passed:
                raise typer.Exit(1)
        return
    from hepgen.training.onnx import export_onnx

    report = export_onnx(run_dir, onnx, n_check=n_check, opset=opset, overwrite=overwrite)
    typer.echo(report.summary())
    if not report.passed:
        raise typer.Exit(1)
