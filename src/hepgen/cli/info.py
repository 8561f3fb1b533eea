"""``hepgen info FILE`` and ``hepgen geometries``: what a physicist wants to know first."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def info(
    file: Path = typer.Argument(..., help="A shower file (CaloChallenge or ILD HDF5) or a jet file "
                                "(JetNet .h5/.npy/.npz)."),
    geometry: Optional[str] = typer.Option(None, "--geometry", "-g",
                                           help="Geometry name or XML/YAML file, when the file does not say."),
    chunk_size: int = typer.Option(10_000, help="Showers read at a time (bounds the memory)."),
) -> None:
    """Summarise a file: format, N, matching geometry, energy range and spectrum, hits, response, size."""
    from hepgen.report.summary import summarise_file

    typer.echo(summarise_file(file, geometry=geometry, chunk_size=chunk_size))


def geometries() -> None:
    """List the built-in detector geometries with their voxel counts and layer structure."""
    from hepgen.geometry import get_geometry, preset_names

    for name in preset_names():
        g = get_geometry(name)
        stack = ""
        if g.layer_stack is not None:
            slabs = {f"{s.material} {s.thickness_mm:g} mm{' (active)' if s.active else ''}"
                     for l in g.layer_stack for s in l}
            stack = "; " + ", ".join(sorted(slabs))
        typer.echo(f"{name:<24} {g.kind:<12} {g.n_voxels:>6} voxels  {g.n_layers:>2} layers{stack}")
