"""A run directory: everything needed to resume training and to generate.

::

    run_dir/
      config.yaml          resolved config (model, params, training, preprocessing, labels)
      preprocessing.json   fitted adapter state (geometry, transforms, conditioning)
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
import os
from pathlib import Path
from typing import Any

from hepgen.errors import InputError

__all__ = ["RunDir", "load_run_model"]


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
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)

    def read_json(self, path: Path) -> Any:
        if not path.is_file():
            raise InputError("missing; not a complete hepgen run directory", file=str(path))
        return json.loads(path.read_text())

    def log(self, record: dict[str, Any]) -> None:
        self.metrics.parent.mkdir(parents=True, exist_ok=True)
        with open(self.metrics, "a") as f:
            f.write(json.dumps(record) + "\n")

    def set_state(self, **state: Any) -> None:
        old = self.read_json(self.state_file) if self.state_file.is_file() else {}
        old.update(state)
        self.write_json(self.state_file, old)

    def state(self) -> dict[str, Any]:
        return self.read_json(self.state_file) if self.state_file.is_file() else {}


def open_run(run_dir: str | Path, model: str | None, config: dict | str | Path | None,
             resume: bool) -> tuple[RunDir, dict, Any]:
    """A run directory for training: (run, resolved config, saved adapter or ``None`` for a new run).

    An existing run is resumed (refused when ``resume`` is false or it holds another model); a new run
    needs an empty or missing directory.

    >>> import tempfile
    >>> run, cfg, adapter = open_run(tempfile.mkdtemp() + "/new", "wgan", None, True)
    >>> cfg["model"], adapter is None
    ('wgan', True)
    """
    from hepgen.training.adapters import adapter_from_state
    from hepgen.training.config import load_yaml, resolve_config

    run = RunDir(run_dir)
    if run.exists():
        if not resume:
            raise InputError("run directory already holds a run; resume it or choose another directory",
                             file=str(run.path))
        cfg = load_yaml(run.config)
        if model and model != cfg["model"]:
            raise InputError(f"run directory holds a '{cfg['model']}' run, not '{model}'", file=str(run.path))
        return run, cfg, adapter_from_state(run.read_json(run.preprocessing))
    if run.path.exists() and any(run.path.iterdir()):
        raise InputError("output directory exists and is not a hepgen run; choose a new one", file=str(run.path))
    return run, resolve_config(model, config), None


def load_run_model(run_dir: str | Path, which: str = "best"):
    """(model in eval mode, adapter, config) from a run directory.

    ``which="best"`` takes the weights of the best validated epoch (``checkpoints/best.ckpt``, the
    papers' epoch selection) when the run has one and stores nothing derived from the final weights
    (``extra.npz``, e.g. a latent KDE); otherwise, and with ``which="last"``, the last checkpoint.
    """
    import numpy as np
    import torch

    from hepgen.models.registry import get_model_class
    from hepgen.training.adapters import adapter_from_state
    from hepgen.training.config import load_yaml

    run = RunDir(run_dir)
    if not run.exists():
        raise InputError("not a hepgen run directory (no config.yaml / preprocessing.json)", file=str(run.path))
    if not run.checkpoint.is_file():
        raise InputError("run has no checkpoint yet; train it first", file=str(run.checkpoint))
    config = load_yaml(run.config)
    adapter = adapter_from_state(run.read_json(run.preprocessing))
    cls = get_model_class(config["model"])
    # hyperparameters added to a model after the run was trained take their defaults
    params = {**copy.deepcopy(cls.default_config), **config["params"]}
    model = cls(adapter.data_shape, adapter.n_cond, params, adapter.geometry)
    use_best = which == "best" and run.best.is_file() and not run.extra.is_file()
    ckpt = torch.load(run.best if use_best else run.checkpoint, map_location="cpu", weights_only=False)
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(state)
    if hasattr(model, "to_physical"):
        model.to_physical = adapter.torch_physical
    if run.extra.is_file():
        with np.load(run.extra) as f:
            model.load_extra({k: f[k] for k in f.files})
    model.eval()
    return model, adapter, config
