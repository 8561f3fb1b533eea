"""``hepgen simulate``: GFlash reference showers in the detector's file format; ``hepgen simulate jets``: Pythia 8
jets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hepgen.cli.jets import simulate_jets
from hepgen.cli.susy import simulate_susy


simulate_app = typer.Typer(
    invoke_without_command=True, no_args_is_help=True,
    help="Reference samples: calorimeter showers with GFlash (options below), or jets with Pythia 8 "
    "(`hepgen simulate jets --help`), or SUSY-search events (`hepgen simulate susy --help`).")


@simulate_app.callback()
def simulate(
    ctx: typer.Context,
    detector: Optional[str] = typer.Option(None, "--detector", "-d", help="Geometry: a preset (calochallenge-2, "
                                 "calochallenge-3, ild-ecal, ild-ahcal, belle2-ecl-5x5/-10x10/-30x30) or a "
                                 ".yaml/.xml geometry file with a layer stack."),
    energy: Optional[str] = typer.Option(None, "--energy", "-e", help="Incident energies: 50GeV, uniform:10GeV:100GeV, "
                               "log-uniform:1GeV:1TeV or discrete:1GeV,10GeV,100GeV."),
    n: Optional[int] = typer.Option(None, "-n", "--n-showers", help="Number of showers."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output HDF5 file."),
    particle: Optional[str] = typer.Option(None, "--particle", "-p",
                                           help="photon (default), electron or positron."),
    impact: Optional[str] = typer.Option(None, "--impact", help="Impact point per shower (mm), stored as the labels "
                                         "impact_x_mm, impact_y_mm: X,Y (fixed), center, crystal (uniform over the "
                                         "central cell), uniform:LO:HI, uniform:XLO:XHI,YLO:YHI or gauss:SIGMA. "
                                         "Default: the detector's centre, no labels."),
    preset: Optional[str] = typer.Option(None, "--preset", help="A published sample: belle2-ecl-5x5-train / "
                                         "-holdout / -all (e- 0.5-2.5 GeV, 2 GeV held out, impact uniform +-30 mm), "
                                         "belle2-ecl-30x30-train / -holdout / -all (10-25 GeV, 13 GeV held out, "
                                         "+-40 mm); options given explicitly override it."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; the same seed gives the same file, and "
                                       "re-running an interrupted job with it resumes the .partial file. Without "
                                       "it a seed is drawn and recorded in the file (attribute 'seed')."),
    angle: float = typer.Option(0.0, "--angle", help="Incidence angle in degrees (0 = perpendicular)."),
    layout: str = typer.Option("calochallenge", "--layout", help="calochallenge (any detector) or ild "
                               "(ild-ecal / ild-ahcal, the 'getting_high' layout)."),
    chunk_size: int = typer.Option(1000, "--chunk-size",
                                   help="Showers simulated and written at a time (bounds memory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    visible_energy: bool = typer.Option(False, "--visible-energy", help="calochallenge-2/-3: write the energy seen "
                                        "in the silicon instead of the challenge's calibrated energies (visible / "
                                        "sampling fraction, E_tot/E_inc close to 1); the file's attribute "
                                        "energy_convention says which."),
) -> None:
    """Simulate electromagnetic showers with the GFlash parameterisation (Grindhammer & Peters, hep-ex/0001020).

    Example: hepgen simulate --detector calochallenge-2 --particle electron --energy log-uniform:1GeV:1TeV
    -n 100000 -o ds2_reference.h5 --seed 1

    Belle II ECL (Irakkathil Jabbar, PhD thesis, KIT 2022): hepgen simulate --preset belle2-ecl-5x5-train
    -n 40000 -o train.h5 --seed 1
    """
    if ctx.invoked_subcommand is not None:
        return
    if preset is not None:
        from hepgen.simulate.presets import sample_preset

        options = sample_preset(preset)
        detector = detector or options["detector"]
        energy = energy or options["energy"]
        particle = particle or options["particle"]
        impact = impact or options["impact"]
    particle = particle or "photon"
    missing = [flag for flag, v in (("--detector", detector), ("--energy", energy), ("-n", n), ("--output", output))
               if v is None]
    if missing:
        raise typer.BadParameter(f"missing {', '.join(missing)} (see hepgen simulate --help)")
    import math

    from hepgen.simulate import simulate_to_file

    total = simulate_to_file(output, detector, energy, n, particle=particle, seed=seed,
                             incidence_angle=math.radians(angle), layout=layout, chunk_size=chunk_size,
                             overwrite=overwrite, visible_energy=visible_energy, impact=impact)
    typer.echo(f"wrote {total} {particle} showers in {detector} to {output}")


simulate_app.command("jets")(simulate_jets)
simulate_app.command("susy")(simulate_susy)
