"""``hepgen convert IN OUT``: between shower layouts, voxels to point clouds, and jet formats."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def convert(
    source: Path = typer.Argument(..., help="Input file (CaloChallenge/ILD shower HDF5, or JetNet .h5/.npy/.npz)."),
    target: Path = typer.Argument(..., help="Output file."),
    to: str = typer.Option("calochallenge", "--to", help="Output format: calochallenge, ild, points (one point per "
                           "hit voxel), or jetnet (jets; the suffix .h5/.npz/.npy picks the container)."),
    geometry: Optional[str] = typer.Option(None, "--geometry", "-g",
                                           help="Geometry of the input, when the file does not say."),
    compression: str = typer.Option("gzip", help="HDF5 compression of shower output: gzip, lzf or none."),
    chunk_size: int = typer.Option(10_000, help="Showers converted at a time (bounds the memory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Convert a file between formats, streaming in chunks; the output appears only when complete."""
    from hepgen.data.convert import convert_file

    n = convert_file(source, target, to=to, geometry=geometry, compression=compression,
                     chunk_size=chunk_size, overwrite=overwrite)
    typer.echo(f"wrote {n} entries to {target} ({to})")
