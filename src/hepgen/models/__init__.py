"""Generative models: one module per model, all registered in :mod:`hepgen.models.registry`.

>>> from hepgen.models import list_models
>>> {"wgan", "bibae"} <= set(list_models())
True
"""

from hepgen.models.registry import GenerativeModel, get_model_class, list_models, register_model

__all__ = ["GenerativeModel", "register_model", "get_model_class", "list_models"]
