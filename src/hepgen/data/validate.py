"""What a valid input file is: every rule in one place, applied by every reader.

Two kinds of rule:

* **unreadable** — the data cannot be read or are not numbers: a missing or mistyped dataset (a group,
  strings, compound, complex or bool values), storage outside the file (external or virtual HDF5
  datasets), NaN or infinity (also after the cast to the reader's float type, e.g. float64 1e39 ->
  float32 inf), negative deposits or momenta, incident energies <= 0, impossible counts. Always refused.
* **implausible** — readable numbers no detector produces: a shower holding more than
  :data:`MAX_RESPONSE` x its incident energy (incident energies in GeV where MeV is expected, deposits
  in keV), a single voxel above that, incident energies outside :data:`INCIDENT_RANGE_MEV`. Refused by
  the :data:`STRICT` policy (``convert``, ``train``); the :data:`LENIENT` policy (``info``,
  ``evaluate``) reads on and collects one warning per rule, because the user needs the report that
  shows how bad a (e.g. untrained) generator's output is.

Each failure names the file, dataset and first bad index in one :class:`~hepgen.errors.InputError` line.

>>> import numpy as np
>>> check_showers(np.array([5e4]), np.array([[1.0, np.nan]]), file="x.h5")
Traceback (most recent call last):
...
hepgen.errors.InputError: x.h5: dataset 'showers': index 0: NaN or infinite voxel energy; expected finite MeV values
>>> v = Validator("gen.h5", LENIENT)
>>> v.showers(np.array([1e3, 1e3]), np.array([[10.0, 5e4], [1.0, 2.0]], np.float32))
>>> v.warnings  # doctest: +NORMALIZE_WHITESPACE
["gen.h5: dataset 'showers': index 0: a single voxel holds 5e+04 MeV, 50 x the incident energy
 (expected at most 2 x); 1 of 2 showers read"]
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from hepgen.errors import InputError

__all__ = ["check_showers", "Validator", "FLOAT_KINDS", "NUMBER_KINDS", "INT_KINDS", "Rule", "RULES", "STRICT",
           "LENIENT", "NEGATIVE_TOLERANCE_MEV", "MAX_RESPONSE", "INCIDENT_RANGE_MEV", "read_errors",
           "describe_os_error"]

STRICT = "strict"
LENIENT = "lenient"

# Deposits more negative than this are an error; tiny negative values (float round-off in a model's
# inverse preprocessing) are tolerated by readers and clipped by writers.
NEGATIVE_TOLERANCE_MEV = -1e-6
# A shower (or one voxel) cannot hold more than this multiple of its incident energy.
MAX_RESPONSE = 2.0
# Incident energies outside 1 keV - 100 TeV are not calorimeter showers (or the unit is wrong).
INCIDENT_RANGE_MEV = (1e-3, 1e8)


@dataclass(frozen=True)
class Rule:
    """One check: its name, kind (``unreadable`` or ``implausible``) and its message."""

    name: str
    kind: str
    message: str


RULES = {r.name: r for r in (
    Rule("dtype", "unreadable", "values of type {dtype}; expected {expected}"),
    Rule("storage", "unreadable", "data stored outside the file ({how}); expected a dataset stored in the file"),
    Rule("not_dataset", "unreadable", "is a {kind}, expected a dataset"),
    Rule("nonfinite", "unreadable", "NaN or infinite {what}; expected finite {unit} values"),
    Rule("overflow", "unreadable", "{what} {value:g} overflows {dtype} (largest {largest:.3g}); expected finite {unit} "
         "values"),
    Rule("incident_nonpositive", "unreadable", "incident energy {value:g} <= 0; expected positive {unit}"),
    Rule("negative_deposit", "unreadable", "negative voxel energy {value:g} MeV; expected deposits >= 0"),
    Rule("negative", "unreadable", "negative {what} {value:g}; expected {what} >= 0"),
    Rule("count", "unreadable", "{what} {value:g}; expected {expected}"),
    Rule("response", "implausible", "the shower holds {value:.3g} x its incident energy "
         "(expected at most {limit:g} x): "
         "incident energies look like GeV where {unit} is expected, or deposits like keV where MeV is expected"),
    Rule("huge_voxel", "implausible", "a single voxel holds {value:.3g} MeV, {ratio:.3g} x the incident energy "
         "(expected at most {limit:g} x)"),
    Rule("incident_range", "implausible", "incident energy {value:.3g} MeV outside the plausible range "
         "{lo:g}-{hi:g} MeV (1 keV - 100 TeV); expected MeV"),
)}

FLOAT_KINDS = "f"           # energies: float16/32/64
NUMBER_KINDS = "fiu"        # incident energies, labels: floats or integers (not bool)
INT_KINDS = "iu"            # counts and indices


def describe_os_error(exc: BaseException) -> str:
    """Short reason for an ``OSError`` from h5py or the OS: permission denied, locked, or corrupt.

    >>> describe_os_error(PermissionError(13, "Permission denied"))
    'permission denied'
    >>> describe_os_error(OSError("Unable to open file (unable to lock file, errno = 11)"))
    'file is locked by another process (still being written?); wait for it or read a copy'
    """
    text = str(exc)
    if isinstance(exc, PermissionError) or "errno = 13" in text or "Permission denied" in text:
        return "permission denied"
    if isinstance(exc, BlockingIOError) or "unable to lock file" in text or "errno = 11," in text:
        return "file is locked by another process (still being written?); wait for it or read a copy"
    if "errno = 40" in text or "Too many levels of symbolic links" in text:
        return "symbolic link loop"
    text = re.sub(r"\s+", " ", text.split("(errno")[0].split(", errno")[0]).strip()
    return f"not a readable HDF5 file (truncated or corrupt?): {text}" if text else \
        "not a readable HDF5 file (truncated or corrupt?)"


@contextmanager
def read_errors(file: str, dataset: str | None = None) -> Iterator[None]:
    """Turn any error of the HDF5/NumPy layer inside the block into one :class:`InputError` line.

    >>> with read_errors("a.h5", "showers"):
    ...     raise KeyError("Unable to open object (component not found)")
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: a.h5: dataset 'showers': cannot read: 'Unable to open object (component not found)'
    """
    try:
        yield
    except InputError:
        raise
    except OSError as exc:
        reason = describe_os_error(exc)
        if reason.startswith("not a readable"):
            reason = "cannot read: " + re.sub(r"\s+", " ", str(exc).split("(errno")[0]).strip()
        raise InputError(reason, file=file, dataset=dataset) from None
    except (KeyError, RuntimeError, TypeError, ValueError, EOFError, IndexError) as exc:
        text = re.sub(r"\s+", " ", str(exc))[:200]
        raise InputError(f"cannot read: {text}", file=file, dataset=dataset) from None


def _message(rule: str, values: dict[str, Any]) -> str:
    return re.sub(r"  +", " ", RULES[rule].message.format(**values))


class Validator:
    """Applies :data:`RULES` to the data of one file.

    Parameters
    ----------
    file: the file name used in messages.
    policy: :data:`STRICT` (every failure raises) or :data:`LENIENT` (implausible values become
        :attr:`warnings`; unreadable ones still raise).
    """

    def __init__(self, file: str | None = None, policy: str = STRICT) -> None:
        if policy not in (STRICT, LENIENT):
            raise ValueError(f"policy must be '{STRICT}' or '{LENIENT}', got {policy!r}")
        self.file = None if file is None else str(file)
        self.policy = policy
        self._found: dict[str, list[Any]] = {}     # rule -> [first message, rows that break it]
        self._rows = 0

    # -- reporting ---------------------------------------------------------------------------
    def fail(self, rule: str, dataset: str | None = None, index: int | None = None, **values: Any) -> None:
        """Raise the rule's :class:`InputError` (whatever the policy)."""
        raise InputError(_message(rule, values), file=self.file, dataset=dataset, index=index)

    def flag(self, rule: str, n_bad: int, dataset: str | None = None, index: int | None = None,
             **values: Any) -> None:
        """An implausible finding in ``n_bad`` rows: raise (strict) or remember (lenient)."""
        if RULES[rule].kind != "implausible" or self.policy == STRICT:
            self.fail(rule, dataset, index, **values)
        if rule not in self._found:
            msg = str(InputError(_message(rule, values), file=self.file, dataset=dataset, index=index))
            self._found[rule] = [msg, 0]
        self._found[rule][1] += n_bad

    def seen(self, n_rows: int) -> None:
        """Count rows read (for the 'k of n' in warnings)."""
        self._rows += n_rows

    @property
    def warnings(self) -> list[str]:
        """One line per implausible rule met: the first occurrence and how many rows had it."""
        return [f"{msg}; {n} of {self._rows} showers read" for msg, n in self._found.values()]

    # -- storage and types ----------------------------------------------------------------------
    def dataset(self, h5: Any, name: str, kinds: str, expected: str) -> Any:
        """The h5py dataset ``name``: present, a dataset, stored in the file, of a dtype kind in ``kinds``."""
        import h5py

        with read_errors(self.file, name):
            link = h5.get(name, getlink=True)
            if link is None:
                raise InputError("dataset missing", file=self.file, dataset=name)
            obj = h5.get(name)
            if obj is None:
                how = "external link" if isinstance(link, h5py.ExternalLink) else "soft link"
                raise InputError(f"dangling {how}; expected a dataset", file=self.file, dataset=name)
            if not isinstance(obj, h5py.Dataset):
                self.fail("not_dataset", name, kind=type(obj).__name__.lower())
            if isinstance(link, h5py.ExternalLink):
                self.fail("storage", name, how=f"external link to {link.filename}")
            if obj.is_virtual:
                self.fail("storage", name, how="virtual dataset")
            if obj.external:
                self.fail("storage", name, how="external raw storage")
            self.check_dtype(obj.dtype, name, kinds, expected)
            return obj

    def check_dtype(self, dtype: np.dtype, dataset: str, kinds: str, expected: str) -> None:
        """Refuse a dtype whose kind is not in ``kinds`` (e.g. complex, bool, strings, compound)."""
        dtype = np.dtype(dtype)
        if dtype.kind not in kinds or dtype.fields is not None or dtype.shape:
            self.fail("dtype", dataset, dtype=str(dtype) if dtype.fields is None else "compound", expected=expected)

    def as_float(self, values: np.ndarray, dtype: type, dataset: str, what: str, unit: str,
                 offset: int = 0) -> np.ndarray:
        """Cast to ``dtype`` and refuse NaN, infinity and values that overflow in the cast."""
        values = np.asarray(values)
        self.check_dtype(values.dtype, dataset, NUMBER_KINDS, "real numbers")
        with np.errstate(over="ignore", invalid="ignore"):
            out = values.astype(dtype, copy=False)
        bad = ~np.isfinite(out)
        if bad.any():
            flat = int(np.argmax(bad.reshape(-1)))
            row = offset + (np.unravel_index(flat, bad.shape)[0] if bad.ndim else 0)
            src = values.reshape(-1)[flat]
            if np.isfinite(src):
                self.fail("overflow", dataset, int(row), what=what, value=float(src), dtype=np.dtype(dtype).name,
                          largest=float(np.finfo(dtype).max), unit=unit)
            self.fail("nonfinite", dataset, int(row), what=what, unit=unit)
        return out

    # -- values ----------------------------------------------------------------------------------
    def incident(self, incident_energy: np.ndarray, dataset: str = "incident_energies", offset: int = 0,
                 unit: str = "MeV", plausibility: bool = True) -> None:
        """Incident energies (MeV): finite and positive; with ``plausibility``, inside :data:`INCIDENT_RANGE_MEV`."""
        bad = ~np.isfinite(incident_energy)
        if bad.any():
            self.fail("nonfinite", dataset, offset + int(np.argmax(bad)), what="incident energy", unit=unit)
        bad = incident_energy <= 0
        if bad.any():
            i = int(np.argmax(bad))
            self.fail("incident_nonpositive", dataset, offset + i, value=float(incident_energy[i]), unit=unit)
        if plausibility:
            lo, hi = INCIDENT_RANGE_MEV
            bad = (incident_energy < lo) | (incident_energy > hi)
            if bad.any():
                i = int(np.argmax(bad))
                self.flag("incident_range", int(bad.sum()), dataset, offset + i,
                          value=float(incident_energy[i]), lo=lo, hi=hi)

    def deposits(self, incident_energy: np.ndarray, total: np.ndarray, largest: np.ndarray, smallest: np.ndarray,
                 dataset: str = "showers", incident_dataset: str = "incident_energies", offset: int = 0,
                 unit: str = "MeV") -> None:
        """Per-shower checks from each shower's total, largest and smallest deposit (MeV)."""
        bad = smallest < NEGATIVE_TOLERANCE_MEV
        if bad.any():
            i = int(np.argmax(bad))
            self.fail("negative_deposit", dataset, offset + i, value=float(smallest[i]))
        self.incident(incident_energy, incident_dataset, offset, unit)
        self.seen(len(incident_energy))
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            voxel_ratio = largest / incident_energy
            ratio = total / incident_energy
        huge = voxel_ratio > MAX_RESPONSE
        if huge.any():
            i = int(np.argmax(huge))
            self.flag("huge_voxel", int(huge.sum()), dataset, offset + i, value=float(largest[i]),
                      ratio=float(voxel_ratio[i]), limit=MAX_RESPONSE)
        high = (ratio > MAX_RESPONSE) & ~huge
        if high.any():
            i = int(np.argmax(high))
            self.flag("response", int(high.sum()), incident_dataset, offset + i, value=float(ratio[i]),
                      limit=MAX_RESPONSE, unit=unit)

    def showers(self, incident_energy: np.ndarray, energy: np.ndarray, dataset: str = "showers",
                incident_dataset: str = "incident_energies", offset: int = 0, unit: str = "MeV") -> None:
        """Every check of a chunk of voxel showers: (N,) incident energies and (N, n_voxels) deposits, MeV."""
        rows_bad = ~np.isfinite(energy).all(axis=1) if energy.size else np.zeros(len(energy), bool)
        if rows_bad.any():
            self.fail("nonfinite", dataset, offset + int(np.argmax(rows_bad)), what="voxel energy", unit="MeV")
        if energy.shape[1] == 0:
            zeros = np.zeros(len(energy))
            self.deposits(incident_energy, zeros, zeros, zeros, dataset, incident_dataset, offset, unit)
            return
        self.deposits(incident_energy, energy.sum(axis=1, dtype=np.float64), energy.max(axis=1),
                      energy.min(axis=1), dataset, incident_dataset, offset, unit)

    def labels(self, name: str, values: np.ndarray, offset: int = 0) -> np.ndarray:
        """A per-shower label: real numbers, finite; returned as float64."""
        return self.as_float(values, np.float64, f"labels/{name}", "label value", "", offset)

    def jets(self, particles: np.ndarray, jets: np.ndarray | None, offset: int = 0) -> None:
        """JetNet arrays after the cast: finite, pt_rel >= 0, mask 0/1; jet pt, mass >= 0, 0 <= n <= n_max."""
        bad = (particles[..., 2] < 0).any(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            self.fail("negative", "particle_features", offset + i, what="pt_rel", value=float(particles[i, :, 2].min()))
        mask = particles[..., 3]
        bad = ((mask != 0) & (mask != 1)).any(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            self.fail("count", "particle_features", offset + i, what="mask value",
                      value=float(mask[i][(mask[i] != 0) & (mask[i] != 1)][0]), expected="0 or 1 (feature 3)")
        if jets is None:
            return
        for col, what in ((0, "jet pt"), (2, "jet mass")):
            bad = jets[:, col] < 0
            if bad.any():
                i = int(np.argmax(bad))
                self.fail("negative", "jet_features", offset + i, what=what, value=float(jets[i, col]))
        n, n_max = jets[:, 3], particles.shape[1]
        bad = (n < 0) | (n > n_max) | (n != np.round(n))
        if bad.any():
            i = int(np.argmax(bad))
            self.fail("count", "jet_features", offset + i, what="n_particles", value=float(n[i]),
                      expected=f"a whole number from 0 to {n_max} (the particle slots)")


def check_showers(
    incident_energy: np.ndarray,
    energy: np.ndarray,
    *,
    file: str | None = None,
    energy_dataset: str = "showers",
    incident_dataset: str = "incident_energies",
    offset: int = 0,
    incident_unit: str = "MeV",
    policy: str = STRICT,
) -> list[str]:
    """Validate incident energies (MeV) and voxel energies (MeV) of a chunk starting at ``offset``.

    Returns the warnings (only with the :data:`LENIENT` policy; strict raises instead).
    """
    v = Validator(file, policy)
    v.showers(np.asarray(incident_energy, dtype=np.float64).reshape(-1), np.asarray(energy), energy_dataset,
              incident_dataset, offset, incident_unit)
    return v.warnings
