"""Text summary of a shower or jet file, streamed in chunks (``hepgen info``).

>>> import numpy as np, tempfile, pathlib
>>> from hepgen.data import ShowerData, write_showers
>>> path = pathlib.Path(tempfile.mkdtemp()) / "b.h5"
>>> write_showers(path, ShowerData([1e4, 2e4], np.full((2, 25), 10.0), "belle2-ecl-5x5"))
>>> print(summarise_file(path).splitlines()[1])
format           CaloChallenge HDF5 (incident_energies, showers; MeV)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["summarise_file", "summarise_showers_file", "summarise_jets_file"]


def _size(path: Path) -> str:
    b = path.stat().st_size
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if b < 1000 or unit == "TB":
            return f"{b:.1f} {unit}" if unit != "B" else f"{b} B"
        b /= 1000
    return f"{b} B"


def _energy_histogram(e_mev: np.ndarray, bins: int = 8) -> list[str]:
    e = e_mev / 1e3
    lo, hi = e.min(), e.max()
    log = hi / max(lo, 1e-12) > 20
    edges = np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)
    if hi == lo:
        return [f"  {lo:10.4g} GeV  {'#' * 30} {len(e)}"]
    counts, _ = np.histogram(e, edges)
    width = 30 / max(counts.max(), 1)
    return [f"  {a:9.4g}-{b:<9.4g} GeV {'#' * int(round(c * width)):<30} {c}"
            for a, b, c in zip(edges, edges[1:], counts)]


def summarise_showers_file(path: str | Path, geometry: str | None = None, chunk_size: int = 10_000) -> str:
    """Format, N, geometry, incident-energy range and histogram, mean hits, E_dep/E_inc, file size.

    Implausible values (e.g. showers above twice their incident energy) do not stop the summary: each
    rule met gives one warning on stderr (see :mod:`hepgen.data.validate`)."""
    from hepgen.data.hdf5 import ShowerFile
    from hepgen.data.validate import LENIENT
    from hepgen.progress import track, warn

    path = Path(path)
    f = ShowerFile(path, geometry, policy=LENIENT)
    n_chunks = -(-len(f) // chunk_size)
    e_inc, n_hits, e_dep = [], [], []
    for chunk in track(f.chunks(chunk_size), total=n_chunks, description="reading"):
        e_inc.append(chunk.incident_energy)
        n_hits.append(chunk.n_hits(0.0))
        e_dep.append(chunk.visible_energy)
    e_inc, n_hits, e_dep = map(np.concatenate, (e_inc, n_hits, e_dep))
    for w in f.warnings:
        warn(w)
    layout = {"calochallenge": "CaloChallenge HDF5 (incident_energies, showers; MeV)",
              "ild": "ILD getting_high HDF5 (<group>/energy in GeV, <group>/layers in MeV)"}[f.layout.name]
    ratio = e_dep / e_inc
    lines = [
        f"file             {path}",
        f"format           {layout}",
        f"showers          {len(f)}",
        f"geometry         {f.geometry.describe()}",
        f"incident energy  {e_inc.min() / 1e3:.4g} - {e_inc.max() / 1e3:.4g} GeV (mean {e_inc.mean() / 1e3:.4g} GeV)",
        *_energy_histogram(e_inc),
        f"hit voxels       {n_hits.mean():.1f} per shower (> 0 MeV; min {n_hits.min()}, max {n_hits.max()}); "
        f"{100 * n_hits.mean() / f.geometry.n_voxels:.2f} % of {f.geometry.n_voxels}",
        f"E_dep / E_inc    {ratio.mean():.4f} mean, {ratio.std():.4f} std",
        f"labels           {', '.join(f.label_names) or 'none'}",
        f"compression      {f.compression or 'none'}",
        f"file size        {_size(path)} ({path.stat().st_size / len(f) / 1e3:.2f} kB per shower)",
    ]
    return "\n".join(lines)


def summarise_jets_file(path: str | Path) -> str:
    """Format, N, particle slots, mean multiplicity and jet-feature ranges of a JetNet file."""
    from hepgen.data.jetnet import read_jets

    path = Path(path)
    jets = read_jets(path)
    n = jets.n_particles
    pt, eta, mass = jets.jets[:, 0], jets.jets[:, 1], jets.jets[:, 2]
    return "\n".join([
        f"file             {path}",
        f"format           JetNet ({path.suffix or 'hdf5'}: particle_features (eta_rel, phi_rel, pt_rel, mask), "
        "jet_features)",
        f"jets             {len(jets)}{' of type ' + jets.jet_type if jets.jet_type else ''}",
        f"particle slots   {jets.n_max}",
        f"particles/jet    {n.mean():.1f} mean (min {n.min()}, max {n.max()})",
        f"jet pt           {pt.min():.4g} - {pt.max():.4g} (mean {pt.mean():.4g})",
        f"jet eta          {eta.min():.3g} - {eta.max():.3g}",
        f"jet mass         {mass.min():.4g} - {mass.max():.4g} (mean {mass.mean():.4g})",
        f"file size        {_size(path)}",
    ])


def summarise_file(path: str | Path, geometry: str | None = None, chunk_size: int = 10_000) -> str:
    """Summary of a shower file or a JetNet jet file (recognised by content)."""
    path = Path(path)
    if path.suffix in (".npy", ".npz"):
        return summarise_jets_file(path)
    from hepgen.data.hdf5 import is_jet_file

    return summarise_jets_file(path) if is_jet_file(path) else summarise_showers_file(path, geometry, chunk_size)
