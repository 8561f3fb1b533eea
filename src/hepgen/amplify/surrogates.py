"""Train and sample array models (toy points, pooled images) with the shared training loop.

:func:`train_arrays` is :func:`hepgen.training.train` for data that are not showers: it fits an
``"arrays"`` adapter (:class:`hepgen.training.adapters.ArrayAdapter`), writes the same run directory
(config.yaml, preprocessing.json, checkpoints/last.ckpt, logs) and runs the one Lightning loop
(:func:`hepgen.training.loop.fit`), resuming from the run's checkpoint. :func:`sample_arrays`
loads a run (:func:`hepgen.training.run.load_run_model`) and draws samples in data units.

>>> import numpy as np, tempfile
>>> from hepgen.progress import set_quiet; set_quiet(True)
>>> x = np.random.default_rng(0).normal(size=(40, 1))
>>> cfg = {"params": {"width": 8, "noise_dim": 8, "layers": 3, "mbd_features": 4}, "training": {"batch_size": 10}}
>>> run = train_arrays("ganplify-gan", x, tempfile.mkdtemp() + "/run", cfg, max_epochs=1)
>>> sample_arrays(run, 7, seed=1).shape
(7, 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgen.errors import InputError

__all__ = ["sample_arrays", "train_arrays"]


def train_arrays(model: str, x: np.ndarray, run_dir: str | Path, config: dict | None = None,
                 max_epochs: int | None = None, max_time: str | float | None = None, seed: int = 0,
                 scaling: str = "standardize", repeat: int = 1) -> Path:
    """Train registered array model ``model`` on ``x`` (N, ...) with the shared loop; returns the run dir.

    ``scaling``/``repeat``: see :class:`~hepgen.training.adapters.ArrayAdapter`. An existing run in
    ``run_dir`` is resumed (its saved config and scaling are used).
    """
    import lightning as L

    from hepgen.models.registry import get_model_class
    from hepgen.training.adapters import ArrayAdapter, adapter_from_state
    from hepgen.training.config import load_yaml, resolve_config, save_yaml
    from hepgen.training.loop import parse_duration, run_training
    from hepgen.training.run import RunDir

    run = RunDir(run_dir)
    if run.exists():
        cfg = load_yaml(run.config)
        adapter = adapter_from_state(run.read_json(run.preprocessing))
    else:
        if run.path.exists() and any(run.path.iterdir()):
            raise InputError("output directory exists and is not a hepgen run; choose a new one", file=str(run.path))
        cfg = resolve_config(model, config)
        adapter = ArrayAdapter.fit(x, scaling, repeat)
    cls = get_model_class(cfg["model"])
    if cls.data_kind != "arrays":
        raise InputError(f"model '{cfg['model']}' trains on {cls.data_kind}, not on plain arrays")
    if not run.exists():
        run.create()
        run.write_json(run.preprocessing, adapter.state())
        save_yaml(run.config, cfg)
    L.seed_everything(seed, verbose=False)
    net = cls(adapter.data_shape, adapter.n_cond, cfg["params"], None)
    if hasattr(net, "set_data_scale"):
        net.set_data_scale(adapter)
    epochs = int(max_epochs if max_epochs is not None else cfg["training"]["max_epochs"])
    seconds = parse_duration(max_time if max_time is not None else cfg["training"]["max_time"])
    arrays = adapter.encode(x)
    run_training(run, net, adapter, arrays, None, cfg, epochs, seconds, seed)
    return run.path


def sample_arrays(run_dir: str | Path, n: int, seed: int | None = None, batch_size: int = 10_000,
                  which: str = "best") -> np.ndarray:
    """``n`` samples (data units, float64) from a trained array run (``which``: see ``load_run_model``)."""
    from hepgen.training.generate import ArrayGenerator
    from hepgen.training.run import load_run_model

    model, adapter, config = load_run_model(run_dir, which)
    if getattr(adapter, "kind", None) != "arrays":
        raise InputError("not a run trained on arrays", file=str(run_dir))
    return ArrayGenerator(model, adapter, config).sample(n, batch_size, seed)
