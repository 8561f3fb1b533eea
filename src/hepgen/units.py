"""Units and energy specifications.

hepgen works in MeV (energies) and mm (lengths). Energy specifications on the command line are
strings such as ``50GeV``, ``uniform:10GeV:100GeV``, ``log-uniform:1GeV:1TeV`` or
``discrete:1GeV,10GeV,100GeV``; :func:`parse_energy` turns one into a sampler of incident energies.
Conditioning labels (angles in degrees, positions in mm: the unit is in the label's name) are drawn from
plain-number specifications such as ``30``, ``-12.5``, ``uniform:0:40``, ``gauss:0:5`` or ``discrete:0,20,40``
(:func:`parse_value_spec`).

>>> parse_quantity("1.5TeV")
1500000.0
>>> spec = parse_energy("log-uniform:1GeV:1TeV")
>>> e = spec.sample(1000, seed=1)
>>> bool(e.min() >= 1e3 and e.max() <= 1e6)
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hepgen.errors import InputError

__all__ = ["keV", "MeV", "GeV", "TeV", "mm", "cm", "parse_quantity", "parse_energy", "EnergySpec", "ValueSpec",
           "parse_value_spec"]

keV = 1e-3
MeV = 1.0
GeV = 1e3
TeV = 1e6
mm = 1.0
cm = 10.0

_ENERGY_UNITS = {"ev": 1e-6, "kev": keV, "mev": MeV, "gev": GeV, "tev": TeV}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_quantity(text: str, default_unit: str = "MeV") -> float:
    """Parse an energy like ``'50GeV'``, ``'1.5 TeV'`` or ``'250'`` (default unit) into MeV.

    >>> parse_quantity("50GeV"), parse_quantity("250")
    (50000.0, 250.0)
    """
    m = _QUANTITY.match(str(text))
    if not m:
        raise InputError(f"cannot read energy '{text}': expected a number with a unit, e.g. 50GeV")
    value, unit = float(m.group(1)), (m.group(2) or default_unit).lower()
    if unit not in _ENERGY_UNITS:
        raise InputError(f"unknown energy unit '{m.group(2)}' in '{text}': use eV, keV, MeV, GeV or TeV")
    return value * _ENERGY_UNITS[unit]


@dataclass(frozen=True)
class EnergySpec:
    """A distribution of incident energies in MeV.

    kind is ``fixed``, ``uniform``, ``log-uniform`` or ``discrete``; values holds the energies
    (one for fixed, low/high for the ranges, the list for discrete).

    >>> EnergySpec("fixed", (5e4,)).sample(3, seed=0).tolist()
    [50000.0, 50000.0, 50000.0]
    """

    kind: str
    values: tuple[float, ...]

    def sample(self, n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Draw ``n`` incident energies in MeV (float64)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        if self.kind == "fixed":
            return np.full(n, self.values[0], dtype=np.float64)
        if self.kind == "uniform":
            return rng.uniform(self.values[0], self.values[1], n)
        if self.kind == "log-uniform":
            lo, hi = np.log(self.values[0]), np.log(self.values[1])
            return np.exp(rng.uniform(lo, hi, n))
        if self.kind == "discrete":
            return rng.choice(np.asarray(self.values, dtype=np.float64), n)
        raise InputError(f"unknown energy distribution '{self.kind}'")

    @property
    def range(self) -> tuple[float, float]:
        """(lowest, highest) energy in MeV."""
        return float(min(self.values)), float(max(self.values))


def parse_energy(text: str) -> EnergySpec:
    """Parse an incident-energy specification (see module docstring) into an :class:`EnergySpec`.

    >>> parse_energy("uniform:10GeV:100GeV")
    EnergySpec(kind='uniform', values=(10000.0, 100000.0))
    """
    text = str(text).strip()
    kind, _, rest = text.partition(":")
    kind = kind.lower()
    if not rest:
        return EnergySpec("fixed", (parse_quantity(text),))
    if kind in ("uniform", "log-uniform", "loguniform"):
        parts = rest.split(":")
        if len(parts) != 2:
            raise InputError(f"'{text}': expected {kind}:LOW:HIGH, e.g. {kind}:1GeV:1TeV")
        lo, hi = parse_quantity(parts[0]), parse_quantity(parts[1])
        if not 0 < lo < hi:
            raise InputError(f"'{text}': expected 0 < LOW < HIGH")
        return EnergySpec("log-uniform" if kind != "uniform" else "uniform", (lo, hi))
    if kind == "discrete":
        values = tuple(parse_quantity(v) for v in rest.split(",") if v.strip())
        if not values:
            raise InputError(f"'{text}': expected discrete:E1,E2,...")
        return EnergySpec("discrete", values)
    raise InputError(
        f"cannot read energy specification '{text}': expected e.g. 50GeV, uniform:10GeV:100GeV, "
        "log-uniform:1GeV:1TeV or discrete:1GeV,10GeV"
    )


@dataclass(frozen=True)
class ValueSpec:
    """A distribution of plain numbers in the unit of whatever they describe (e.g. a label ``theta_deg``: degrees).

    kind is ``fixed`` (value), ``uniform`` (low, high), ``gauss`` (mean, sigma) or ``discrete`` (the values).

    >>> ValueSpec("uniform", (0.0, 40.0)).sample(4, seed=0).round(1).tolist()
    [25.5, 10.8, 1.6, 0.7]
    """

    kind: str
    values: tuple[float, ...]

    def sample(self, n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Draw ``n`` values (float64)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        v = self.values
        if self.kind == "fixed":
            return np.full(n, v[0], dtype=np.float64)
        if self.kind == "uniform":
            return rng.uniform(v[0], v[1], n)
        if self.kind == "gauss":
            return rng.normal(v[0], v[1], n)
        if self.kind == "discrete":
            return rng.choice(np.asarray(v, dtype=np.float64), n)
        raise InputError(f"unknown value distribution '{self.kind}'")

    @property
    def range(self) -> tuple[float, float]:
        """(lowest, highest) value the distribution can give (a Gaussian: mean -+ 5 sigma)."""
        if self.kind == "gauss":
            return self.values[0] - 5 * self.values[1], self.values[0] + 5 * self.values[1]
        return float(min(self.values)), float(max(self.values))

    def text(self) -> str:
        """The specification as :func:`parse_value_spec` reads it (stored in files)."""
        v = [f"{x:g}" for x in self.values]
        if self.kind == "fixed":
            return v[0]
        return f"{self.kind}:" + (",".join(v) if self.kind == "discrete" else ":".join(v))


def _number(text: str, spec: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{what} '{spec}': '{text}' is not a number (the unit is the one in the name, "
                         "e.g. degrees for theta_deg)") from None
    if not np.isfinite(value):
        raise InputError(f"{what} '{spec}': expected finite numbers")
    return value


def parse_value_spec(text: str, what: str = "value") -> ValueSpec:
    """Parse ``30``, ``uniform:LO:HI``, ``gauss:MEAN:SIGMA`` or ``discrete:A,B,...`` (plain numbers; ``what``
    names the quantity in error messages).

    >>> parse_value_spec("30"), parse_value_spec("uniform:-10:40").values, parse_value_spec("discrete:0,20").kind
    (ValueSpec(kind='fixed', values=(30.0,)), (-10.0, 40.0), 'discrete')
    >>> parse_value_spec("gauss:0:5").text()
    'gauss:0:5'
    """
    t = str(text).strip()
    kind, _, rest = t.partition(":")
    kind = kind.lower()
    if not rest:
        return ValueSpec("fixed", (_number(t, t, what),))
    if kind in ("uniform", "gauss", "gaussian"):
        parts = [_number(p, t, what) for p in rest.split(":")]
        if len(parts) != 2:
            raise InputError(f"{what} '{t}': expected {kind}:A:B (uniform:LOW:HIGH or gauss:MEAN:SIGMA)")
        if kind == "uniform" and not parts[0] < parts[1]:
            raise InputError(f"{what} '{t}': expected uniform:LOW:HIGH with LOW < HIGH")
        if kind != "uniform" and not parts[1] > 0:
            raise InputError(f"{what} '{t}': expected gauss:MEAN:SIGMA with SIGMA > 0")
        return ValueSpec("uniform" if kind == "uniform" else "gauss", tuple(parts))
    if kind == "discrete":
        values = tuple(_number(v, t, what) for v in rest.split(",") if v.strip())
        if not values:
            raise InputError(f"{what} '{t}': expected discrete:A,B,...")
        return ValueSpec("discrete", values)
    raise InputError(f"cannot read {what} '{t}': expected a number, uniform:LOW:HIGH, gauss:MEAN:SIGMA or "
                     "discrete:A,B,...")
