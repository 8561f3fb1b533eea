"""Data kinds: how one family of data (voxel showers, hit clouds, jets, plain arrays) becomes tensors and back.

A model declares ``data_kind``; :func:`hepgen.training.train` takes the matching class from
:func:`kind_class` and every kind answers the same :class:`DataKind` protocol: read and validate data,
split off a validation set, :meth:`~DataKind.fit` the preprocessing on the training set,
:meth:`~DataKind.encode` data into ``{"x", "cond"}`` arrays, encode :class:`Conditions` (incident
energies, labels, multiplicities) into the model's conditioning, :meth:`~DataKind.decode` generated
arrays back into data, and save its fitted state (``preprocessing.json`` of a run directory).

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> s = ShowerData(np.array([1e3, 1e4]), np.ones((2, 25)), "belle2-ecl-5x5")
>>> k = ShowerKind.fit(s, [{"name": "divide_by_incident"}])
>>> arrays = k.encode(s)
>>> arrays["x"].shape, arrays["cond"].shape
((2, 1, 5, 5), (2, 1))
>>> bool(np.allclose(k.decode(arrays["x"], k.conditions_of(s)).energy, s.energy))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, cast, runtime_checkable

import numpy as np

from hepgen.data import ShowerData
from hepgen.errors import InputError
from hepgen.geometry import Geometry, get_geometry, geometry_from_spec, preset_names
from hepgen.training.preprocessing import Pipeline

__all__ = ["Conditions", "DataKind", "ShowerKind", "PointKind", "JetKind", "ArrayKind", "KINDS", "kind_class",
           "kind_from_state", "label_specs"]


def label_specs(labels: Sequence[Any]) -> tuple[list[str], dict[str, str]]:
    """Conditioning labels of a config as (names, declared scales): entries are ``name``, ``name:scale`` or
    ``{name: scale}`` with scale ``log`` or ``linear``.

    >>> label_specs(["visible_energy", "impact_x_mm:linear", {"impact_y_mm": "linear"}])
    (['visible_energy', 'impact_x_mm', 'impact_y_mm'], {'impact_x_mm': 'linear', 'impact_y_mm': 'linear'})
    """
    from hepgen.data.showers import LABEL_SCALES

    names: list[str] = []
    declared: dict[str, str] = {}
    for entry in labels:
        items = list(entry.items()) if isinstance(entry, dict) else [tuple(str(entry).split(":", 1))]
        for item in items:
            name, scale = (item[0], item[1]) if len(item) == 2 else (item[0], None)
            if scale is not None:
                if scale not in LABEL_SCALES:
                    raise InputError(f"label '{name}': scale '{scale}', expected one of {', '.join(LABEL_SCALES)}")
                declared[str(name)] = str(scale)
            names.append(str(name))
    return names, declared


def _label_log_flags(values: dict[str, np.ndarray], names: Sequence[str], declared: dict[str, str],
                     data_scales: dict[str, str], n_logged: int = 1) -> list[bool] | None:
    """The ``log`` flags of a log_standardize over (``n_logged`` always-logged columns, labels ``names``), or None
    when every label is logged (today's state, stored without flags): the declared scale, else the data's, else
    :func:`hepgen.data.showers.label_scale` of the values."""
    from hepgen.data.showers import label_scale

    scales = [label_scale(values[k], declared.get(k, data_scales.get(k))) for k in names]
    return [True] * n_logged + [v == "log" for v in scales] if "linear" in scales else None


def _check_logged(raw: np.ndarray, flags: Sequence[bool] | None, names: Sequence[str], n_fixed: int = 1) -> None:
    """InputError when a log-standardised column of ``raw`` (incident energy first, labels ``names`` from column
    ``n_fixed``) is <= 0."""
    logged = raw if flags is None else raw[:, np.asarray(flags, dtype=bool)]
    if not np.any(logged <= 0):
        return
    if np.any(raw[:, 0] <= 0):
        raise InputError("incident energies and conditioning labels must be > 0 (MeV)")
    bad = [k for i, k in enumerate(names) if (flags is None or flags[n_fixed + i]) and np.any(raw[:, n_fixed + i] <= 0)]
    raise InputError(f"conditioning label '{bad[0]}' is log-standardised and must be > 0; a signed label is "
                     f"standardised linearly when declared so (labels: ['{bad[0]}:linear'] in the config, or "
                     "the file's labels/<name> attribute scale = linear)")


def _label_columns(names: Sequence[str], labels: dict | None) -> list[np.ndarray]:
    """(N,) float64 column of each label in ``names``; InputError naming the first one missing."""
    labels = labels or {}
    for k in names:
        if k not in labels:
            raise InputError(f"this model is conditioned on '{k}'; give it (labels={{'{k}': ...}})")
    return [np.asarray(labels[k], dtype=np.float64).reshape(-1) for k in names]


@dataclass
class Conditions:
    """What generation is conditioned on, in physical units; each kind reads the fields it needs.

    ``incident_energy`` (N,) in MeV and ``labels`` (name -> (N,) array, e.g. visible energy, n_hits)
    for showers and hit clouds; ``n_particles`` (N,) and ``labels`` (``mass``) for jets; only ``n``
    (the number of examples) for unconditional arrays.

    >>> c = Conditions(incident_energy=np.array([1e3, 2e3, 3e3]), labels={"n_hits": np.array([4, 5, 6])})
    >>> len(c), c[1:].labels["n_hits"].tolist()
    (3, [5, 6])
    """

    incident_energy: np.ndarray | None = None
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    n_particles: np.ndarray | None = None
    n: int | None = None

    def __len__(self) -> int:
        for values in (self.incident_energy, self.n_particles, *self.labels.values()):
            if values is not None:
                return len(values)
        return int(self.n or 0)

    def __getitem__(self, sl: slice) -> "Conditions":
        def cut(v):
            return None if v is None else np.asarray(v)[sl]

        return Conditions(cut(self.incident_energy), {k: cut(v) for k, v in self.labels.items()},
                          cut(self.n_particles), len(range(*sl.indices(len(self)))))


@runtime_checkable
class DataKind(Protocol):
    """The one protocol of the four data kinds (:class:`ShowerKind`, :class:`PointKind`, :class:`JetKind`,
    :class:`ArrayKind`). Class methods work on raw data; instance methods use the fitted preprocessing."""

    kind: str                      # the name a model's ``data_kind`` gives: showers, points, jets, arrays
    unit: str                      # what one example is called in messages ("showers", "jets", ...)
    labels: list[str]              # conditioning labels beyond the kind's own (e.g. visible_energy, mass)
    geometry: Any                  # the detector geometry (None for jets and arrays)

    @property
    def data_shape(self) -> tuple[int, ...]: ...         # shape of one preprocessed example

    @property
    def n_cond(self) -> int: ...                         # number of conditioning inputs

    @classmethod
    def read(cls, path: str | Path) -> Any: ...           # a data file (strict: implausible data are refused)

    @classmethod
    def write(cls, data: Any, path: str | Path, overwrite: bool = False) -> None: ...

    @classmethod
    def validate(cls, data: Any) -> None: ...             # InputError for data the readers would refuse

    @classmethod
    def split(cls, data: Any, val_fraction: float, val_max: int, seed: int) -> tuple[Any, Any | None]: ...

    @classmethod
    def fit(cls, data: Any, preprocessing: Sequence[dict], labels: Sequence[str] = ()) -> "DataKind": ...

    def encode(self, data: Any) -> dict[str, np.ndarray]: ...            # {"x", "cond"} float32

    def conditions_of(self, data: Any) -> Conditions: ...                # the conditions data were made with

    def conditions(self, c: Conditions) -> np.ndarray: ...               # (N, n_cond) float32

    def decode(self, x: np.ndarray, c: Conditions | None = None) -> Any: ...

    def decode_torch(self, x, c: Conditions | None = None) -> Any: ...   # fastest path from a model's output

    def concatenate(self, parts: Sequence[Any]) -> Any: ...

    def state(self) -> dict[str, Any]: ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "DataKind": ...


class _ShowerIO:
    """What voxel showers and hit clouds share: shower files, strict validation, the validation split."""

    unit = "showers"
    # provided by ShowerKind and PointKind
    geometry: Any
    labels: list[str]
    _labels_of: Callable[[ShowerData], dict[str, np.ndarray]]
    encode_cond: Callable[..., np.ndarray]
    decode: Callable[..., ShowerData]

    @classmethod
    def read(cls, path: str | Path) -> ShowerData:
        """A shower file, read strictly (implausible training data are refused)."""
        from hepgen.data import ShowerFile

        return ShowerFile(path).read()

    @classmethod
    def write(cls, data: ShowerData, path: str | Path, overwrite: bool = False) -> None:
        from hepgen.data import write_showers

        write_showers(path, data, overwrite=overwrite)

    @classmethod
    def validate(cls, data: ShowerData) -> None:
        """The shower readers' strict rules (:func:`hepgen.data.validate.check_showers`), for in-memory data."""
        from hepgen.data.validate import check_showers

        if not isinstance(data, ShowerData):
            raise InputError(f"expected showers (ShowerData or a shower file), got {type(data).__name__}")
        check_showers(data.incident_energy, data.energy)

    @classmethod
    def split(cls, data: ShowerData, val_fraction: float, val_max: int, seed: int
              ) -> tuple[ShowerData, ShowerData | None]:
        """(training, validation or None): ``val_fraction`` held out (at most ``val_max``), none below 11 showers."""
        train_set, val_set = data.split(1.0 - float(val_fraction), seed=seed) if len(data) > 10 \
            else (data, data[:0])
        val_set = val_set[: int(val_max)]
        return train_set, (val_set if len(val_set) else None)

    def _check_geometry(self, showers: ShowerData) -> None:
        if self.geometry != showers.geometry:
            got = cast(Geometry, showers.geometry)   # ShowerData resolves a geometry name on construction
            raise InputError(f"run was trained on '{self.geometry.name}' showers, got '{got.name}'")

    def conditions_of(self, showers: ShowerData) -> Conditions:
        return Conditions(incident_energy=showers.incident_energy, labels=self._labels_of(showers))

    def conditions(self, c: Conditions) -> np.ndarray:
        return self.encode_cond(c.incident_energy, c.labels)

    def decode_torch(self, x, c: Conditions | None = None) -> ShowerData:
        return self.decode(x.cpu().numpy(), c)

    def concatenate(self, parts: Sequence[ShowerData]) -> ShowerData:
        if not parts:
            return ShowerData(np.zeros(0), np.zeros((0, self.geometry.n_voxels)), self.geometry)
        return ShowerData.concatenate(parts)


class ShowerKind(_ShowerIO):
    """Voxel showers <-> tensors: x has the geometry's dense shape (flat when irregular), cond is
    (log incident energy, log labels...) standardised."""

    kind = "showers"

    def __init__(self, geometry, data: Pipeline, cond: Pipeline, labels: Sequence[str] = ()) -> None:
        self.geometry = get_geometry(geometry)
        self.data, self.cond, self.labels = data, cond, list(labels)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.geometry.shape) if self.geometry.shape is not None else (self.geometry.n_voxels,)

    @property
    def n_cond(self) -> int:
        return 1 + len(self.labels)

    @classmethod
    def fit(cls, showers: ShowerData, preprocessing: Sequence[dict], labels: Sequence[Any] = ()) -> "ShowerKind":
        """Fit the preprocessing on a training sample.

        ``labels`` are names, optionally with the standardisation (``"impact_x_mm:linear"`` or
        ``{"impact_x_mm": "linear"}``); without one, the scale the data declare
        (:attr:`~hepgen.data.ShowerData.label_scales`) or, failing that, ``log`` for labels that are > 0 and
        ``linear`` otherwise (:func:`hepgen.data.showers.label_scale`). The incident energy is always logged.

        >>> import numpy as np
        >>> s = ShowerData(np.array([1e3, 2e3]), np.ones((2, 25)), "belle2-ecl-5x5",
        ...                {"impact_x_mm": np.array([-10.0, 10.0])})
        >>> k = ShowerKind.fit(s, [], ["impact_x_mm"])
        >>> k.label_scales, k.encode_cond(s.incident_energy, s.labels).round(3).tolist()
        ({'impact_x_mm': 'linear'}, [[-1.0, -1.0], [1.0, 1.0]])
        """
        names, declared = label_specs(labels)
        missing = [k for k in names if k not in showers.labels and k != "visible_energy"]
        if missing:
            raise InputError(f"conditioning label(s) {missing} not in the data (has {sorted(showers.labels)})")
        kind = cls(showers.geometry, Pipeline(preprocessing), Pipeline([{"name": "log_standardize"}]), names)
        values = kind._labels_of(showers)
        flags = _label_log_flags(values, names, declared, showers.label_scales)
        if flags is not None:  # only then is the choice stored: positive labels keep today's state exactly
            kind.cond.transforms[0].params["log"] = flags
        kind.data.fit(showers.energy, showers.incident_energy)
        kind.cond.fit(kind.raw_cond(showers.incident_energy, values), None)
        return kind

    @property
    def label_scales(self) -> dict[str, str]:
        """How each conditioning label is standardised: ``log`` or ``linear``."""
        flags = self.cond.transforms[0].params.get("log") or [True] * (1 + len(self.labels))
        return {k: "log" if flags[1 + i] else "linear" for i, k in enumerate(self.labels)}

    def _labels_of(self, showers: ShowerData) -> dict[str, np.ndarray]:
        out = dict(showers.labels)
        if "visible_energy" in self.labels and "visible_energy" not in out:
            out["visible_energy"] = showers.visible_energy
        return out

    def raw_cond(self, incident_energy: np.ndarray, labels: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """(N, n_cond) physical conditioning values (MeV, label units)."""
        cols = [np.asarray(incident_energy, dtype=np.float64).reshape(-1)] + _label_columns(self.labels, labels)
        out = np.stack(cols, axis=1)
        _check_logged(out, self.cond.transforms[0].params.get("log") if self.cond.transforms else None, self.labels)
        return out

    def encode_cond(self, incident_energy: np.ndarray, labels: dict | None = None) -> np.ndarray:
        """(N, n_cond) float32: standardised log incident energy (MeV) and log labels."""
        return self.cond.forward(self.raw_cond(incident_energy, labels), None).astype(np.float32)

    def encode(self, showers: ShowerData) -> dict[str, np.ndarray]:
        """{"x": (N, *data_shape) float32, "cond": (N, n_cond) float32} of a sample."""
        self._check_geometry(showers)
        x = self.data.forward(showers.energy.astype(np.float64), showers.incident_energy)
        return {"x": x.reshape((len(showers),) + self.data_shape).astype(np.float32),
                "cond": self.encode_cond(showers.incident_energy, self._labels_of(showers))}

    def decode(self, x: np.ndarray, c: Conditions | None = None) -> ShowerData:
        """Generated preprocessed arrays -> :class:`ShowerData` in MeV (negative values clipped)."""
        assert c is not None and c.incident_energy is not None, "decoding showers needs their incident energies"
        e = c.incident_energy
        energy = self.data.inverse(np.asarray(x, dtype=np.float64).reshape(len(e), -1), np.asarray(e))
        return ShowerData(e, np.clip(energy, 0, None).astype(np.float32), self.geometry,
                          {k: np.asarray(v) for k, v in c.labels.items()})

    def decode_torch(self, x, c: Conditions | None = None) -> ShowerData:
        """Like :meth:`decode`, with the inverse preprocessing in float32 torch on the model's output (one pass,
        no float64 copy; the fast path of generation, see docs/history.md)."""
        import torch

        assert c is not None and c.incident_energy is not None, "decoding showers needs their incident energies"
        e = torch.as_tensor(c.incident_energy, dtype=torch.float32, device=x.device)
        energy = self.data.inverse(x.reshape(x.shape[0], -1), e).clamp_min(0.0).cpu().numpy()
        return ShowerData(c.incident_energy, energy, self.geometry, c.labels)

    def physical_torch(self, x, cond):
        """Preprocessed torch batch -> voxel energies in MeV (differentiable; used by losses in MeV)."""
        import torch

        mean, std = self.cond.transforms[0].params["mean"][0], self.cond.transforms[0].params["std"][0]
        e = torch.exp(cond[:, 0] * std + mean)
        return self.data.inverse(x.reshape(x.shape[0], -1), e).reshape(x.shape)

    def encode_energy(self, incident_energy: np.ndarray) -> np.ndarray:
        """(N,) the first conditioning column alone: standardised log incident energy (MeV)."""
        scaler = self.cond.transforms[0]
        return (np.log(np.asarray(incident_energy)) - scaler.params["mean"][0]) / scaler.params["std"][0]

    def labels_of_conditions(self, cond: np.ndarray) -> dict[str, np.ndarray]:
        """The physical labels (MeV, label units) of preprocessed conditions (N, n_cond)."""
        raw = self.cond.inverse(cond, None)
        return {k: raw[:, 1 + i] for i, k in enumerate(self.labels)}

    def state(self) -> dict[str, Any]:
        geo = self.geometry
        return {"kind": self.kind, "geometry": geo.name if geo.name in preset_names() else geo.spec(),
                "data": self.data.state(), "cond": self.cond.state(), "labels": self.labels}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ShowerKind":
        geo = state["geometry"]
        geo = get_geometry(geo) if isinstance(geo, str) else geometry_from_spec(geo)
        return cls(geo, Pipeline.from_state(state["data"]), Pipeline.from_state(state["cond"]), state["labels"])


class PointKind(_ShowerIO):
    """Showers <-> padded hit clouds for point-cloud models (B. Käch, "Generative Modelling in High-Energy
    Physics", PhD thesis, U. Hamburg / DESY (2024), Ch. 6).

    x is (N, n_max, 5): per hit the standardised (E, z, alpha, R) of :class:`hepgen.data.hits.HitTransform`
    (dequantised, logit, Box-Cox) and a last 0/1 column marking real hits (hits first, zero padding).
    cond is (N, 3 + L): standardised log E_inc, standardised log n_hits, n_hits itself (the model
    builds its mask from it), then the L further labels of the run (e.g. ``theta_deg``, ``impact_x_mm``;
    standardised, log or linear as in :meth:`ShowerKind.fit`). ``n_hits`` is a conditioning label the model draws
    itself when not given (:meth:`sample_n_hits`, an :class:`hepgen.models.nhits.NHitsModel` of E_inc fitted on the
    training set); the further labels must be given. With further labels the random alpha turn of the decoding
    (``rotate_alpha``) is off unless the preprocessing asks for it: it would undo a direction or an impact point.
    Decoding floors hits to voxels, optionally turns each shower by a random alpha step and moves
    duplicate hits to free neighbouring cells (:mod:`hepgen.data.postprocess_hits`), then re-voxelises.

    Options (the config's ``preprocessing`` list, one entry ``{name: hits, ...}``): ``box_cox`` (True),
    ``dequantize`` (linear), ``nhits_model`` (kde or poly), ``rotate_alpha`` (True), ``shift_duplicates``
    (True), ``n_max_margin`` (1.1: n_max = margin x the largest training cloud).

    >>> import numpy as np
    >>> from hepgen.data import ShowerData
    >>> rng = np.random.default_rng(0)
    >>> e = rng.exponential(1.0, (8, 6480)) * (rng.random((8, 6480)) < 0.02)
    >>> s = ShowerData(rng.uniform(1e4, 2e4, 8), e, "calochallenge-2")
    >>> a = PointKind.fit(s, [{"name": "hits", "rotate_alpha": False}])
    >>> arrays = a.encode(s)
    >>> arrays["x"].shape[2], arrays["cond"].shape, bool((arrays["cond"][:, 2] == s.n_hits()).all())
    (5, (8, 3), True)
    >>> bool(np.allclose(a.decode(arrays["x"], a.conditions_of(s)).energy, s.energy, rtol=1e-4))
    True
    """

    kind = "points"
    OPTIONS = {"box_cox": True, "dequantize": "linear", "nhits_model": "kde", "rotate_alpha": True,
               "shift_duplicates": True, "n_max_margin": 1.1}

    def __init__(self, geometry, hits, cond: Pipeline, nhits, n_max: int, options: dict, seed: int = 0,
                 extra_labels: Sequence[str] = ()) -> None:
        self.geometry = get_geometry(geometry)
        self.hits, self.cond, self.nhits, self.n_max = hits, cond, nhits, int(n_max)
        self.options, self.seed = dict(options), int(seed)
        self.extra_labels = list(extra_labels)
        self.labels = ["n_hits", *self.extra_labels]

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (self.n_max, 5)

    @property
    def n_cond(self) -> int:
        return 3 + len(self.extra_labels)

    @property
    def label_scales(self) -> dict[str, str]:
        """How each further conditioning label is standardised: ``log`` or ``linear``."""
        flags = self.cond.transforms[0].params.get("log") or [True] * (2 + len(self.extra_labels))
        return {k: "log" if flags[2 + i] else "linear" for i, k in enumerate(self.extra_labels)}

    @classmethod
    def _options(cls, preprocessing: Sequence[dict]) -> dict:
        opts = dict(cls.OPTIONS)
        for entry in preprocessing or []:
            entry = dict(entry)
            if entry.pop("name", None) != "hits":
                raise InputError(f"point-cloud models take one preprocessing entry {{name: hits, ...}}, got {entry}")
            unknown = set(entry) - set(opts)
            if unknown:
                raise InputError(f"unknown hits option(s) {sorted(unknown)}; expected {', '.join(opts)}")
            opts.update(entry)
        return opts

    @classmethod
    def fit(cls, showers: ShowerData, preprocessing: Sequence[dict], labels: Sequence[str] = (),
            seed: int = 0) -> "PointKind":
        """Fit the hit transform, the conditioning scaler and the n_hits model on training showers."""
        from hepgen.data.hits import HitTransform
        from hepgen.data.pointcloud import voxels_to_points
        from hepgen.models.nhits import NHitsModel

        names, declared = label_specs(labels)
        extra = [k for k in names if k != "n_hits"]
        missing = [k for k in extra if k not in showers.labels]
        if missing:
            raise InputError(f"conditioning label(s) {missing} not in the data (has {sorted(showers.labels)})")
        opts = cls._options(preprocessing)
        if extra and not any("rotate_alpha" in dict(entry) for entry in preprocessing or []):
            opts["rotate_alpha"] = False    # a random turn in alpha would undo a direction or an impact point
        pts = voxels_to_points(showers)
        if np.any(pts.n_hits == 0):
            raise InputError(f"shower {int(np.argmin(pts.n_hits))} has no hit; point-cloud models need >= 1 hit "
                             "per shower", dataset="showers", index=int(np.argmin(pts.n_hits)))
        hits = HitTransform.fit(pts, box_cox=opts["box_cox"], dequantize=opts["dequantize"], seed=seed)
        n_max = int(np.ceil(pts.n_hits.max() * float(opts["n_max_margin"])))
        cond = Pipeline([{"name": "log_standardize"}])
        flags = _label_log_flags(showers.labels, extra, declared, showers.label_scales, n_logged=2)
        if flags is not None:
            cond.transforms[0].params["log"] = flags
        raw = np.column_stack([showers.incident_energy, pts.n_hits, *_label_columns(extra, showers.labels)])
        cond.fit(raw.astype(np.float64), None)
        nhits = NHitsModel.fit(showers.incident_energy, pts.n_hits, kind=opts["nhits_model"], n_max=n_max)
        return cls(showers.geometry, hits, cond, nhits, n_max, opts, seed, extra)

    def _labels_of(self, showers: ShowerData) -> dict[str, np.ndarray]:
        out = {k: showers.labels[k] for k in self.extra_labels if k in showers.labels}
        return {"n_hits": showers.labels.get("n_hits", showers.n_hits()), **out}

    def sample_n_hits(self, incident_energy: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(N,) numbers of hits drawn from the fitted n_hits model (clipped to n_max)."""
        return self.nhits.sample(incident_energy, rng)

    def encode_cond(self, incident_energy: np.ndarray, labels: dict | None = None) -> np.ndarray:
        """(N, 3 + L) float32: standardised log E_inc and log n_hits, n_hits (given in ``labels``), then the
        further labels standardised."""
        if not labels or "n_hits" not in labels:
            raise InputError("point-cloud models need labels={'n_hits': ...} (or let the model draw them)")
        e = np.asarray(incident_energy, np.float64).reshape(-1)
        n = np.clip(np.asarray(labels["n_hits"], np.float64).reshape(-1), 1, self.n_max)
        raw = np.column_stack([e, n, *_label_columns(self.extra_labels, labels)])
        _check_logged(raw, self.cond.transforms[0].params.get("log"), self.extra_labels, n_fixed=2)
        std = self.cond.forward(raw, None)
        return np.column_stack([std[:, :2], n, std[:, 2:]]).astype(np.float32)

    def encode(self, showers: ShowerData) -> dict[str, np.ndarray]:
        """{"x": (N, n_max, 5), "cond": (N, 3)} float32 (dequantisation noise seeded by the fitted seed)."""
        from hepgen.data.pointcloud import voxels_to_points

        self._check_geometry(showers)
        pts = voxels_to_points(showers)
        if pts.n_hits.max(initial=0) > self.n_max:
            i = int(np.argmax(pts.n_hits))
            raise InputError(f"shower has {pts.n_hits[i]} hits, more than this model's n_max = {self.n_max}",
                             dataset="showers", index=i)
        feats = self.hits.forward(pts, np.random.default_rng(self.seed))
        x = np.zeros((len(showers), self.n_max, 5), np.float32)
        mask = np.arange(self.n_max)[None, :] < pts.n_hits[:, None]
        x[mask, :4] = feats
        x[mask, 4] = 1.0
        return {"x": x, "cond": self.encode_cond(showers.incident_energy, {**self._labels_of(showers),
                                                                           "n_hits": pts.n_hits})}

    def decode(self, x: np.ndarray, c: Conditions | None = None) -> ShowerData:
        """Generated (N, n_max, 5) clouds -> voxel :class:`ShowerData` in MeV (post-processed as configured)."""
        import zlib

        from hepgen.data.pointcloud import ShowerPoints, points_to_voxels
        from hepgen.data.postprocess_hits import rotate_alpha, shift_duplicates

        x = np.asarray(x, np.float32)
        assert c is not None and c.incident_energy is not None, "decoding showers needs their incident energies"
        incident_energy = c.incident_energy
        n = len(incident_energy)
        x = x.reshape(n, -1, 5)
        mask = x[..., 4] > 0.5
        energy, idx = self.hits.inverse(x[mask][:, :4])
        pts = ShowerPoints(incident_energy, mask.sum(1), energy, idx, self.geometry)
        rng = np.random.default_rng(zlib.crc32(x.tobytes()))
        if self.options["rotate_alpha"] and "alpha" in self.geometry.axes:
            pts = rotate_alpha(pts, rng)
        if self.options["shift_duplicates"]:
            pts = shift_duplicates(pts)
        out = points_to_voxels(pts)
        out.labels = {k: np.asarray(v) for k, v in c.labels.items()}
        return out

    def state(self) -> dict[str, Any]:
        geo = self.geometry
        return {"kind": self.kind, "geometry": geo.name if geo.name in preset_names() else geo.spec(),
                "hits": self.hits.state(), "cond": self.cond.state(), "nhits": self.nhits.state(),
                "n_max": self.n_max, "options": self.options, "seed": self.seed,
                **({"labels": self.extra_labels} if self.extra_labels else {})}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "PointKind":
        from hepgen.data.hits import HitTransform
        from hepgen.models.nhits import NHitsModel

        geo = state["geometry"]
        geo = get_geometry(geo) if isinstance(geo, str) else geometry_from_spec(geo)
        return cls(geo, HitTransform.from_state(state["hits"], geo), Pipeline.from_state(state["cond"]),
                   NHitsModel.from_state(state["nhits"]), state["n_max"], state["options"], state.get("seed", 0),
                   state.get("labels", ()))


class JetKind:
    """Jets (JetNet layout) <-> tensors for particle-cloud models.

    ``x`` is (N, n_max, 4): the three particle features scaled (padded slots 0) and the mask;
    ``cond`` is (N, 1 + len(labels)): the cardinality n / n_max (exact, models read n from it) and the
    standardised relative jet mass when ``labels == ["mass"]`` (NF(c)). ``preprocessing`` entries:
    ``{"name": "standardize"}`` (default; mean/std of all real particles of the training set) and
    ``{"name": "boxcox"}`` (Box-Cox on pt_rel before the scaling, lambda fitted by scipy). ``angular_max``
    (fitted: the largest |eta_rel| and |phi_rel| of the training particles, i.e. the jet radius as the data
    show it) bounds the angles of generated particles in :meth:`decode`; ``None`` (runs fitted before it): unbounded.

    >>> from hepgen.data import JetData
    >>> rng = np.random.default_rng(0)
    >>> p = np.zeros((8, 5, 4), np.float32); p[:, :3, :2] = rng.normal(0, .1, (8, 3, 2))
    >>> p[:, :3, 2] = [0.6, 0.3, 0.1]; p[:, :3, 3] = 1
    >>> a = JetKind.fit(JetData(p), [{"name": "boxcox"}])
    >>> arrays = a.encode(JetData(p))
    >>> arrays["x"].shape, arrays["cond"][0].tolist()
    ((8, 5, 4), [0.6000000238418579])
    >>> bool(np.allclose(a.decode(arrays["x"]).particles, p, atol=1e-5))
    True
    """

    kind = "jets"
    unit = "jets with particles"
    geometry = None

    def __init__(self, n_max: int, mean: list[float], std: list[float], boxcox: float | None = None,
                 labels: Sequence[str] = (), mass_scale: tuple[float, float] = (0.0, 1.0), jet_type: str = "",
                 angular_max: Sequence[float] | None = None) -> None:
        self.n_max, self.boxcox, self.labels, self.jet_type = int(n_max), boxcox, list(labels), jet_type
        self.angular_max = None if angular_max is None else tuple(float(v) for v in angular_max)
        self.mean, self.std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        self.mass_scale = tuple(float(v) for v in mass_scale)
        if any(k != "mass" for k in self.labels):
            raise InputError(f"jet models can be conditioned on ['mass'] only, got {self.labels}")

    @property
    def data_shape(self) -> tuple[int, int]:
        return (self.n_max, 4)

    @property
    def n_cond(self) -> int:
        return 1 + len(self.labels)

    def _forward(self, f: np.ndarray) -> np.ndarray:
        f = np.array(f, dtype=np.float64)
        if self.boxcox is not None:
            from scipy.special import boxcox

            f[:, 2] = boxcox(np.clip(f[:, 2], 1e-12, None), self.boxcox)
        return f

    @classmethod
    def fit(cls, jets, preprocessing: Sequence[dict] = (), labels: Sequence[str] = ()) -> "JetKind":
        """Fit the scaling on all real particles of a training sample."""
        names = [t.get("name") for t in preprocessing]
        if any(n not in ("standardize", "boxcox") for n in names):
            raise InputError(f"jet preprocessing: unknown transform in {names}; expected standardize, boxcox")
        real = jets.particles[jets.mask][:, :3].astype(np.float64)
        if len(real) < 2:
            raise InputError("jet preprocessing: need at least 2 real particles in the training set")
        lam = None
        if "boxcox" in names:
            from scipy.stats import boxcox

            lam = float(boxcox(np.clip(real[:, 2], 1e-12, None))[1])
        kind = cls(jets.n_max, [0.0] * 3, [1.0] * 3, lam, labels, jet_type=jets.jet_type,
                   angular_max=np.abs(real[:, :2]).max(0).tolist())
        f = kind._forward(real)
        kind.mean, kind.std = f.mean(0), np.maximum(f.std(0), 1e-8)
        if labels:
            m = np.log(jets.relative_jet_features()[:, 2].astype(np.float64) + 1e-6)
            kind.mass_scale = (float(m.mean()), float(max(m.std(), 1e-8)))
        return kind

    @classmethod
    def read(cls, path: str | Path):
        """A JetNet file (:func:`hepgen.data.read_jets`)."""
        from hepgen.data import read_jets

        return read_jets(path)

    @classmethod
    def write(cls, data, path: str | Path, overwrite: bool = False) -> None:
        from hepgen.data import write_jets

        write_jets(path, data, overwrite=overwrite)

    @classmethod
    def validate(cls, jets) -> None:
        """:class:`~hepgen.data.JetData` with finite particle features."""
        from hepgen.data import JetData

        if not isinstance(jets, JetData):
            raise InputError(f"expected jets (JetData or a JetNet file), got {type(jets).__name__}")
        if not np.all(np.isfinite(jets.particles)):
            bad = int(np.argmax(~np.isfinite(jets.particles).all(axis=(1, 2))))
            raise InputError(f"jet {bad} has a NaN or infinite particle feature", dataset="particle_features",
                             index=bad)

    @classmethod
    def split(cls, jets, val_fraction: float, val_max: int, seed: int):
        """(training jets with particles, validation jets or None): ``val_fraction`` of the jets is held out
        (none below 11 jets), at most ``val_max`` of them validate (the caller's metric, e.g. W1M, picks
        ``best.ckpt``); jets without particles are dropped."""
        keep = jets.n_particles > 0
        if not keep.all():
            jets = jets[np.flatnonzero(keep)]
        order = np.random.default_rng(seed).permutation(len(jets))
        n_train = len(jets) - int(round(float(val_fraction) * len(jets))) if len(jets) > 10 else len(jets)
        held_out = np.sort(order[n_train:][: int(val_max)])
        return jets[np.sort(order[:n_train])], (jets[held_out] if len(held_out) else None)

    def conditions_of(self, jets) -> Conditions:
        labels = {"mass": jets.relative_jet_features()[:, 2]} if self.labels else {}
        return Conditions(n_particles=np.maximum(jets.mask.sum(1), 1), labels=labels)

    def conditions(self, c: Conditions) -> np.ndarray:
        assert c.n_particles is not None, "jet conditions need the particle multiplicities"
        return self.encode_cond(c.n_particles, c.labels)

    def decode_torch(self, x, c: Conditions | None = None):
        return self.decode(x.cpu().numpy(), c)

    def concatenate(self, parts):
        from hepgen.data import JetData

        return JetData.concatenate(parts)

    def encode_cond(self, n_particles: np.ndarray, labels: dict | None = None) -> np.ndarray:
        """(N, n_cond) from the cardinalities (and the relative mass when conditioned on it)."""
        n = np.asarray(n_particles, dtype=np.float64).reshape(-1)
        if np.any(n < 1) or np.any(n > self.n_max):
            raise InputError(f"particle multiplicities must be in [1, {self.n_max}]")
        cols = [n / self.n_max]
        if self.labels:
            if not labels or "mass" not in labels:
                raise InputError("this model is conditioned on the relative jet mass; give labels={'mass': ...}")
            cols.append((np.log(np.asarray(labels["mass"], np.float64) + 1e-6) - self.mass_scale[0])
                        / self.mass_scale[1])
        return np.stack(cols, axis=1).astype(np.float32)

    def encode(self, jets) -> dict[str, np.ndarray]:
        """{"x": (N, n_max, 4), "cond": (N, n_cond)} float32; jets without particles are refused."""
        if jets.n_max != self.n_max:
            raise InputError(f"jets have {jets.n_max} particle slots, the model {self.n_max}")
        m = jets.mask
        x = np.zeros(jets.particles.shape, np.float32)
        x[m, :3] = (self._forward(jets.particles[m][:, :3]) - self.mean) / self.std
        x[..., 3] = m
        return {"x": x, "cond": self.conditions(self.conditions_of(jets))}

    def decode(self, x: np.ndarray, c: Conditions | None = None):
        """Generated (N, n_max, 4) arrays -> :class:`JetData`: unscaled, phi wrapped, pt_rel in [0, 1],
        |eta_rel| and |phi_rel| within ``angular_max``, particles ordered by decreasing pt_rel, padded slots zero.

        The upper bound is physical: no constituent carries more transverse momentum than its jet (JetNet's
        highest pt_rel is below 1). A flow's tail draw that lands near the pole of the inverse Box-Cox transform
        would otherwise become a particle of many times the jet's pT (NF(cc) made three of 300,000 at up to 13.5),
        and one such jet dominates FPD and KPD. The angular bound is that of the jet definition (constituents
        within the radius R of the axis; the training particles' largest offsets): a flow's rare tail draw at
        |eta_rel| = 9 (jet-MAF: 130 of 300,000 particles beyond |eta_rel| = 1) makes EFPs, hence FPD, meaningless."""
        from hepgen.data import JetData

        x = np.asarray(x, dtype=np.float64)
        m = x[..., 3] > 0.5
        f = x[..., :3] * self.std + self.mean
        if self.boxcox is not None:
            from scipy.special import inv_boxcox

            lo = -1.0 / self.boxcox if self.boxcox > 0 else -np.inf
            hi = -1.0 / self.boxcox if self.boxcox < 0 else np.inf
            f[..., 2] = np.nan_to_num(inv_boxcox(np.clip(f[..., 2], lo + 1e-9, hi - 1e-9), self.boxcox))
        f[..., 1] = (f[..., 1] + np.pi) % (2 * np.pi) - np.pi
        f[..., 2] = np.clip(f[..., 2], 0.0, 1.0)
        if self.angular_max is not None:
            f[..., :2] = np.clip(f[..., :2], -np.asarray(self.angular_max), np.asarray(self.angular_max))
        p = np.where(m[..., None], np.concatenate([f, m[..., None]], -1), 0.0)
        order = np.argsort(-np.where(m, p[..., 2], -1.0), axis=1, kind="stable")
        p = np.take_along_axis(p, order[..., None], axis=1)
        return JetData(p.astype(np.float32), jet_type=self.jet_type)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_max": self.n_max, "mean": self.mean.tolist(), "std": self.std.tolist(),
                "boxcox": self.boxcox, "labels": self.labels, "mass_scale": list(self.mass_scale),
                "jet_type": self.jet_type,
                "angular_max": None if self.angular_max is None else list(self.angular_max)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "JetKind":
        return cls(state["n_max"], state["mean"], state["std"], state["boxcox"], state["labels"],
                   tuple(state["mass_scale"]), state.get("jet_type", ""), state.get("angular_max"))


class ArrayKind:
    """Plain arrays (toy points (N, d), pooled images (N, H, W)) <-> tensors, no conditioning.

    The config's ``preprocessing`` is at most one entry: ``{name: standardize}`` (default; per feature
    (x − mean) / std, for toy points) or ``{name: scale}`` (divide by one global scale, the mean of the
    per-example maxima: keeps zeros and positivity, for images), with an optional ``repeat: k``: the
    training set is listed k times per loop epoch, so that a model trained for thousands of passes over
    100 points does not pay the loop's per-epoch overhead.

    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (100, 2))
    >>> a = ArrayKind.fit(x, [{"name": "standardize", "repeat": 3}])
    >>> arr = a.encode(x)
    >>> arr["x"].shape, arr["cond"].shape, bool(np.allclose(a.decode(arr["x"][:100]), x, atol=1e-5))
    ((300, 2), (300, 0), True)
    """

    kind = "arrays"
    unit = "examples"
    geometry = None
    labels: list = []
    n_cond = 0

    def __init__(self, shape: tuple[int, ...], scaling: str, offset: np.ndarray, scale: np.ndarray,
                 repeat: int = 1) -> None:
        if scaling not in ("standardize", "scale"):
            raise InputError(f"array scaling '{scaling}': expected standardize or scale")
        self.shape, self.scaling, self.repeat = tuple(int(s) for s in shape), scaling, max(1, int(repeat))
        self.offset, self.scale = np.asarray(offset, np.float64), np.asarray(scale, np.float64)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.shape

    @classmethod
    def read(cls, path: str | Path) -> np.ndarray:
        """A NumPy ``.npy`` file (N, ...)."""
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"not a readable .npy array ({exc})", file=str(path)) from None

    @classmethod
    def write(cls, data: np.ndarray, path: str | Path, overwrite: bool = False) -> None:
        from hepgen.data import atomic_path

        with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(data))

    @classmethod
    def validate(cls, x: np.ndarray) -> None:
        """A finite (N >= 2, ...) array."""
        x = np.asarray(x)
        if x.ndim < 2 or len(x) < 2 or not np.all(np.isfinite(x)):
            raise InputError(f"expected a finite (N >= 2, ...) training array, got shape {x.shape}")

    @classmethod
    def split(cls, x: np.ndarray, val_fraction: float, val_max: int, seed: int) -> tuple[np.ndarray, None]:
        """All of ``x`` trains (no held-out set: array studies select epochs against the training data)."""
        return x, None

    @classmethod
    def fit(cls, x: np.ndarray, preprocessing: Sequence[dict] = (), labels: Sequence[str] = ()) -> "ArrayKind":
        """Fit the scaling on a training array (N, ...)."""
        if labels:
            raise InputError(f"array models take no conditioning labels, got {list(labels)}")
        if len(preprocessing) > 1 or any(set(e) - {"name", "repeat"} for e in preprocessing):
            raise InputError(f"array preprocessing is one entry {{name: standardize or scale, repeat: k}}, "
                             f"got {list(preprocessing)}")
        entry = dict(preprocessing[0]) if preprocessing else {}
        scaling, repeat = entry.get("name", "standardize"), int(entry.get("repeat", 1))
        cls.validate(x)
        x = np.asarray(x, dtype=np.float64)
        if scaling == "standardize":
            offset, scale = x.mean(axis=0), x.std(axis=0)
            scale = np.where(scale > 0, scale, 1.0)
        else:
            offset, scale = np.zeros(1), np.array([max(float(x.reshape(len(x), -1).max(axis=1).mean()), 1e-12)])
        return cls(x.shape[1:], scaling, offset, scale, repeat)

    def encode(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """{"x": (N·repeat, *shape) float32, "cond": (N·repeat, 0)}."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1:] != self.shape:
            raise InputError(f"expected arrays of shape (N, {', '.join(map(str, self.shape))}), got {x.shape}")
        z = np.tile(((x - self.offset) / self.scale).astype(np.float32), (self.repeat,) + (1,) * len(self.shape))
        return {"x": z, "cond": np.zeros((len(z), 0), np.float32)}

    def conditions_of(self, x: np.ndarray) -> Conditions:
        return Conditions(n=len(x))

    def conditions(self, c: Conditions) -> np.ndarray:
        return np.zeros((len(c), 0), np.float32)

    def decode(self, z: np.ndarray, c: Conditions | None = None) -> np.ndarray:
        """Generated arrays back to data units (float64)."""
        return np.asarray(z, np.float64).reshape((len(z),) + self.shape) * self.scale + self.offset

    def decode_torch(self, x, c: Conditions | None = None) -> np.ndarray:
        return self.decode(x.cpu().numpy(), c)

    def concatenate(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros((0,) + self.shape)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": list(self.shape), "scaling": self.scaling, "repeat": self.repeat,
                "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ArrayKind":
        return cls(tuple(state["shape"]), state["scaling"], np.array(state["offset"]), np.array(state["scale"]),
                   state.get("repeat", 1))


KINDS: dict[str, type[DataKind]] = {"showers": ShowerKind, "points": PointKind, "jets": JetKind, "arrays": ArrayKind}


def kind_class(data_kind: str) -> type[DataKind]:
    """The :class:`DataKind` class of a model's ``data_kind``.

    >>> kind_class("jets").__name__
    'JetKind'
    """
    if data_kind not in KINDS:
        raise InputError(f"no data kind '{data_kind}' (have {', '.join(KINDS)})")
    return KINDS[data_kind]


def kind_from_state(state: dict[str, Any]) -> DataKind:
    """Rebuild a fitted data kind from its saved state (``preprocessing.json``)."""
    return kind_class(state["kind"]).from_state(state)
