"""``hepgen merge SHARDS OUT``: join the shard files of a sharded generation."""

from __future__ import annotations

from pathlib import Path

import typer


def merge(
    shards: Path = typer.Argument(..., help="Folder with manifest.json and shard-*.h5 files."),
    output: Path = typer.Argument(..., help="Merged shower file (CaloChallenge layout)."),
    compression: str = typer.Option("gzip", help="gzip (CaloChallenge default), lzf or none."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Concatenate all shards in order; refuses while any shard is unfinished."""
    from hepgen.data.shards import merge_shards

    n = merge_shards(shards, output, overwrite=overwrite, compression=compression)
    typer.echo(f"merged {n} showers into {output}")
