"""The one interface every generative model implements: :class:`GenerativeModel`.

The shared training loop (:func:`hepgen.training.train`) knows nothing about a model's internals: it
asks the model for its optimisers (:meth:`~GenerativeModel.configure_optimizers`), hands it batches
of preprocessed tensors (``batch["x"]`` data, ``batch["cond"]`` conditioning) together with the
optimisers (:meth:`~GenerativeModel.training_step`, manual optimisation, so critic:generator ratios
live in the model) and calls :meth:`~GenerativeModel.sample` to generate. How raw data become tensors
is declared by the model's ``data_kind`` (``"showers"``, ``"points"``, ``"jets"`` or ``"arrays"``),
handled by :mod:`hepgen.training.kinds`.

The three abstract methods are required; every other hook is declared here once, with a default that
does nothing (or says "not supported"), so callers never ask ``hasattr``.

>>> import torch
>>> class Mean(GenerativeModel):
...     def configure_optimizers(self):
...         return {"all": torch.optim.SGD(self.parameters(), lr=0.1)}
...     def training_step(self, batch, optimizers, step, epoch):
...         return {}
...     def sample(self, cond, generator=None):
...         return torch.zeros((len(cond),) + self.data_shape)
>>> m = Mean((2,), 0, {})
>>> m.sample(m.sample_conditions(3)).shape, m.device.type
(torch.Size([3, 2]), 'cpu')
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch
from torch import nn

from hepgen.errors import InputError

__all__ = ["GenerativeModel"]


class GenerativeModel(nn.Module, metaclass=abc.ABCMeta):
    """Base class of all generators trained by the shared loop.

    Subclasses set ``default_config`` (hyperparameters; the YAML config's ``params:`` section
    overrides them; a ``preprocessing`` entry is the default preprocessing of the data kind),
    ``tiny_config`` (the few hyperparameters that make a seconds-long version of the model: the contract test
    over every registered model and ``benchmarks/gpu_check.sh`` train it) and ``data_kind``, and implement
    :meth:`configure_optimizers`, :meth:`training_step` and :meth:`sample`.

    Parameters
    ----------
    data_shape: shape of one preprocessed example (e.g. the geometry's dense shape).
    n_cond: number of conditioning inputs (e.g. log incident energy plus labels).
    config: model hyperparameters (``default_config`` updated with the user's values).
    geometry: the detector geometry (for geometry-aware layers), or ``None``.
    """

    name: str = ""
    data_kind: str = "showers"
    default_config: dict[str, Any] = {}
    tiny_config: dict[str, Any] = {}
    # named configurations, ``hepgen train --model NAME --config PRESET``: {preset: {"params": ..., "training": ...}}
    # (sections as in a YAML config; hepgen.training.config.resolve_config merges them over the defaults)
    config_presets: dict[str, dict[str, Any]] = {}
    # options of the shared training loop this model trains best with (over hepgen.training.config.TRAINING_DEFAULTS;
    # a config's training section overrides them), e.g. {"ema_decay": 0.999}
    training_defaults: dict[str, Any] = {}
    # whether what after_training stores depends on the final weights (e.g. a latent KDE): then generation
    # cannot use the best validated epoch's weights with it and takes the last checkpoint
    extra_uses_weights: bool = True
    # hyperparameters added with a default that changes the model: the value that rebuilds runs trained before
    # them (their saved config lacks the key), e.g. {"hits": False}; see hepgen.training.run.run_params
    config_of_older_runs: dict[str, Any] = {}

    def __init__(self, data_shape: tuple[int, ...], n_cond: int, config: dict[str, Any], geometry=None) -> None:
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.n_cond = int(n_cond)
        self.config = dict(config)
        self.geometry = geometry
        self.fitted_kind = None  # the fitted data kind, given by set_data_kind (not part of the state dict)
        # counts generator updates across resumes (saved in the state dict)
        self.register_buffer("generator_steps", torch.zeros((), dtype=torch.long))

    # -- required -------------------------------------------------------------------------------
    @abc.abstractmethod
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers; the loop passes them back to :meth:`training_step` in this order."""

    @abc.abstractmethod
    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer],
                      step: int, epoch: int) -> dict[str, torch.Tensor]:
        """One update (the model calls ``zero_grad/backward/step`` itself); returns named losses."""

    @abc.abstractmethod
    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate one example per row of ``cond`` (preprocessed conditions) in preprocessed space."""

    # -- optional hooks (declared once; the defaults do nothing) --------------------------------
    def lr_decay(self) -> dict[str, float]:
        """Per-epoch multiplicative learning-rate factor of each optimiser (default: none)."""
        return {}

    def on_train_epoch_end(self, epoch: int) -> None:
        """Hook after every epoch (e.g. resetting critics); the loop calls it when the next epoch starts."""

    def before_training(self, data: dict[str, torch.Tensor]) -> None:
        """Hook before the first optimiser step with the whole preprocessed training set ``{"x", "cond"}``
        (e.g. fit standardisations on more examples than one batch holds; a resumed run's checkpoint then
        overwrites what it set). Default: nothing."""

    def after_training(self, data: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Hook after training with the whole preprocessed training set (e.g. fit a latent KDE);
        returns arrays to store in the run directory (loaded again by :meth:`load_extra`). Default: nothing."""
        return {}

    def load_extra(self, extra: dict[str, Any]) -> None:
        """Receive what :meth:`after_training` returned when a run is loaded (default: ignore)."""

    def set_data_kind(self, kind) -> None:
        """Receive the fitted data kind (:mod:`hepgen.training.kinds`) before training and when a run is
        loaded; the loop calls it, models do not override it (override :meth:`set_data_scale`)."""
        self.fitted_kind = kind
        self.set_data_scale(kind)

    def set_data_scale(self, kind) -> None:
        """Hook: adopt scales of the fitted preprocessing (e.g. a smearing width in data units); default: nothing."""

    def to_physical(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Preprocessed batch -> physical units (voxel energies in MeV), differentiable (for losses in MeV).
        Default: the fitted data kind's ``physical_torch``; identity where the kind has none or none is set."""
        convert = getattr(self.fitted_kind, "physical_torch", None)
        return x if convert is None else convert(x, cond)

    def sample_labels(self, incident_energy: np.ndarray, names: list[str], kind,
                      generator: torch.Generator | None = None) -> dict[str, np.ndarray]:
        """Draw conditioning labels ``names`` that the caller did not give (e.g. the BIB-AE's visible energy
        from its latent KDE). Default: not supported (:class:`InputError`)."""
        raise InputError(f"this model is conditioned on {list(names)}; pass labels={{name: array}}")

    def sample_conditions(self, n: int, seed: int | None = None) -> np.ndarray:
        """(n, n_cond) preprocessed conditions drawn by the model itself (e.g. jet multiplicities from a KDE).
        Default: the empty conditioning of an unconditional model; a conditional one needs them given."""
        if self.n_cond:
            raise InputError(f"model '{self.name}' is conditional ({self.n_cond} conditions): give them "
                             "(e.g. incident energies)")
        return np.zeros((int(n), 0), np.float32)

    def postprocess_physical(self, data):
        """Hook on generated data in physical units (e.g. rescale to a visible-energy label); default: unchanged."""
        return data

    # -- helpers --------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """The device of the model's parameters (or buffers)."""
        for t in self.parameters():
            return t.device
        for buffer in self.buffers():
            return buffer.device
        return torch.device("cpu")

    def export_graph(self):
        """Sampling as an ONNX-exportable :class:`~hepgen.models.export.ExportGraph`: a ``torch.nn.Module``
        ``(cond, *noise) -> example in preprocessed space`` and ``draw(cond, generator)``, which draws the
        noise exactly as :meth:`sample` does (same seed, same outputs). A model that cannot be exported
        raises :class:`~hepgen.models.export.ExportUnsupported` with the one-line reason."""
        from hepgen.models.export import ExportUnsupported

        raise ExportUnsupported(f"model '{self.name}' declares no export_graph()")

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
