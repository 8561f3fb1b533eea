"""GANplification toys with the GAN itself (A. Butter et al., "GANplifying event samples", arXiv:2008.06545;
S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Ch. 5).

For each repeat a fresh training set of the toy is drawn, the ``ganplify-gan`` is trained on it by
the shared loop (:func:`hepgen.training.train`), ``n_samples`` points are drawn
(dropout on), and the quantile √MSE against the toy's analytic quantiles
(:meth:`hepgen.amplify.toys.Toy.cells`) is turned into N_equiv by the multinomial expectation
(:func:`hepgen.amplify.equivalent.equivalent_size_multinomial`, metric ``rmse``), minus the
generated sample's own noise; amplification = N_equiv / n_train.

>>> import tempfile
>>> from hepgen.progress import set_quiet; set_quiet(True)
>>> cfg = {"params": {"width": 8, "noise_dim": 8, "layers": 3, "mbd_features": 4}}
>>> r = gan_toy_study("camel", [10], tempfile.mkdtemp(), repeats=1, n_train=40, n_samples=2000,
...                   config=cfg, max_epochs=1)
>>> entry = r["results"]["x"]["gan"][0]
>>> entry["n_quant"], entry["rmse_mean"] > 0
(10, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from hepgen.amplify.study import toy_amplification_table
from hepgen.amplify.toys import get_toy

__all__ = ["gan_toy_study", "TOY_CONFIG"]

# CPU-sized GAN (the paper's 1000-dim noise, 7×256 layers and 10^5 steps do not fit a shared 2-core machine).
# At width 64 the paper's 50 % generator dropout leaves a broad unimodal camel (the dropout noise swamps the
# 64-dim input noise); 10 % keeps dropout on at sampling and learns both modes in ~10^3 steps. A short run
# needs a larger lr (10^-3, falling ×10 over the run) than the paper's 5·10^-5 over 10^5 steps. Batch 50 (paper:
# 10): the minibatch-std features of 10 points cannot tell a 10-30 % too wide camel mode, which is what
# 3000 steps at batch 10 gave; at batch 50 the modes come out right (amplification ×2-3 higher, same data).
TOY_CONFIG = {"params": {"noise_dim": 64, "width": 64, "layers": 5, "mbd_features": 16,
                         "dropout": 0.1, "d_dropout": 0.5, "lr": 1e-3},
              "training": {"batch_size": 50, "checkpoint_every_s": 120.0, "num_threads": 1}}


def gan_toy_study(toy_name: str, n_per_dim: Sequence[int], workdir: str | Path, repeats: int = 3,
                  n_train: int | None = None, n_samples: int = 200_000,
                  coordinates: Sequence[tuple[int, ...]] | None = None,
                  config: dict | None = None, max_epochs: int = 30, steps_per_epoch: int = 100,
                  max_time: str | None = None,
                  seed: int = 0) -> dict:
    """Train ``repeats`` GANs on fresh toy training sets and measure their quantile amplification.

    One loop epoch is about ``steps_per_epoch`` optimiser steps (whole passes over the training set at the
    config's batch size); unless the config sets
    ``lr_decay``, the lr falls ×10 over the ``max_epochs`` (the paper: × 0.9 per 1000 of its 10^4 passes). Returns
    ``{"results": {coords: {"gan": [...], "train": [...]}}, ...}`` with one entry
    per ``n_per_dim`` (``n_quant``, ``rmse_mean/std``, ``factor_mean/std``, ``factor_from_mean_mse``).
    """
    from hepgen.amplify.surrogates import array_config, sample_arrays
    from hepgen.training import train
    from hepgen.training.config import resolve_config

    toy = get_toy(toy_name)
    n_train = toy.n_train if n_train is None else n_train
    dims = len(toy.coordinate_names)
    coordinates = [tuple(range(dims))] if coordinates is None else [tuple(c) for c in coordinates]
    cfg = {k: dict(v) for k, v in (config or TOY_CONFIG).items()}
    cfg.setdefault("params", {}).setdefault("lr_decay", 0.1 ** (1.0 / max(max_epochs, 1)))
    batch_size = int(resolve_config("ganplify-gan", cfg)["training"]["batch_size"])
    repeat_data = max(1, round(steps_per_epoch * batch_size / n_train))
    rng = np.random.default_rng(seed)
    samples: dict[str, list[np.ndarray]] = {"train": [], "gan": []}
    passes = []
    for rep in range(repeats):
        x = toy.sample(n_train, rng)
        run = train("ganplify-gan", x, Path(workdir) / f"{toy_name}_{rep}", array_config(cfg, repeat=repeat_data),
                    max_epochs=max_epochs, max_time=max_time, seed=seed + rep)
        samples["train"].append(toy.uniformise(x))
        passes.append(repeat_data * len((Path(run) / "logs" / "metrics.jsonl").read_text().splitlines()))
        samples["gan"].append(toy.uniformise(sample_arrays(run, n_samples, seed=seed + rep)))
    rows = toy_amplification_table(toy, samples, coordinates, n_per_dim, n_train)
    return {"toy": toy_name, "n_train": n_train, "repeats": repeats, "n_samples": n_samples,
            "max_epochs": max_epochs, "repeat_data": repeat_data,
            "passes_over_data": passes, "steps": [p * n_train // batch_size for p in passes], "config": cfg,
            "results": rows}
