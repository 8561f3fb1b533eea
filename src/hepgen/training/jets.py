"""Training jet models (``data_kind = "jets"``) with the shared loop :func:`hepgen.training.loop.fit`.

The same run directory, config schema, checkpoints, resume, budgets and NaN guard as for showers; the
data are :class:`~hepgen.data.JetData` (JetNet files), prepared by
:class:`~hepgen.training.adapters.JetAdapter`. After training the model stores the training
multiplicities (its cardinality KDE) in ``extra.npz``. :func:`hepgen.training.train` hands jet models here.

>>> import numpy as np, tempfile
>>> from hepgen.data import JetData
>>> from hepgen.progress import set_quiet; set_quiet(True)
>>> rng = np.random.default_rng(0)
>>> p = np.zeros((40, 10, 4), np.float32); p[:, :4, :2] = rng.normal(0, .1, (40, 4, 2))
>>> p[:, :4, 2] = [.5, .3, .15, .05]; p[:, :4, 3] = 1
>>> cfg = {"params": {"hidden_gen": 8, "hidden": 8, "heads_gen": 2, "heads": 2, "num_blocks_gen": 1},
...        "training": {"batch_size": 8}}
>>> run = train_jets("mdma-gan", JetData(p, jet_type="t"), tempfile.mkdtemp() + "/run", cfg, max_epochs=1)
>>> (run / "extra.npz").is_file()
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgen.errors import InputError

__all__ = ["train_jets"]


def train_jets(model: str | None, data, run_dir: str | Path, config: dict | str | Path | None = None,
               max_time: str | float | None = None, max_epochs: int | None = None, seed: int = 0,
               resume: bool = True) -> Path:
    """Train a registered jet model on a :class:`~hepgen.data.JetData` or JetNet file; returns the run directory.

    Same contract as :func:`hepgen.training.train` (resume, ``max_time`` over all resumes,
    :class:`~hepgen.training.TrainingDiverged` on NaN/inf).
    """
    import lightning as L

    from hepgen.data import JetData, read_jets
    from hepgen.models.registry import get_model_class
    from hepgen.training.adapters import JetAdapter
    from hepgen.training.config import save_yaml
    from hepgen.training.loop import parse_duration, run_training
    from hepgen.training.run import open_run

    jets = data if isinstance(data, JetData) else read_jets(data)
    run, cfg, adapter = open_run(run_dir, model, config, resume)
    cls = get_model_class(cfg["model"])
    if cls.data_kind != "jets":
        raise InputError(f"model '{cfg['model']}' is trained on {cls.data_kind}, not jets")
    keep = jets.n_particles > 0
    if not keep.all():
        jets = jets[np.flatnonzero(keep)]
    tcfg = cfg["training"]
    order = np.random.default_rng(seed).permutation(len(jets))
    n_train = len(jets) - int(round(float(tcfg["val_fraction"]) * len(jets))) if len(jets) > 10 else len(jets)
    train_set = jets[np.sort(order[:n_train])]
    if len(train_set) < 2:
        raise InputError(f"need at least 2 training jets with particles, got {len(train_set)}")
    if adapter is None:
        adapter = JetAdapter.fit(train_set, cfg["preprocessing"], cfg["labels"])
        run.create()
        run.write_json(run.preprocessing, adapter.state())
        save_yaml(run.config, cfg)
    L.seed_everything(seed, verbose=False)
    net = cls(adapter.data_shape, adapter.n_cond, cfg["params"], None)
    epochs = int(max_epochs if max_epochs is not None else tcfg["max_epochs"])
    seconds = parse_duration(max_time if max_time is not None else tcfg["max_time"])
    arrays = adapter.encode(train_set)
    return run_training(run, net, adapter, arrays, None, cfg, epochs, seconds, seed)
