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
                                           help="photon (default), electron, positron, or pion (also pi+, "
                                           "pi-: the parameterised hadronic model, docs/hadronic.md)."),
    tune: Optional[str] = typer.Option(None, "--tune", help="Pions: the hadronic parameter set, hadronic-a "
                                       "(default; e/h 1.4, a QGSP_BERT stand-in) or hadronic-b (e/h 1.3, more em, "
                                       "longer; an FTFP_BERT stand-in)."),
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
    angle: float = typer.Option(0.0, "--angle", help="Incidence angle in degrees (0 = perpendicular), the same for "
                                "every shower and not stored as a label (see --theta)."),
    theta: Optional[str] = typer.Option(None, "--theta", help="Polar angle of the shower axis per shower, degrees "
                                        "(signed; |theta| < 85): 30 (fixed), uniform:0:40, gauss:MEAN:SIGMA or "
                                        "discrete:0,20,40. Stored with phi as the labels theta_deg, phi_deg."),
    phi: Optional[str] = typer.Option(None, "--phi", help="Azimuth of the tilt in the layer plane, degrees from the x "
                                      "axis towards y (default 0), e.g. uniform:0:360; same forms as --theta."),
    layout: str = typer.Option("calochallenge", "--layout", help="calochallenge (any detector) or ild "
                               "(ild-ecal / ild-ahcal, the 'getting_high' layout)."),
    chunk_size: int = typer.Option(1000, "--chunk-size",
                                   help="Showers simulated and written at a time (bounds memory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    visible_energy: bool = typer.Option(False, "--visible-energy", help="calochallenge-2/-3: write the energy seen "
                                        "in the silicon instead of the challenge's calibrated energies (visible / "
                                        "sampling fraction, E_tot/E_inc close to 1); the file's attribute "
                                        "energy_convention says which."),
    workers: int = typer.Option(1, "--workers", help="Dask worker processes; > 1 makes OUTPUT a folder of shards "
                                "(one seed per shard, derived from --seed; join with 'hepgen merge')."),
    shard_size: int = typer.Option(0, "--shard-size", help="Showers per shard (makes OUTPUT a folder of shards; "
                                   "default n / workers)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run the shards on this running Dask "
                                            "cluster (tcp://host:port); OUTPUT is a folder of shards that its "
                                            "workers must see (docs/dask.md)."),
) -> None:
    """Simulate electromagnetic showers with the GFlash parameterisation (Grindhammer & Peters, hep-ex/0001020),
    or pion showers with the parameterised hadronic model (docs/hadronic.md).

    Example: hepgen simulate --detector calochallenge-2 --particle electron --energy log-uniform:1GeV:1TeV
    -n 100000 -o ds2_reference.h5 --seed 1

    Pions in the ILD AHCAL: hepgen simulate -d ild-ahcal -p pion -e uniform:10GeV:100GeV -n 10000 -o pions.h5
    --seed 1 --tune hadronic-b

    Belle II ECL (Irakkathil Jabbar, PhD thesis, KIT 2022): hepgen simulate --preset belle2-ecl-5x5-train
    -n 40000 -o train.h5 --seed 1

    Sharded on a Dask cluster: hepgen simulate -d calochallenge-2 -e log-uniform:1GeV:1TeV -n 1000000
    --shard-size 10000 --seed 1 --scheduler tcp://host:8786 -o ds2_shards; hepgen merge ds2_shards ds2.h5

    Tilted showers (labels theta_deg, phi_deg): hepgen simulate -d ild-ecal -e 10GeV -n 10000 --theta uniform:0:40
    --phi uniform:0:360 -o tilted.h5 --seed 1
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

    if workers > 1 or shard_size or scheduler:
        settings = dict(geometry=detector, energy=energy, particle=particle, incidence_angle=math.radians(angle),
                        layout=layout, chunk_size=chunk_size, visible_energy=visible_energy, impact=impact,
                        theta_deg=theta, phi_deg=phi, tune=tune)
        folder = simulate_sharded(output, n, seed, workers, shard_size or -(-n // max(1, workers)), scheduler,
                                  settings)
        typer.echo(f"wrote {n} {particle} showers in {detector} to {folder} (shards; join with 'hepgen merge')")
        return
    total = simulate_to_file(output, detector, energy, n, particle=particle, seed=seed,
                             incidence_angle=math.radians(angle), layout=layout, chunk_size=chunk_size,
                             overwrite=overwrite, visible_energy=visible_energy, impact=impact, theta_deg=theta,
                             phi_deg=phi, tune=tune)
    typer.echo(f"wrote {total} {particle} showers in {detector} to {output}")


simulate_app.command("jets")(simulate_jets)
simulate_app.command("susy")(simulate_susy)


def simulate_shard(shard, path: Path, **settings) -> None:
    """Dask task of a sharded simulation: ``shard.n`` GFlash showers seeded by ``shard.seed`` into ``path``."""
    from hepgen.simulate import simulate_to_file

    simulate_to_file(path, n=shard.n, seed=shard.seed, quiet=True, **settings)


def simulate_sharded(folder: Path, n: int, seed: Optional[int], workers: int, shard_size: int,
                     scheduler: Optional[str], settings: dict) -> Path:
    """Simulate ``n`` showers as a folder of shards (:class:`hepgen.data.shards.ShardManifest`) on ``workers``
    local Dask processes or the cluster at ``scheduler``; ``settings`` are :func:`hepgen.simulate.simulate_to_file`
    keywords. Without ``seed`` the folder's manifest seed is reused (a re-run completes it) or one is drawn.
    A re-run skips finished shards; the result depends on the seed and shard size, not on the workers."""
    import secrets
    import tempfile
    from functools import partial

    from hepgen.data.shards import MANIFEST, ShardManifest
    from hepgen.errors import InputError
    from hepgen.simulate import simulate_to_file
    from hepgen.training.sharded import run_sharded

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("with --workers/--shard-size/--scheduler the output is a folder of shards, not a file",
                         file=str(folder))
    if Path(settings["geometry"]).is_file():  # a geometry file: the same file on every worker
        settings = {**settings, "geometry": str(Path(settings["geometry"]).resolve())}
    with tempfile.TemporaryDirectory() as scratch:  # bad options fail here, in one line, before any worker starts
        simulate_to_file(Path(scratch) / "check.h5", n=1, seed=0, quiet=True, **settings)
    if seed is None:
        seed = ShardManifest.load(folder).seed if (folder / MANIFEST).is_file() else secrets.randbits(32)
    manifest = ShardManifest.plan(folder, n, shard_size, seed, str(settings["geometry"]),
                                  {k: v for k, v in settings.items() if k != "chunk_size"})
    run_sharded(partial(simulate_shard, **settings), manifest, workers=workers, scheduler=scheduler)
    return folder
