"""Invertible, saved preprocessing of showers and of the conditioning.

A :class:`Pipeline` is a list of transforms fitted on the training set, applied before training,
and inverted after generation; its state is plain JSON (``preprocessing.json`` in a run
directory). Transforms take the voxel array and the incident energy (MeV) and work on NumPy
arrays and torch tensors alike.

==================== ========================================= =====================================
name                 forward                                   parameters (fitted when ``None``)
==================== ========================================= =====================================
divide_by_incident   x / E_inc · factor                        factor (1 / max of x / E_inc)
log                  log(x + eps)                              eps
logit                logit(alpha + (1 − 2 alpha) x)            alpha
standardize          (x − mean) / std, per feature             mean, std
log_standardize      (log(x) − mean) / std, per feature        mean, std (for conditioning labels);
                     (x − mean) / std for the features where    ``log`` (one bool per feature; absent:
                     ``log`` is false (signed labels such as    all log, today's behaviour)
                     impact positions or angles)
==================== ========================================= =====================================

>>> import numpy as np
>>> p = Pipeline([{"name": "divide_by_incident"}, {"name": "log", "eps": 1e-6}])
>>> x, e = np.array([[1.0, 3.0], [0.0, 2.0]]), np.array([10.0, 20.0])
>>> y = p.fit(x, e).forward(x, e)
>>> bool(np.allclose(p.inverse(y, e), x, atol=1e-5))
True
>>> Pipeline.from_state(p.state()).forward(x, e).round(3).tolist() == y.round(3).tolist()
True
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from hepgen.errors import InputError

__all__ = ["Pipeline", "TRANSFORMS"]


def _xp(x: Any):
    if isinstance(x, np.ndarray):
        return np
    import torch

    return torch


def _as(x: Any, value: Any) -> Any:
    """``value`` (list/array/float) as an array of x's kind, broadcastable against x."""
    if isinstance(x, np.ndarray):
        return np.asarray(value, dtype=x.dtype)
    import torch

    return torch.as_tensor(np.asarray(value), dtype=x.dtype, device=x.device)


def _col(x: Any, e: Any) -> Any:
    """Incident energy as a column broadcastable over x's per-example axes."""
    e = _as(x, e) if not isinstance(e, type(x)) else e.to(x.dtype) if hasattr(e, "to") else e.astype(x.dtype)
    return e.reshape((-1,) + (1,) * (x.ndim - 1))


class Transform:
    name = ""

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    def fit(self, x: np.ndarray, e: np.ndarray | None) -> None:
        """Fill parameters that are ``None`` from training data."""

    def forward(self, x: Any, e: Any) -> Any:
        raise NotImplementedError

    def inverse(self, y: Any, e: Any) -> Any:
        raise NotImplementedError


class DivideByIncident(Transform):
    name = "divide_by_incident"

    def fit(self, x, e):
        if self.params.get("factor") is None:
            ratio = float(np.max(x / _col(x, e))) if x.size else 1.0
            self.params["factor"] = 1.0 / ratio if ratio > 0 else 1.0

    def forward(self, x, e):
        return x / _col(x, e) * self.params["factor"]

    def inverse(self, y, e):
        return y * _col(y, e) / self.params["factor"]


class Log(Transform):
    name = "log"

    def forward(self, x, e):
        return _xp(x).log(x + self.params.get("eps", 1e-6))

    def inverse(self, y, e):
        xp = _xp(y)
        return xp.clip(xp.exp(y) - self.params.get("eps", 1e-6), 0.0, None) if xp is np else \
            (xp.exp(y) - self.params.get("eps", 1e-6)).clamp_min(0.0)


class Logit(Transform):
    name = "logit"

    def forward(self, x, e):
        a = self.params.get("alpha", 1e-6)
        u = a + (1 - 2 * a) * x
        return _xp(x).log(u / (1 - u))

    def inverse(self, y, e):
        a = self.params.get("alpha", 1e-6)
        xp = _xp(y)
        u = 1 / (1 + xp.exp(-y))
        return (u - a) / (1 - 2 * a)


class Standardize(Transform):
    name = "standardize"

    def fit(self, x, e):
        if self.params.get("mean") is None:
            self.params["mean"] = np.mean(x, axis=0).astype(float).tolist()
            std = np.std(x, axis=0)
            self.params["std"] = np.where(std > 0, std, 1.0).astype(float).tolist()

    def forward(self, x, e):
        return (x - _as(x, self.params["mean"])) / _as(x, self.params["std"])

    def inverse(self, y, e):
        return y * _as(y, self.params["std"]) + _as(y, self.params["mean"])


class LogStandardize(Standardize):
    """(log(x) − mean) / std per feature; features whose entry in the ``log`` parameter is false are
    standardised linearly (signed labels: positions, angles). Without ``log`` every feature is logged.

    >>> import numpy as np
    >>> t = LogStandardize(log=[True, False])
    >>> x = np.array([[1e3, -20.0], [4e3, 20.0]])
    >>> t.fit(x, None)
    >>> t.forward(x, None).round(3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> bool(np.allclose(t.inverse(t.forward(x, None), None), x))
    True
    """

    name = "log_standardize"

    def _mask(self, x: Any) -> Any:
        """Boolean row (1, F) of the logged features, of x's kind; None when every feature is logged."""
        flags = self.params.get("log")
        if flags is None or all(flags):
            return None
        if isinstance(x, np.ndarray):
            return np.asarray(flags, dtype=bool)[None, :]
        import torch

        return torch.as_tensor(np.asarray(flags, dtype=bool), device=x.device)[None, :]

    def _log(self, x: Any) -> Any:
        xp, mask = _xp(x), self._mask(x)
        if mask is None:
            return xp.log(x)
        return xp.where(mask, xp.log(xp.where(mask, x, xp.ones_like(x))), x)

    def fit(self, x, e):
        flags = self.params.get("log")
        if flags is not None and len(flags) != np.shape(x)[-1]:
            raise InputError(f"log_standardize: 'log' has {len(flags)} entries for {np.shape(x)[-1]} features")
        mask = self._mask(x)
        logged = np.clip(x, 1e-30, None) if mask is None else np.where(mask, np.clip(x, 1e-30, None), 1.0)
        super().fit(self._log(logged) if mask is None else np.where(mask, np.log(logged), x), e)

    def forward(self, x, e):
        return super().forward(self._log(x), e)

    def inverse(self, y, e):
        z = super().inverse(y, e)
        xp, mask = _xp(z), self._mask(z)
        return xp.exp(z) if mask is None else xp.where(mask, xp.exp(z), z)


TRANSFORMS: dict[str, type[Transform]] = {t.name: t for t in (DivideByIncident, Log, Logit, Standardize,
                                                             LogStandardize)}


class Pipeline:
    """An ordered list of transforms, given as ``[{"name": ..., **params}, ...]``."""

    def __init__(self, spec: Sequence[dict[str, Any]] | None = None) -> None:
        self.transforms: list[Transform] = []
        for i, entry in enumerate(spec or []):
            entry = dict(entry)
            name = entry.pop("name", None)
            if name not in TRANSFORMS:
                raise InputError(f"preprocessing step {i}: unknown transform {name!r}; expected one of "
                                 f"{', '.join(TRANSFORMS)}")
            self.transforms.append(TRANSFORMS[name](**entry))

    def fit(self, x: np.ndarray, e: np.ndarray | None) -> "Pipeline":
        """Fit every transform in turn on the (transformed) training data; returns self."""
        x = np.asarray(x, dtype=np.float64)
        for t in self.transforms:
            t.fit(x, e)
            x = t.forward(x, e)
        return self

    def forward(self, x: Any, e: Any) -> Any:
        """Raw -> preprocessed."""
        for t in self.transforms:
            x = t.forward(x, e)
        return x

    def inverse(self, y: Any, e: Any) -> Any:
        """Preprocessed -> raw."""
        for t in reversed(self.transforms):
            y = t.inverse(y, e)
        return y

    def state(self) -> list[dict[str, Any]]:
        """JSON-able list that :meth:`from_state` turns back into the fitted pipeline."""
        return [{"name": t.name, **t.params} for t in self.transforms]

    @classmethod
    def from_state(cls, state: list[dict[str, Any]]) -> "Pipeline":
        return cls(state)
