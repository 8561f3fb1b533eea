"""Impact points of the incoming particle on the detector face (mm), one per shower.

The Belle II ECL study of J. Irakkathil Jabbar ("Fast Simulation of Electromagnetic Calorimeter Responses
using Deep Learning", PhD thesis, KIT (2022), §2.4, §3.4.2, §5.1) smears the gun around the centre of the
crystal array and stores the position (P_x, P_y) per shower as conditioning labels. The thesis gives three
smearings (Gaussian σ = 3 cm; uniform ±30 mm for 5×5; uniform ±40 mm for 30×30); all are available here:

==========================  ==========================================================================
specification               impact point (x, y) in mm
==========================  ==========================================================================
``0,0`` / ``center``        fixed (also any ``X,Y``, e.g. ``12.5,-3``)
``crystal``                 uniform over the central cell (±half a cell around the array centre)
``uniform:LO:HI``           uniform in [LO, HI) in x and in y
``uniform:XLO:XHI,YLO:YHI`` uniform, separate ranges
``gauss:SIGMA``             Gaussian of width SIGMA around the centre (``gauss:SX,SY`` per axis)
==========================  ==========================================================================

The positions are stored as the labels ``impact_x_mm`` and ``impact_y_mm``, declared ``linear`` (signed).

>>> spec = parse_impact("uniform:-30:30")
>>> p = spec.sample(1000, np.random.default_rng(0))
>>> p.shape, bool(p.min() >= -30 and p.max() < 30)
((1000, 2), True)
>>> parse_impact("crystal").resolve("belle2-ecl-5x5")
ImpactSpec(kind='uniform', values=(-30.0, 30.0, -30.0, 30.0))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepgen.errors import InputError
from hepgen.geometry import Geometry, get_geometry

__all__ = ["ImpactSpec", "parse_impact", "IMPACT_LABELS"]

#: the label names of the impact point (mm)
IMPACT_LABELS = ("impact_x_mm", "impact_y_mm")


@dataclass(frozen=True)
class ImpactSpec:
    """A distribution of impact points (mm): ``fixed`` (x, y), ``uniform`` (x_lo, x_hi, y_lo, y_hi),
    ``gauss`` (sigma_x, sigma_y) or ``crystal`` (the central cell, resolved against a geometry)."""

    kind: str
    values: tuple[float, ...] = ()

    def resolve(self, geometry: str | Geometry) -> "ImpactSpec":
        """``crystal`` as a uniform range over the central cell of ``geometry``; other kinds unchanged."""
        if self.kind != "crystal":
            return self
        geo = get_geometry(geometry)
        if geo.grid_shape is None:
            raise InputError(f"impact 'crystal' needs a geometry with a transverse cell grid, not '{geo.name}'")
        sx, sy = geo.cell_size_mm
        return ImpactSpec("uniform", (-sx / 2, sx / 2, -sy / 2, sy / 2))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2) float64 impact points (x, y) in mm."""
        v = self.values
        if self.kind == "fixed":
            return np.tile(np.asarray(v, dtype=np.float64), (n, 1))
        if self.kind == "uniform":
            return np.column_stack([rng.uniform(v[0], v[1], n), rng.uniform(v[2], v[3], n)])
        if self.kind == "gauss":
            return rng.normal(0.0, 1.0, (n, 2)) * np.asarray(v, dtype=np.float64)
        raise InputError(f"impact '{self.kind}': resolve it against a geometry first")

    def text(self) -> str:
        """The specification as :func:`parse_impact` reads it (stored in files)."""
        if self.kind == "crystal":
            return "crystal"
        v = [f"{x:g}" for x in self.values]
        if self.kind == "fixed":
            return ",".join(v)
        if self.kind == "uniform":
            return f"uniform:{v[0]}:{v[1]},{v[2]}:{v[3]}"
        return f"gauss:{v[0]},{v[1]}"


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(t) for t in text.replace("mm", "").split(":")]
    except ValueError:
        raise InputError(f"impact '{what}': expected numbers in mm, e.g. uniform:-30:30") from None


def parse_impact(text: str) -> ImpactSpec:
    """Read an impact-point specification (module docstring table).

    >>> parse_impact("center"), parse_impact("12.5,-3").values, parse_impact("gauss:30").values
    (ImpactSpec(kind='fixed', values=(0.0, 0.0)), (12.5, -3.0), (30.0, 30.0))
    >>> parse_impact("uniform:-40:40,-10:10").values
    (-40.0, 40.0, -10.0, 10.0)
    """
    t = str(text).strip().lower()
    if t in ("center", "centre"):
        return ImpactSpec("fixed", (0.0, 0.0))
    if t == "crystal":
        return ImpactSpec("crystal")
    kind, _, rest = t.partition(":")
    if kind == "uniform" and rest:
        parts = rest.split(",")
        ranges = [_floats(p, text) for p in parts]
        if len(ranges) == 1:
            ranges = ranges * 2
        if len(ranges) != 2 or any(len(r) != 2 or not r[0] < r[1] for r in ranges):
            raise InputError(f"impact '{text}': expected uniform:LO:HI or uniform:XLO:XHI,YLO:YHI with LO < HI (mm)")
        return ImpactSpec("uniform", tuple(ranges[0] + ranges[1]))
    if kind in ("gauss", "gaussian") and rest:
        sig = [_floats(p, text)[0] for p in rest.split(",")]
        if len(sig) == 1:
            sig = sig * 2
        if len(sig) != 2 or min(sig) <= 0:
            raise InputError(f"impact '{text}': expected gauss:SIGMA or gauss:SX,SY with widths > 0 (mm)")
        return ImpactSpec("gauss", tuple(sig))
    if not rest:
        xy = t.replace("mm", "").split(",")
        try:
            if len(xy) == 2:
                return ImpactSpec("fixed", (float(xy[0]), float(xy[1])))
        except ValueError:
            pass
    raise InputError(f"cannot read impact point '{text}': expected X,Y (mm), center, crystal, uniform:LO:HI, "
                     "uniform:XLO:XHI,YLO:YHI or gauss:SIGMA")
