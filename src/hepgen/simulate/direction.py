"""Directions of the incoming particle, one per shower: polar angle theta and azimuth phi (degrees).

theta is the angle between the shower axis and the detector's depth axis (0 = perpendicular incidence),
phi the azimuth of the tilt in the layer plane, measured from the x axis (cylinders: from alpha = 0) towards y.
The axis enters the front face at the impact point (:mod:`hepgen.simulate.impact`; the centre by default) and
crosses a slab at depth z (mm) at the lateral offset z tan(theta) (cos phi, sin phi). theta may be signed: a
negative theta tilts towards phi + 180 degrees, so ``--theta uniform:-30:30`` with phi = 0 sweeps the x-z plane.

Each angle is a plain-number specification (:func:`hepgen.units.parse_value_spec`): ``30``, ``uniform:0:40``,
``gauss:0:5``, ``discrete:0,20,40``. The values are stored as the labels ``theta_deg`` and ``phi_deg``
(degrees, declared ``linear``), both whenever either angle is given.

>>> spec = parse_direction("uniform:0:40", None)
>>> a = spec.sample(1000, np.random.default_rng(0))
>>> a.shape, bool(a[:, 0].min() >= 0 and a[:, 0].max() < 40), bool(np.all(a[:, 1] == 0))
((1000, 2), True, True)
>>> spec.text()
'theta=uniform:0:40;phi=0'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepgen.errors import InputError
from hepgen.units import ValueSpec, parse_value_spec

__all__ = ["DirectionSpec", "parse_direction", "check_theta_deg", "DIRECTION_LABELS", "MAX_THETA_DEG"]

#: the label names of the direction (degrees)
DIRECTION_LABELS = ("theta_deg", "phi_deg")
#: largest |theta| (degrees) the simulator takes: the path through a slab grows as 1 / cos(theta)
MAX_THETA_DEG = 85.0


@dataclass(frozen=True)
class DirectionSpec:
    """Distributions of theta and phi (degrees)."""

    theta: ValueSpec
    phi: ValueSpec

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2) float64 (theta, phi) in degrees; theta first, then phi from the same stream."""
        theta = check_theta_deg(self.theta.sample(n, rng))
        return np.column_stack([theta, self.phi.sample(n, rng)])

    def text(self) -> str:
        """``theta=SPEC;phi=SPEC`` (stored in files)."""
        return f"theta={self.theta.text()};phi={self.phi.text()}"


def check_theta_deg(theta_deg: np.ndarray) -> np.ndarray:
    """``theta_deg`` unchanged, or InputError naming the first angle outside |theta| < MAX_THETA_DEG.

    >>> check_theta_deg(np.array([10.0, 95.0]))
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: incidence angle theta = 95 deg (shower 1): expected |theta| < 85 deg
    """
    theta_deg = np.asarray(theta_deg, dtype=np.float64)
    bad = np.flatnonzero(~(np.abs(theta_deg) < MAX_THETA_DEG))
    if len(bad):
        raise InputError(f"incidence angle theta = {theta_deg[bad[0]]:g} deg (shower {bad[0]}): expected "
                         f"|theta| < {MAX_THETA_DEG:g} deg")
    return theta_deg


def parse_direction(theta: str | ValueSpec | None, phi: str | ValueSpec | None) -> DirectionSpec:
    """The direction of ``--theta`` / ``--phi`` (degrees; a missing one is 0).

    >>> parse_direction(None, "uniform:0:360").text()
    'theta=0;phi=uniform:0:360'
    >>> parse_direction("uniform:0:90", None)
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: theta 'uniform:0:90': expected |theta| < 85 deg
    """
    def spec(value, what: str) -> ValueSpec:
        if value is None:
            return ValueSpec("fixed", (0.0,))
        return value if isinstance(value, ValueSpec) else parse_value_spec(value, what)

    t, p = spec(theta, "theta"), spec(phi, "phi")
    if t.kind != "gauss" and max(abs(v) for v in t.range) >= MAX_THETA_DEG:
        raise InputError(f"theta '{t.text()}': expected |theta| < {MAX_THETA_DEG:g} deg")
    return DirectionSpec(t, p)
