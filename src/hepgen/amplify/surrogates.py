"""Sample array models (toy points, pooled images) trained with :func:`hepgen.training.train`.

Array data (N, ...) train through the one training entry point like showers and jets (the model's
``data_kind`` is ``"arrays"``; scaling and repetition are the config's ``preprocessing``, see
:class:`hepgen.training.kinds.ArrayKind`). :func:`sample_arrays` loads a run and draws samples in data units.

>>> import numpy as np, tempfile
>>> from hepgen.progress import set_quiet; set_quiet(True)
>>> from hepgen.training import train
>>> x = np.random.default_rng(0).normal(size=(40, 1))
>>> cfg = {"params": {"width": 8, "noise_dim": 8, "layers": 3, "mbd_features": 4}, "training": {"batch_size": 10}}
>>> run = train("ganplify-gan", x, tempfile.mkdtemp() + "/run", cfg, max_epochs=1)
>>> sample_arrays(run, 7, seed=1).shape
(7, 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgen.errors import InputError

__all__ = ["sample_arrays", "array_config"]


def array_config(config: dict | None, scaling: str = "standardize", repeat: int = 1) -> dict:
    """``config`` with the array preprocessing ``{name: scaling, repeat: repeat}`` (unless it sets one).

    >>> array_config({"training": {"batch_size": 10}}, "scale")["preprocessing"]
    [{'name': 'scale', 'repeat': 1}]
    """
    out = dict(config or {})
    out.setdefault("preprocessing", [{"name": scaling, "repeat": int(repeat)}])
    return out


def sample_arrays(run_dir: str | Path, n: int, seed: int | None = None, batch_size: int = 10_000,
                  which: str = "best") -> np.ndarray:
    """``n`` samples (data units, float64) from a trained array run (``which``: see ``load_run_model``)."""
    from hepgen.training.generate import load_generator

    gen = load_generator(run_dir, which=which)
    if gen.kind.kind != "arrays":
        raise InputError("not a run trained on arrays", file=str(run_dir))
    return gen.sample(n=n, batch_size=batch_size, seed=seed)
