"""The one run configuration schema (YAML), with defaults per model.

A config has four sections; anything left out takes the default, unknown keys are an error::

    model: bibae
    params:            # the model's hyperparameters; defaults: the model class's default_config
      latent_dim: 24
    training:          # the shared loop
      batch_size: 64
      max_epochs: 20
    preprocessing:     # voxel transforms (see hepgen.training.preprocessing); default per model
      - {name: divide_by_incident}
    labels: []         # extra conditioning labels stored in the data, e.g. [visible_energy]

A model may also declare named presets (``config_presets``, e.g. ``pion`` for the WGAN and the BIB-AE:
the thesis's hyperparameters for pion showers; ``seed-size`` for the WGAN, the BIB-AE and the MDMA calorimeter
models: the sizes of the papers they follow); ``--config NAME`` takes one where no file of that name exists.

>>> cfg = resolve_config("wgan", {"training": {"batch_size": 32}})
>>> cfg["training"]["batch_size"], cfg["params"]["n_critic"]
(32, 5)
>>> resolve_config("bibae", "pion")["params"]["reset_critic"]
True
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hepgen.errors import InputError

__all__ = ["TRAINING_DEFAULTS", "resolve_config", "config_presets", "load_yaml", "save_yaml"]

TRAINING_DEFAULTS: dict[str, Any] = {
    "batch_size": 64,
    "max_epochs": 20,
    "max_time": None,            # seconds or "30m"/"2h"/"DD:HH:MM:SS"; a total over resumes
    "checkpoint_every_s": 60.0,  # also at every epoch end
    "val_fraction": 0.1,         # held out from the training data for the periodic validation
    "val_max": 2000,             # at most this many validation showers (or jets: W1M picks best.ckpt)
    "val_every_epochs": 1,
    "num_threads": None,         # torch CPU threads (None: torch's default)
    "optimizer": None,           # None: each model's own optimisers; "adamw": AdamW for all (hepgen.training.schedules)
    "weight_decay": None,        # AdamW's decoupled weight decay with optimizer: adamw (None: 0.01)
    "lr_schedule": None,         # None: constant (times the model's lr_decay); "warmup_cosine" or "budget_cosine"
    "warmup_steps": None,        # batches of linear warm-up (None: 10 % of max_epochs' batches)
    "lr_final_factor": 0.0,      # the cosine's end value, a fraction of the base learning rate
    "ema_decay": None,           # keep a moving average of the weights to generate with (hepgen.training.averaging)
}
SECTIONS = ("model", "params", "training", "preprocessing", "labels")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing or malformed file raises :class:`InputError`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError("config file not found", file=str(path))
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({exc})".replace("\n", " "), file=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping with sections model/params/training/preprocessing/labels",
                         file=str(path))
    return data


def save_yaml(path: str | Path, data: dict[str, Any]) -> None:
    """Write a mapping as YAML atomically (temp file + rename)."""
    import yaml

    from hepgen.data.atomic import atomic_path

    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))


def _merge(defaults: dict[str, Any], user: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(defaults)
    for key, value in (user or {}).items():
        if key not in defaults:
            raise InputError(f"{where}: unknown key '{key}'; expected one of {', '.join(sorted(defaults))}")
        out[key] = value
    return out


def config_presets(model: str) -> dict[str, dict[str, Any]]:
    """The named presets of a registered model (``{name: config}``; empty for most models).

    >>> sorted(config_presets("wgan"))
    ['pion', 'pion-small', 'seed-size']
    """
    from hepgen.models.registry import get_model_class

    return copy.deepcopy(get_model_class(model).config_presets)


def preset_or_file(model: str | None, config: str | Path) -> dict[str, Any]:
    """A config given by name: a YAML file if one exists, else a preset of ``model``.

    >>> preset_or_file("wgan", "pion-small")["model"]
    'wgan'
    """
    name = str(config)
    if Path(name).is_file() or model is None:
        return load_yaml(name)
    presets = config_presets(model)
    if name in presets:
        return {"model": model, **presets[name]}
    if Path(name).suffix in (".yaml", ".yml") or not presets:
        return load_yaml(name)
    raise InputError(f"neither a config file nor a preset of model '{model}' "
                     f"(presets: {', '.join(sorted(presets))})", file=name)


def resolve_config(model: str | None, config: dict[str, Any] | str | Path | None = None) -> dict[str, Any]:
    """The full config for ``model``: per-model defaults updated with ``config`` (dict or YAML path).

    The model may be named by the argument or by the config's ``model`` key (they must agree).

    >>> resolve_config("bibae")["params"]["latent_dim"]
    24
    >>> resolve_config("wgan", {"params": {"no_such": 1}})
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: params: unknown key 'no_such'; expected one of ...
    """
    from hepgen.models.registry import get_model_class

    where = "config"
    if isinstance(config, (str, Path)):
        where = str(config)
        config = preset_or_file(model, config)
    config = dict(config or {})
    for key in config:
        if key not in SECTIONS:
            raise InputError(f"unknown section '{key}'; expected {', '.join(SECTIONS)}", file=where)
    name = model or config.get("model")
    if not name:
        raise InputError("no model given; pass --model or put 'model:' in the config", file=where)
    if config.get("model") and model and config["model"] != model:
        raise InputError(f"config is for model '{config['model']}' but '{model}' was asked for", file=where)
    cls = get_model_class(name)
    defaults = copy.deepcopy(cls.default_config)
    preprocessing = defaults.pop("preprocessing", [])
    out = {
        "model": name,
        "params": _merge(defaults, config.get("params"), "params"),
        "training": _merge({**TRAINING_DEFAULTS, **cls.training_defaults}, config.get("training"), "training"),
        "preprocessing": copy.deepcopy(config.get("preprocessing", preprocessing)),
        "labels": list(config.get("labels", [])),
    }
    decay = out["training"]["ema_decay"]
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < 1):
        raise InputError(f"training: ema_decay must lie in (0, 1) or be null, got {decay!r}", file=where)
    return out
