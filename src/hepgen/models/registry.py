"""The one model registry: names -> :class:`~hepgen.models.base.GenerativeModel` subclasses.

A model is a subclass of :class:`GenerativeModel` (the declared interface, :mod:`hepgen.models.base`,
re-exported here), registered under a short name with :func:`register_model`.

>>> from hepgen.models.registry import list_models, get_model_class
>>> get_model_class("wgan").name
'wgan'
"""

from __future__ import annotations

import importlib
from typing import Callable

from hepgen.errors import InputError
from hepgen.models.base import GenerativeModel

__all__ = ["GenerativeModel", "register_model", "get_model_class", "list_models"]

_REGISTRY: dict[str, type["GenerativeModel"]] = {}
_LOADED = False


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


def builtin_modules() -> list[str]:
    """Every module of the :mod:`hepgen.models` package: a model file placed there registers itself when
    imported, so adding a model touches no other file.

    >>> "hepgen.models.wgan" in builtin_modules()
    True
    """
    import pkgutil

    import hepgen.models

    return [f"hepgen.models.{m.name}" for m in pkgutil.iter_modules(hepgen.models.__path__) if not m.ispkg]


def _load_builtin() -> None:
    """Import every module of the models package (model files register themselves); a broken module raises."""
    global _LOADED
    if _LOADED:
        return
    for module in builtin_modules():
        importlib.import_module(module)
    _LOADED = True


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
