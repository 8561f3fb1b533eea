"""``hepgen simulate``: GFlash reference showers written in the detector's file format."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def simulate(
    detector: str = typer.Option(..., "--detector", "-d", help="Geometry: a preset (calochallenge-2, calochallenge-3, "
                                 "ild-ecal, ild-ahcal, belle2-ecl-5x5/-10x10/-30x30) or a .yaml/.xml geometry file "
                                 "with a layer stack."),
    energy: str = typer.Option(..., "--energy", "-e", help="Incident energies: 50GeV, uniform:10GeV:100GeV, "
                               "log-uniform:1GeV:1TeV or discrete:1GeV,10GeV,100GeV."),
    n: int = typer.Option(..., "-n", "--n-showers", help="Number of showers."),
    output: Path = typer.Option(..., "--output", "-o", help="Output HDF5 file."),
    particle: str = typer.Option("photon", "--particle", "-p", help="photon, electron or positron."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; the same seed gives the same file, and "
                                       "re-running an interrupted job with it resumes the .partial file."),
    angle: float = typer.Option(0.0, "--angle", help="Incidence angle in degrees (0 = perpendicular)."),
    layout: str = typer.Option("calochallenge", "--layout", help="calochallenge (any detector) or ild "
                               "(ild-ecal / ild-ahcal, the 'getting_high' layout)."),
    chunk_size: int = typer.Option(1000, "--chunk-size", help="Showers simulated and written at a time (bounds memory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Simulate electromagnetic showers with the GFlash parameterisation (Grindhammer & Peters, hep-ex/0001020).

    Example: hepgen simulate --detector calochallenge-2 --particle electron --energy log-uniform:1GeV:1TeV
    -n 100000 -o ds2_reference.h5 --seed 1
    """
    import math

    from hepgen.simulate import simulate_to_file

    total = simulate_to_file(output, detector, energy, n, particle=particle, seed=seed,
                             incidence_angle=math.radians(angle), layout=layout, chunk_size=chunk_size,
                             overwrite=overwrite)
    typer.echo(f"wrote {total} {particle} showers in {detector} to {output}")
