"""``hepgen generate``: sample showers from a trained run directory, streamed to an HDF5 file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def generate(
    run_dir: Path = typer.Argument(..., help="Run directory written by 'hepgen train'."),
    n: int = typer.Option(..., "-n", "--number", help="Number of showers."),
    energies: Optional[str] = typer.Option(None, "--energies", "-e", help="Incident energies (shower models): "
                                           "like:reference.h5, 50GeV, uniform:10GeV:100GeV or log-uniform:1GeV:1TeV. "
                                           "Jet models draw multiplicities themselves and write a JetNet file."),
    label: Optional[list[str]] = typer.Option(None, "--label", "-l", help="A conditioning label of the run, "
                                              "NAME=VALUE or a distribution NAME=uniform:LOW:HIGH, gauss:MEAN:SIGMA, "
                                              "discrete:A,B (in the unit of the name, e.g. theta_deg=30); "
                                              "repeatable; overrides a like: file's label."),
    output: Path = typer.Option(..., "--output", "-o", help="Output HDF5 (CaloChallenge layout)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    batch_size: int = typer.Option(1000, "--batch-size", help="Showers per chunk written."),
    compression: str = typer.Option("gzip", "--compression", help="gzip, lzf or none."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    backend: str = typer.Option("torch", "--backend", help="torch or onnxruntime (same showers within 1e-4; "
                                "the faster one per model is in docs/history.md)."),
    device: str = typer.Option("cpu", "--device", help="Where the torch model runs: cpu, cuda, cuda:1, mps ... "
                               "(same draws for the same seed on every device)."),
    workers: int = typer.Option(1, "--workers", help="Dask worker processes; > 1 makes OUTPUT a folder of shards."),
    shard_size: int = typer.Option(0, "--shard-size", help="Showers per shard (makes OUTPUT a folder of shards; "
                                   "default n / workers). Join shards with 'hepgen merge'."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run the shards on this running Dask "
                                            "cluster (tcp://host:port) instead of local workers; OUTPUT is a "
                                            "folder of shards that its workers must see (docs/dask.md)."),
) -> None:
    """Generate showers chunk by chunk; an interrupted run continues its .partial file when rerun.

    With --workers N / --shard-size M the showers are written as shards (own seed each) by a local
    Dask cluster (--scheduler ADDRESS: an existing one); a re-run skips finished shards, a shard whose worker
    died is redone, 'hepgen merge OUTPUT all.h5' joins them.

    A run trained with labels (e.g. theta_deg) takes them from --energies like:FILE or --label:
    hepgen generate RUN -n 1000 -e 10GeV --label theta_deg=uniform:0:40 --label phi_deg=0 -o tilted.h5
    """
    from hepgen.training import generate as run_generate
    from hepgen.training.generate import parse_label_options

    path = run_generate(run_dir, n, energies, output, seed=seed, batch_size=batch_size, compression=compression,
                        overwrite=overwrite, backend=backend, workers=workers, shard_size=shard_size or None,
                        device=device, scheduler=scheduler, labels=parse_label_options(label))
    kind = "jets" if energies is None else "showers"
    typer.echo(f"wrote {n} {kind} to {path}" + (" (shards; join with 'hepgen merge')" if path.is_dir() else ""))
