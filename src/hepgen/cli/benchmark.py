"""``hepgen benchmark RUN_DIR``: the CaloChallenge timing protocol for a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def benchmark(
    run_dir: Path = typer.Argument(..., help="Run directory written by 'hepgen train'."),
    batch_sizes: str = typer.Option("1,100,10000", "--batch-sizes", help="Comma-separated batch sizes."),
    backend: str = typer.Option("torch,onnxruntime", "--backend", help="torch, onnxruntime or both (comma list)."),
    paths: str = typer.Option("forward,sample,write-gzip,write-lzf,write-none", "--paths",
                              help="What to time: forward (network only), sample (conditions -> MeV showers), "
                              "write-gzip/lzf/none (whole user path with that HDF5 compression)."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="Repeats per point (default 10 / 5 / 1 for "
                                          "batch 1 / <=1000 / larger)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch and ONNX Runtime."),
    device: str = typer.Option("cpu", "--device", help="Where the torch model runs: cpu, cuda, cuda:1 ..."),
    energies: str = typer.Option("log-uniform:1GeV:1TeV", "--energies", "-e", help="Incident energies to sample."),
    no_reference: bool = typer.Option(False, "--no-reference",
                                      help="Skip timing the reference simulator (GFlash / Pythia 8)."),
    max_point_s: float = typer.Option(300.0, "--max-point-s", help="Skip points predicted to take longer."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full result as JSON."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Write the table as Markdown."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing --json/--markdown files."),
) -> None:
    """Time per shower (ms, mean ± std) at each batch size after a warm-up, for the network alone and
    for the whole path a user runs (conditions, model, inverse preprocessing, HDF5 writing with
    gzip/lzf/none), with parameter counts, peak memory, threads and GFlash's own time; columns as the
    CaloChallenge results' 'time CPU 1/100/10000'. Works for a run of any registered model: point-cloud
    runs per shower (n_hits drawn, voxel file written), jet runs per jet (JetNet file; Pythia 8's time
    as reference; --energies unused), array runs per sample (forward and sample only). A backend a
    model cannot use (ONNX Runtime: voxel-shower runs only) is listed with the reason."""
    import json

    from hepgen.data.atomic import atomic_path, check_writable
    from hepgen.timing import benchmark_run, parse_batch_sizes, to_markdown

    for out in (json_out, markdown_out):
        if out is not None:
            check_writable(out, overwrite)
    result = benchmark_run(run_dir, parse_batch_sizes(batch_sizes), tuple(b for b in backend.split(",") if b),
                           tuple(p for p in paths.split(",") if p), repeats=repeats, threads=threads,
                           energies=energies, reference=not no_reference, max_point_s=max_point_s,
                           device=device)
    table = to_markdown(result)
    if json_out is not None:
        with atomic_path(json_out, overwrite) as tmp:
            tmp.write_text(json.dumps(result, indent=1))
    if markdown_out is not None:
        with atomic_path(markdown_out, overwrite) as tmp:
            tmp.write_text(table)
    typer.echo(table)
