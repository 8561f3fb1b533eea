"""A run directory: everything needed to resume training and to generate.

::

    run_dir/
      config.yaml          resolved config (model, params, training, preprocessing, labels)
      preprocessing.json   fitted data kind (hepgen.training.kinds: geometry, transforms, conditioning)
      checkpoints/last.ckpt  Lightning checkpoint (weights, optimisers, counters), written atomically
      checkpoints/best.ckpt  weights of the epoch with the lowest mean validation separation power
      extra.npz            what the model stores after training (e.g. the latent KDE sample)
      logs/metrics.jsonl   one JSON line per epoch: mean losses, validation metrics, wall time
      state.json           {"status": "running" | "finished" | "diverged", ...}

>>> import tempfile
>>> r = RunDir(tempfile.mkdtemp())
>>> r.checkpoint.name, r.exists()
('last.ckpt', False)
"""

from __future__ import annotations

import copy

import json
from pathlib import Path
from typing import Any

from hepgen.errors import InputError

__all__ = ["RunDir", "load_run_model", "load_checkpoint", "checkpoint_globals"]


class RunDir:
    """Paths and small files of a run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.preprocessing = self.path / "preprocessing.json"
        self.checkpoint = self.path / "checkpoints" / "last.ckpt"
        self.best = self.path / "checkpoints" / "best.ckpt"
        self.extra = self.path / "extra.npz"
        self.metrics = self.path / "logs" / "metrics.jsonl"
        self.state_file = self.path / "state.json"

    def exists(self) -> bool:
        return self.config.is_file() and self.preprocessing.is_file()

    def create(self) -> None:
        (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)
        (self.path / "logs").mkdir(parents=True, exist_ok=True)

    def write_json(self, path: Path, data: Any) -> None:
        from hepgen.data.atomic import atomic_path

        with atomic_path(path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(data, indent=1))

    def read_json(self, path: Path) -> Any:
        if not path.is_file():
            raise InputError("missing; not a complete hepgen run directory", file=str(path))
        return json.loads(path.read_text())

    def log(self, record: dict[str, Any]) -> None:
        self.metrics.parent.mkdir(parents=True, exist_ok=True)
        from hepgen.data.atomic import append_line

        append_line(self.metrics, json.dumps(record))

    def set_state(self, **state: Any) -> None:
        old = self.read_json(self.state_file) if self.state_file.is_file() else {}
        old.update(state)
        self.write_json(self.state_file, old)

    def state(self) -> dict[str, Any]:
        return self.read_json(self.state_file) if self.state_file.is_file() else {}


def checkpoint_globals() -> list:
    """What a checkpoint may hold besides tensors and plain Python types: NumPy scalars and their dtypes
    (e.g. a validation score stored as ``np.float64`` by an older hepgen). Nothing that runs code."""
    import numpy as np

    return [np._core.multiarray.scalar, np.dtype, np.dtypes.Float64DType, np.dtypes.Float32DType,
            np.dtypes.Int64DType, np.dtypes.Int32DType]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint without running code from it (``torch.load(weights_only=True)``).

    Tensors, plain Python types and NumPy scalars load; a file that needs anything else (a pickled
    object whose loading would call a function) is refused with one :class:`InputError`, as is a
    truncated or corrupt file.

    >>> import tempfile, torch
    >>> path = tempfile.mkdtemp() + "/a.ckpt"
    >>> torch.save({"epoch": 3, "state_dict": {"w": torch.ones(2)}}, path)
    >>> load_checkpoint(path)["epoch"]
    3
    >>> torch.save({"epoch": copy.copy}, path)
    >>> load_checkpoint(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: ...a.ckpt: refused: loading it would run code (copy.copy); ...
    """
    import pickle
    import re

    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", file=str(path))
    try:
        with torch.serialization.safe_globals(checkpoint_globals()):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = found.group(1) if found else "an object that is not a tensor or plain type"
        raise InputError(f"refused: loading it would run code ({what}); hepgen loads only tensors and plain "
                         "types from checkpoints. Use a checkpoint written by hepgen", file=str(path)) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable checkpoint (truncated or corrupt?): {first[:160]}", file=str(path)) from None
    if not isinstance(ckpt, dict):
        raise InputError(f"expected a checkpoint dictionary, found {type(ckpt).__name__}", file=str(path))
    return ckpt


def open_run(run_dir: str | Path, model: str | None, config: dict | str | Path | None,
             resume: bool) -> tuple[RunDir, dict, Any]:
    """A run directory for training: (run, resolved config, saved data kind or ``None`` for a new run).

    An existing run is resumed (refused when ``resume`` is false or it holds another model); a new run
    needs an empty or missing directory.

    >>> import tempfile
    >>> run, cfg, kind = open_run(tempfile.mkdtemp() + "/new", "wgan", None, True)
    >>> cfg["model"], kind is None
    ('wgan', True)
    """
    from hepgen.training.kinds import kind_from_state
    from hepgen.training.config import load_yaml, resolve_config

    run = RunDir(run_dir)
    if run.exists():
        if not resume:
            raise InputError("run directory already holds a run; resume it or choose another directory",
                             file=str(run.path))
        cfg = load_yaml(run.config)
        if model and model != cfg["model"]:
            raise InputError(f"run directory holds a '{cfg['model']}' run, not '{model}'", file=str(run.path))
        return run, cfg, kind_from_state(run.read_json(run.preprocessing))
    if run.path.exists() and any(run.path.iterdir()):
        raise InputError("output directory exists and is not a hepgen run; choose a new one", file=str(run.path))
    return run, resolve_config(model, config), None


def run_params(cls, saved: dict[str, Any]) -> dict[str, Any]:
    """A run's model parameters: hyperparameters added to the model after the run was trained take their
    defaults, or the value that rebuilds older runs where the model declares one (``config_of_older_runs``).

    >>> from hepgen.models.registry import get_model_class
    >>> run_params(get_model_class("calo-cfm"), {"lr": 0.01})["hits"], run_params(get_model_class("calo-cfm"), {})["lr"]
    (False, 0.001)
    """
    return {**copy.deepcopy(cls.default_config), **copy.deepcopy(cls.config_of_older_runs), **saved}


def load_run_model(run_dir: str | Path, which: str = "best"):
    """(model in eval mode, fitted data kind, config) from a run directory.

    ``which="best"`` takes the weights of the best validated epoch (``checkpoints/best.ckpt``, the
    papers' epoch selection) when the run has one and stores nothing derived from the final weights
    (``extra.npz``, e.g. a latent KDE; a model whose extra comes from the data alone, such as the jet models'
    multiplicities, says so with ``extra_uses_weights = False``); otherwise, and with ``which="last"``, the last
    checkpoint.
    """
    import numpy as np

    from hepgen.models.registry import get_model_class
    from hepgen.training.averaging import generation_state
    from hepgen.training.kinds import kind_from_state
    from hepgen.training.config import load_yaml

    run = RunDir(run_dir)
    if not run.exists():
        raise InputError("not a hepgen run directory (no config.yaml / preprocessing.json)", file=str(run.path))
    if not run.checkpoint.is_file():
        raise InputError("run has no checkpoint yet; train it first", file=str(run.checkpoint))
    config = load_yaml(run.config)
    kind = kind_from_state(run.read_json(run.preprocessing))
    cls = get_model_class(config["model"])
    params = run_params(cls, config["params"])
    model = cls(kind.data_shape, kind.n_cond, params, kind.geometry)
    model.set_data_kind(kind)
    use_best = which == "best" and run.best.is_file() and not (run.extra.is_file() and cls.extra_uses_weights)
    ckpt_path = run.best if use_best else run.checkpoint
    ckpt = load_checkpoint(ckpt_path)
    if not isinstance(ckpt.get("state_dict"), dict):
        raise InputError("checkpoint holds no 'state_dict'", file=str(ckpt_path))
    state = generation_state(ckpt["state_dict"])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise InputError(f"weights do not fit the run's model ({first})", file=str(ckpt_path)) from None
    if run.extra.is_file():
        with np.load(run.extra) as f:
            model.load_extra({k: f[k] for k in f.files})
    model.eval()
    model.hepgen_checkpoint = str(ckpt_path)  # which weights (generation records their digest)
    return model, kind, config
