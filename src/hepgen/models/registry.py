"""The one model registry and the interface every model implements.

A model is a ``torch.nn.Module`` subclass of :class:`GenerativeModel`, registered under a short
name with :func:`register_model`. The shared training loop (:mod:`hepgen.training.loop`) knows
nothing about a model's internals: it asks the model for its optimisers, hands it batches of
preprocessed tensors (``batch["x"]`` data, ``batch["cond"]`` conditioning) and the optimisers in
:meth:`GenerativeModel.training_step` (manual optimisation, so critic:generator ratios live in
the model), and calls :meth:`GenerativeModel.sample` to generate. How raw data becomes tensors is
declared by the model's ``data_kind`` (``"showers"`` for voxel models), handled by
:mod:`hepgen.training.adapters`.

>>> from hepgen.models.registry import list_models, get_model_class
>>> get_model_class("wgan").name
'wgan'
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import torch
from torch import nn

from hepgen.errors import InputError

__all__ = ["GenerativeModel", "register_model", "get_model_class", "list_models"]

_REGISTRY: dict[str, type["GenerativeModel"]] = {}
# modules that register the built-in models when imported
_BUILTIN = ("hepgen.models.wgan", "hepgen.models.bibae", "hepgen.models.mdma_gan", "hepgen.models.mdma_flow",
            "hepgen.models.epic_gan", "hepgen.models.jet_flow", "hepgen.models.tgan", "hepgen.models.mdma_calo_gan",
            "hepgen.models.mdma_calo_flow", "hepgen.models.ganplify_gan", "hepgen.models.vaegan")


class GenerativeModel(nn.Module):
    """Base class of all generators trained by the shared loop.

    Subclasses set ``default_config`` (hyperparameters; the YAML config's ``model:`` section
    overrides them), ``data_kind`` and implement :meth:`configure_optimizers`,
    :meth:`training_step` and :meth:`sample`.

    Parameters
    ----------
    data_shape: shape of one preprocessed example (e.g. the geometry's dense shape).
    n_cond: number of conditioning inputs (log incident energy plus labels).
    config: model hyperparameters (``default_config`` updated with the user's values).
    geometry: the detector geometry (for geometry-aware layers), or ``None``.
    """

    name: str = ""
    data_kind: str = "showers"
    default_config: dict[str, Any] = {}

    def __init__(self, data_shape: tuple[int, ...], n_cond: int, config: dict[str, Any], geometry=None) -> None:
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.n_cond = int(n_cond)
        self.config = dict(config)
        self.geometry = geometry
        # counts generator updates across resumes (saved in the state dict)
        self.register_buffer("generator_steps", torch.zeros((), dtype=torch.long))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers; the loop passes them back to :meth:`training_step` in this order."""
        raise NotImplementedError

    def lr_decay(self) -> dict[str, float]:
        """Per-epoch multiplicative learning-rate factor of each optimiser (default: none)."""
        return {}

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer],
                      step: int, epoch: int) -> dict[str, torch.Tensor]:
        """One update (the model calls ``zero_grad/backward/step`` itself); returns named losses."""
        raise NotImplementedError

    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate one example per row of ``cond`` in preprocessed space."""
        raise NotImplementedError

    def on_train_epoch_end(self, epoch: int) -> None:
        """Hook after every epoch (e.g. resetting critics); the loop calls it when the next epoch starts."""

    def after_training(self, data: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Hook after training with the whole preprocessed training set (e.g. fit a latent KDE);
        returns arrays to store in the run directory (loaded again by :meth:`load_extra`)."""
        return {}

    def load_extra(self, extra: dict[str, Any]) -> None:
        """Receive what :meth:`after_training` returned when a run is loaded."""

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def export_graph(self):
        """Sampling as an ONNX-exportable :class:`~hepgen.models.export.ExportGraph`: a ``torch.nn.Module``
        ``(cond, *noise) -> example in preprocessed space`` and ``draw(cond, generator)``, which draws the
        noise exactly as :meth:`sample` does (same seed, same outputs). A model that cannot be exported
        raises :class:`~hepgen.models.export.ExportUnsupported` with the one-line reason."""
        from hepgen.models.export import ExportUnsupported

        raise ExportUnsupported(f"model '{self.name}' declares no export_graph()")


def register_model(name: str) -> Callable[[type[GenerativeModel]], type[GenerativeModel]]:
    """Class decorator: make a model available under ``name`` (``hepgen train --model name``).

    >>> @register_model("doc-toy")
    ... class Toy(GenerativeModel):
    ...     pass
    >>> get_model_class("doc-toy") is Toy
    True
    """

    def decorate(cls: type[GenerativeModel]) -> type[GenerativeModel]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name '{name}' is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_builtin() -> None:
    for module in _BUILTIN:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a built-in model module not written yet
            if exc.name != module:
                raise


def get_model_class(name: str) -> type[GenerativeModel]:
    """The model class registered as ``name``; unknown names raise :class:`InputError`.

    >>> get_model_class("bibae").__name__
    'BIBAE'
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise InputError(f"unknown model '{name}': expected one of {', '.join(list_models())}")
    return _REGISTRY[name]


def list_models() -> list[str]:
    """Names of all registered models.

    >>> "wgan" in list_models()
    True
    """
    _load_builtin()
    return sorted(_REGISTRY)
