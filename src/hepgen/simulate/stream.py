"""Streaming simulation into a shower file: chunked, resumable, identical for a seed whatever the chunking.

Block k of :data:`~hepgen.simulate.gflash.BLOCK` showers draws its incident energies from
``SeedSequence(seed, spawn_key=(k, 0))`` and its showers from ``(k, 1)``; chunks are whole blocks, so a
run interrupted after any chunk continues from the ``.partial`` file (:class:`hepgen.data.ShowerWriter`
with ``resume=True``) and produces the same file as an uninterrupted run.

>>> import tempfile, pathlib
>>> from hepgen.data import read_showers
>>> path = pathlib.Path(tempfile.mkdtemp()) / "b.h5"
>>> simulate_to_file(path, "belle2-ecl-5x5", "uniform:1GeV:2GeV", 40, seed=7, quiet=True)
40
>>> s = read_showers(path)
>>> len(s), bool(s.incident_energy.min() >= 1e3)
(40, True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgen.geometry import Geometry, get_geometry
from hepgen.progress import ProgressBar, set_quiet, is_quiet
from hepgen.errors import InputError, about_file
from hepgen.units import EnergySpec, parse_energy
from hepgen.simulate.direction import DIRECTION_LABELS, DirectionSpec, parse_direction
from hepgen.simulate.gflash import BLOCK, HADRONS, block_rng, check_particle, simulate_block, simulator
from hepgen.simulate.impact import IMPACT_LABELS, ImpactSpec, parse_impact
from hepgen.units import ValueSpec

__all__ = ["simulate_to_file", "block_energies"]


def block_energies(spec: EnergySpec, entropy: int, block: int) -> np.ndarray:
    """The BLOCK incident energies (MeV) of block ``block`` of a run.

    >>> e = block_energies(parse_energy("50GeV"), 1, 0)
    >>> e.shape, float(e[0])
    ((32,), 50000.0)
    """
    return spec.sample(BLOCK, block_rng(entropy, block, 0))


def simulate_to_file(path: str | Path, geometry: str | Geometry, energy: str | EnergySpec, n: int,
                     particle: str = "photon", seed: int | None = None, incidence_angle: float = 0.0,
                     layout: str = "calochallenge", chunk_size: int = 1000, overwrite: bool = False,
                     compression: str = "gzip", quiet: bool | None = None, visible_energy: bool = False,
                     impact: str | ImpactSpec | None = None, theta_deg: str | ValueSpec | None = None,
                     phi_deg: str | ValueSpec | None = None, tune: str | None = None) -> int:
    """Simulate ``n`` showers with incident energies from ``energy`` (e.g. ``log-uniform:1GeV:1TeV``) into ``path``.

    Re-running with the same arguments (and a ``seed``) after an interruption continues the ``.partial``
    file; a partial file written with other settings is refused (``overwrite`` starts over). Without a
    ``seed`` one is drawn and recorded in the file's ``seed`` attribute (a decimal string): passing it as
    ``seed`` repeats the run exactly. Returns the number of showers in the finished file. CaloChallenge ds2/3 files
    hold calibrated
    energies (visible / sampling fraction, the challenge's convention) unless ``visible_energy``; the file's
    attributes ``energy_convention`` and ``sampling_fraction`` say which. ``impact`` (e.g. ``crystal``,
    ``uniform:-30:30``, ``0,0``; :func:`hepgen.simulate.impact.parse_impact`) draws an impact point per shower
    from block k's stream ``(k, 2)`` and stores it as the labels ``impact_x_mm``, ``impact_y_mm`` (mm, declared
    linear); the file's ``impact`` attribute holds the specification. ``theta_deg`` / ``phi_deg`` (e.g. ``30``,
    ``uniform:0:40``; :mod:`hepgen.simulate.direction`) tilt each shower's axis, drawn from block k's stream
    ``(k, 3)``, and are stored as the labels ``theta_deg``, ``phi_deg`` (degrees, declared linear); the file's
    ``direction`` attribute holds the specification. Pions (``pion``, ``pi+``, ``pi-``) are
    simulated with the hadronic model (:mod:`hepgen.simulate.hadronic`) and its parameter set ``tune``
    (default ``hadronic-a``), recorded in the file's ``tune`` attribute.
    """
    from hepgen.data import ShowerData, ShowerWriter

    if n < 1:
        raise InputError(f"number of showers must be >= 1, got {n}")
    check_particle(particle)
    hadron = particle in HADRONS
    if tune is not None and not hadron:
        raise InputError(f"a hadronic tune ('{tune}') applies to pions, not to {particle}s")
    tune = (tune or "hadronic-a") if hadron else None
    spec = parse_energy(energy) if isinstance(energy, str) else energy
    if min(spec.values) <= 0:
        raise InputError(f"incident energies must be positive, got {spec}")
    geometry_file = str(geometry) if isinstance(geometry, (str, Path)) and Path(geometry).is_file() else None
    if geometry_file:  # a geometry file is an input too
        from hepgen.data.atomic import check_not_input, partial_path

        for target in (path, partial_path(path)):
            check_not_input(target, [geometry_file], "output")
    with about_file(geometry_file):
        geo = get_geometry(geometry)
        det, hadron_block = simulator(geo, particle, visible_energy, tune or "hadronic-a")
    if seed is not None and int(seed) < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    if int(chunk_size) < 1:
        raise InputError(f"chunk size must be >= 1, got {chunk_size}")
    impact_spec = None
    if impact is not None:
        impact_spec = (parse_impact(impact) if isinstance(impact, str) else impact).resolve(geo)
        if geo.grid_shape is None and geo.r_edges is None:
            raise InputError(f"geometry '{geo.name}': impact points need a Cartesian or cylindrical readout")
    direction: DirectionSpec | None = None
    if theta_deg is not None or phi_deg is not None:
        direction = parse_direction(theta_deg, phi_deg)
        if incidence_angle:
            raise InputError("give the incidence angle either as --angle (no labels) or as --theta (labels), not both")
        if geo.grid_shape is None and geo.r_edges is None:
            raise InputError(f"geometry '{geo.name}': tilted showers need a Cartesian or cylindrical readout")
        if hadron:
            raise InputError(f"tilted {particle} showers per shower (--theta/--phi) are not modelled by the hadronic "
                             "parameterisation: give one incidence angle (--angle)")
    resumable = seed is not None
    entropy = int(np.random.SeedSequence(seed).entropy)  # seed itself when given (SeedSequence(s).entropy == s)
    chunk_blocks = max(1, -(-int(chunk_size) // BLOCK))
    # the seed as a decimal string: a drawn one has 128 bits, more than an HDF5 integer attribute holds
    name = ("hepgen hadronic GFlash-type (Grindhammer, Rudowicz & Peters, NIM A290 (1990) 469)" if hadron
            else "hepgen GFlash (Grindhammer & Peters, hep-ex/0001020)")
    meta = {"simulator": name, "seed": str(entropy), "tune": tune,
            "particle": particle, "energy_spec": f"{spec.kind}:{','.join(repr(v) for v in spec.values)}",
            "n_showers": int(n), "incidence_angle": float(incidence_angle), "block_size": BLOCK,
            "energy_convention": det.energy_convention, "sampling_fraction": det.sampling_fraction,
            "impact": None if impact_spec is None else impact_spec.text(),
            "direction": None if direction is None else direction.text()}
    labels = (IMPACT_LABELS if impact_spec is not None else ()) + (DIRECTION_LABELS if direction is not None else ())
    old_quiet = is_quiet()
    if quiet is not None:
        set_quiet(quiet)
    try:
        with ShowerWriter(path, geo, layout=layout, compression=compression, overwrite=overwrite,
                          resume=resumable, metadata=meta, labels=labels,
                          label_scales={k: "linear" for k in labels}) as writer:
            done = writer.n_written
            if done > n:
                raise InputError(f"the partial file holds {done} showers, more than the {n} asked for",
                                 file=str(writer.partial))
            with ProgressBar(total=n, description=f"simulating {particle}s in {geo.name}",
                             completed=done) as bar:
                block = done // BLOCK
                skip = done - block * BLOCK
                n_blocks = -(-n // BLOCK)
                while block < n_blocks:
                    stop = min(block + chunk_blocks, n_blocks)
                    energies, showers, points, angles = [], [], [], []
                    for k in range(block, stop):
                        e = block_energies(spec, entropy, k)[: n - k * BLOCK]
                        p = None if impact_spec is None else \
                            impact_spec.sample(BLOCK, block_rng(entropy, k, 2))[:len(e)]
                        a = None if direction is None else direction.sample(BLOCK, block_rng(entropy, k, 3))[:len(e)]
                        if hadron:
                            showers.append(hadron_block(det, e, block_rng(entropy, k, 1), particle, incidence_angle, p))
                        else:   # simulate_block: the module's name, looked up here (tests patch it)
                            theta, phi = (incidence_angle, 0.0) if a is None else np.radians(a.T)
                            showers.append(simulate_block(det, e, block_rng(entropy, k, 1), particle, theta, p, phi))
                        energies.append(e)
                        points.append(p)
                        angles.append(a)
                    lab = {} if impact_spec is None else dict(zip(IMPACT_LABELS, np.concatenate(points)[skip:].T))
                    if direction is not None:
                        lab.update(zip(DIRECTION_LABELS, np.concatenate(angles)[skip:].T))
                    chunk = ShowerData(np.concatenate(energies)[skip:], np.concatenate(showers)[skip:], geo,
                                       lab)
                    writer.append(chunk)
                    bar.advance(len(chunk))
                    skip, block = 0, stop
            total = writer.n_written
    finally:
        set_quiet(old_quiet)
    return total
