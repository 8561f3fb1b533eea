"""The one training loop: a Lightning module around any registered model, with manual optimisation.

The model performs its own updates (critic:generator ratios, several optimisers) in
:meth:`~hepgen.models.registry.GenerativeModel.training_step`; this wrapper adds what every model
needs: per-epoch learning-rate decay (lr = lr0 · decay^epoch), optionally a per-batch warm-up + cosine schedule
and AdamW for every model (:mod:`hepgen.training.schedules`), a NaN/inf guard (training stops with
:class:`TrainingDiverged` and the last good checkpoint stays), atomic checkpoints every
``checkpoint_every_s`` seconds and at each epoch end (resume continues from there), a time and
epoch budget, periodic validation, a progress bar and a JSON-lines log.

:func:`train` is the one entry point for every data kind (showers, point clouds, jets, arrays). The
validation metric is given by the caller (:class:`Validate`; ``hepgen train`` and the demo pass
``hepgen.evaluate.quick_metrics``, a few separation powers), so training depends on no evaluation code.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import lightning as L
import numpy as np
import torch

from hepgen.training.run import RunDir, checkpoint_globals, load_checkpoint, open_run, run_params

__all__ = ["train", "Validate", "TrainingDiverged", "LitWrapper", "RunCheckpoint", "Validation", "parse_duration",
           "run_training"]


class TrainingDiverged(RuntimeError):
    """A loss or weight became NaN/inf; the run directory keeps the last good checkpoint, if one was written."""


def parse_duration(value: str | float | int | None) -> float | None:
    """Seconds from ``90``, ``'90s'``, ``'30m'``, ``'1.5h'``, ``'1d'`` or ``'DD:HH:MM:SS'``.

    >>> parse_duration("30m"), parse_duration("00:01:00:00"), parse_duration(None)
    (1800.0, 3600.0, None)
    """
    from hepgen.errors import InputError

    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    if ":" in text:
        parts = [float(p) for p in text.split(":")]
        return sum(p * m for p, m in zip(reversed(parts), (1, 60, 3600, 86400)))
    units = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * units[unit]
            except ValueError:
                break
    try:
        return float(text)
    except ValueError:
        raise InputError(f"cannot read duration '{value}': expected e.g. 90s, 30m, 2h or DD:HH:MM:SS") from None


class EpochSampler(torch.utils.data.Sampler):
    """Shuffles with seed (seed, epoch): a resumed run sees the same order as an uninterrupted one
    (Lightning calls :meth:`set_epoch`)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class LitWrapper(L.LightningModule):
    """Lightning module that lets a :class:`GenerativeModel` do its own (manual) optimisation."""

    def __init__(self, model, training: dict | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.model = model
        self.training_cfg = dict(training or {})
        self.opt_names: list[str] = []
        self.epoch_losses: dict[str, list[float]] = {}
        self.lr_schedule: Callable[[int, float | None], float] | None = None
        decay = self.training_cfg.get("ema_decay")
        self.ema = None
        if decay:
            from hepgen.training.averaging import weight_average

            self.ema = weight_average(model, float(decay))

    @property
    def generation_model(self):
        """The weights that validate and generate: the moving average where the run keeps one, else the model."""
        return self.model if self.ema is None else self.ema.module

    def configure_optimizers(self):
        from hepgen.training.schedules import override_optimizer

        opts = override_optimizer(self.model.configure_optimizers(), self.training_cfg)
        self.opt_names = list(opts)
        return list(opts.values())

    def _param_groups(self):
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        for name, opt in zip(self.opt_names, opts):
            for group in opt.optimizer.param_groups if hasattr(opt, "optimizer") else opt.param_groups:
                yield name, group

    def training_step(self, batch, batch_idx):
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        named = dict(zip(self.opt_names, opts))
        x, cond = batch
        if self.lr_schedule is not None:  # per batch: step from (epoch, batch), so a resume continues the curve
            factor = self.lr_schedule(int(self.current_epoch) * int(self.trainer.num_training_batches) + batch_idx,
                                      self._time_spent())
            for _, group in self._param_groups():
                group["lr"] = group["epoch_lr"] * factor
        losses = self.model.training_step({"x": x, "cond": cond}, named, int(self.global_step), int(self.current_epoch))
        if self.ema is not None:
            from hepgen.training.averaging import update_average

            update_average(self.ema, self.model)
        for k, v in losses.items():
            value = float(v)
            if not math.isfinite(value):
                raise TrainingDiverged(f"loss '{k}' became {value} at epoch {self.current_epoch}, batch {batch_idx}")
            self.epoch_losses.setdefault(k, []).append(value)
        for name, p in self.model.named_parameters():
            if not torch.isfinite(p).all():
                raise TrainingDiverged(f"weight '{name}' became NaN/inf at epoch {self.current_epoch}")

    def _time_spent(self) -> float | None:
        """Fraction of the wall-clock budget (``max_time``, a total over resumes) spent; None without one."""
        from lightning.pytorch.callbacks import Timer

        for callback in self.trainer.callbacks:
            if isinstance(callback, Timer) and callback.time_remaining() is not None:
                elapsed = callback.time_elapsed()
                return elapsed / max(elapsed + float(callback.time_remaining() or 0.0), 1e-9)
        return None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        checkpoint["hepgen_rng"] = {"torch": torch.get_rng_state(),
                                    "numpy": [name, torch.as_tensor(keys.astype(np.int64)), int(pos), int(has_gauss),
                                              float(gauss)]}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._rng_to_restore = checkpoint.get("hepgen_rng")
        state = checkpoint.get("state_dict", {})
        has_average = any(k.startswith("ema.") for k in state)
        if self.ema is not None and not has_average:     # an average switched on for a run saved without one
            state.update({"ema." + k: v.clone() for k, v in self.ema.state_dict().items()})
            state.update({"ema.module." + k[len("model."):]: v.clone() for k, v in list(state.items())
                          if k.startswith("model.")})
            state["ema.n_averaged"] = torch.zeros_like(state["ema.n_averaged"])      # the next update copies
        elif self.ema is None and has_average:
            for k in [k for k in state if k.startswith("ema.")]:
                del state[k]

    def on_train_start(self) -> None:
        from hepgen.training.schedules import lr_factor_schedule

        self.lr_schedule = lr_factor_schedule(self.training_cfg, int(self.trainer.num_training_batches),
                                              int(self.trainer.max_epochs))
        rng = getattr(self, "_rng_to_restore", None)
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            name, keys, pos, has_gauss, gauss = rng["numpy"]
            np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))

    def on_train_epoch_start(self) -> None:
        # Epoch-dependent state is set at the start of an epoch from the epoch number, so that a run
        # resumed from an end-of-epoch checkpoint does exactly what an uninterrupted run does.
        epoch = int(self.current_epoch)
        if epoch > 0:
            self.model.on_train_epoch_end(epoch - 1)
        decay = self.model.lr_decay()
        for name, group in self._param_groups():
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["epoch_lr"] = group["initial_lr"] * decay.get(name, 1.0) ** epoch


class RunCheckpoint(L.Callback):
    """Save ``checkpoints/last.ckpt`` atomically every ``every_s`` seconds, at epoch ends and at the end."""

    def __init__(self, run: RunDir, every_s: float) -> None:
        self.run, self.every_s = run, every_s
        self.last = time.monotonic()

    def save(self, trainer: L.Trainer) -> None:
        from hepgen.data.atomic import temp_path

        path = self.run.checkpoint
        tmp = temp_path(path) if trainer.is_global_zero else path  # a fresh private file; only rank 0 writes
        trainer.save_checkpoint(tmp)  # collective under DDP; rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, path)
        self.last = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if time.monotonic() - self.last > self.every_s:
            self.save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self.save(trainer)


@dataclass
class Validate:
    """How :func:`train` validates: ``metric(reference, generated)`` returns named numbers, lower is better
    (e.g. ``hepgen.evaluate.quick_metrics``: separation powers); the epoch with the lowest mean of the
    finite ones is kept in ``checkpoints/best.ckpt``, which generation uses.

    ``reference``: the data to compare with (default: the held-out validation split of the training data);
    ``n``: examples to generate (default: one per reference example, with its conditions; with ``n``
    the model draws its own conditions, :meth:`~hepgen.models.base.GenerativeModel.sample_conditions`);
    ``seed``: the sampling seed (default: the training seed); ``every``: epochs between validations
    (default: the config's ``val_every_epochs``); ``final``: also validate after the last epoch of the budget.

    >>> Validate(lambda ref, gen: {"sep": 0.0}).every is None
    True
    """

    metric: Callable[[Any, Any], Mapping[str, float]]
    reference: Any = None
    n: int | None = None
    seed: int | None = None
    every: int | None = None
    final: bool = False


class Validation(L.Callback):
    """Every ``every`` epochs: generate for the validation conditions, compare, log and print (one JSON line per
    epoch in any case: mean losses and wall time)."""

    def __init__(self, run: RunDir, kind, validate: Validate | None, reference, every: int = 1, seed: int = 0) -> None:
        self.run, self.kind, self.validate, self.reference = run, kind, validate, reference
        self.every, self.seed = every, seed
        self.t0 = time.monotonic()
        self.best_score = (float(load_checkpoint(run.best)["validation_score"])
                           if run.best.is_file() else float("inf"))

    def keep_if_best(self, pl_module, epoch: int, record: dict[str, Any], metrics: dict[str, float]) -> None:
        """Save the weights to ``checkpoints/best.ckpt`` when the mean validation metric improves."""
        values = [v for v in metrics.values() if np.isfinite(v)]
        if not values or float(np.mean(values)) >= self.best_score:
            return
        self.best_score = float(np.mean(values))
        from hepgen.data.atomic import temp_path

        tmp = temp_path(self.run.best)
        torch.save({"state_dict": pl_module.state_dict(), "epoch": epoch, "validation_score": self.best_score}, tmp)
        os.replace(tmp, self.run.best)
        record["best_epoch"] = epoch

    def due(self, trainer, epoch: int) -> bool:
        if self.validate is None or self.reference is None or not len(self.reference):
            return False
        return (epoch + 1) % self.every == 0 or (self.validate.final and epoch + 1 >= trainer.max_epochs)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        from hepgen.progress import status

        if not trainer.is_global_zero:  # DDP: rank 0 validates and logs
            pl_module.epoch_losses.clear()
            return
        epoch = int(trainer.current_epoch)
        record: dict[str, Any] = {"epoch": epoch, "step": int(trainer.global_step),
                                  "wall_s": round(time.monotonic() - self.t0, 2)}
        record.update({k: float(np.mean(v)) for k, v in pl_module.epoch_losses.items()})
        pl_module.epoch_losses.clear()
        if self.due(trainer, epoch):
            metrics = self.metrics(pl_module.generation_model)
            record.update(metrics)
            self.keep_if_best(pl_module, epoch, record, metrics)
        self.run.log(record)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch", "step", "wall_s"))
        status(f"epoch {epoch}: {shown}")

    def metrics(self, model) -> dict[str, float]:
        from hepgen.training.kinds import Conditions

        ref, n = self.reference, self.validate.n
        c = self.kind.conditions_of(ref) if n is None else Conditions(n=int(n))
        own = None if n is None else model.sample_conditions(int(n), self.seed)  # the model's own conditions
        was_training = model.training
        model.eval()
        with torch.no_grad():
            cond = torch.as_tensor(self.kind.conditions(c) if own is None else own, device=model.device)
            x = model.sample(cond, torch.Generator().manual_seed(self.seed)).cpu().numpy()
        model.train(was_training)
        generated = self.kind.decode(x, c)
        return {k: float(v) for k, v in dict(self.validate.metric(ref, generated)).items()}


class ProgressCallback(L.Callback):
    """hepgen.progress bar over all batches of the epoch budget (silent with --quiet)."""

    def __init__(self, total: float | None, done: float = 0) -> None:
        from hepgen.progress import ProgressBar

        self.bar = ProgressBar(total=total, description="training", completed=done)

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.bar.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.bar.advance(1)

    def on_train_end(self, trainer, pl_module) -> None:
        self.bar.__exit__(None, None, None)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.bar.__exit__(None, None, None)


def fit(run: RunDir, model, kind, arrays: dict[str, np.ndarray], reference, cfg: dict[str, Any],
        max_epochs: int, max_time_s: float | None, seed: int, devices: int = 1, strategy: str = "auto",
        accelerator: str = "cpu", validate: Validate | None = None) -> int:
    """Train ``model`` on the encoded ``arrays`` until the budget is spent; resume from the run's checkpoint.

    ``devices`` > 1 with ``strategy="ddp"`` trains data-parallel through Lightning (gloo on CPU,
    NCCL on GPUs; under ``torchrun`` Lightning takes the ranks from the environment); each rank
    sees its share of every epoch's batches. Returns this process's global rank (0 alone).
    """
    import warnings
    from datetime import timedelta

    tcfg = cfg["training"]
    if tcfg.get("num_threads"):
        torch.set_num_threads(int(tcfg["num_threads"]))
    L.seed_everything(seed, verbose=False)
    x = torch.as_tensor(arrays["x"])
    cond = torch.as_tensor(arrays["cond"])
    batch_size = min(int(tcfg["batch_size"]), len(x))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, cond), batch_size=batch_size,
                                         sampler=EpochSampler(len(x), seed), drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))
    wrapper = LitWrapper(model, tcfg)
    every = int(validate.every or tcfg["val_every_epochs"]) if validate is not None else 1
    val_seed = seed if validate is None or validate.seed is None else int(validate.seed)
    ckpt = run.checkpoint if run.checkpoint.is_file() else None
    done_epochs = 0
    if ckpt is not None:
        done_epochs = int(load_checkpoint(ckpt).get("epoch", 0))  # refuses a file that would run code
    callbacks = [RunCheckpoint(run, float(tcfg["checkpoint_every_s"])),
                 Validation(run, kind, validate, reference, every, val_seed),
                 ProgressCallback(len(loader) * max_epochs, len(loader) * done_epochs)]
    import logging

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    trainer = L.Trainer(
        max_epochs=max_epochs, max_time=None if max_time_s is None else timedelta(seconds=max_time_s),
        accelerator=accelerator, devices=devices, strategy=strategy, logger=False, enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, callbacks=callbacks,
        default_root_dir=str(run.path), deterministic=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*(does not have many workers|resuming from a checkpoint that ended"
                                          "|LightningModule.configure_optimizers|GPU available|isinstance.treespec).*")
        with torch.serialization.safe_globals(checkpoint_globals()):  # Lightning's resume: no code either
            trainer.fit(wrapper, loader, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    return int(trainer.global_rank)


def train(model: str | None, data, run_dir: str | Path, config: dict | str | Path | None = None,
          max_time: str | float | None = None, max_epochs: int | None = None, seed: int = 0,
          resume: bool = True, devices: int = 1, strategy: str = "auto", accelerator: str = "cpu",
          init_from: str | Path | None = None, lr: float | None = None,
          validation: Validate | Callable | None = None) -> Path:
    """Train a registered model and return the run directory (enough to generate from).

    ``data`` is what the model's data kind reads (:mod:`hepgen.training.kinds`): a
    :class:`~hepgen.data.ShowerData` or shower file (voxel and point-cloud models), a
    :class:`~hepgen.data.JetData` or JetNet file (jet models), a NumPy array or ``.npy`` file (array
    models). A run directory that already holds a run is resumed from its last checkpoint (its saved
    config is used; ``max_time`` / ``max_epochs`` may extend the budget); with ``resume=False`` it is
    refused. ``max_time`` is a total over all resumes (e.g. ``'30m'``). NaN/inf in a loss raises
    :class:`TrainingDiverged`. ``devices``/``strategy``/``accelerator`` go to Lightning's Trainer
    (``devices=2, strategy="ddp"``: two data-parallel processes; ranks other than 0 return after
    training without touching the run directory). ``init_from`` starts a new run from another run's last
    weights (fine-tuning, e.g. a calochallenge-2 point-cloud model on calochallenge-3; the source run's
    config is used unless ``config`` is given) and ``lr`` overrides the model's ``lr`` parameter.
    ``validation`` (a :class:`Validate` or just its metric) scores generated against held-out data every
    ``val_every_epochs`` and keeps the best epoch; without it there is no validation and no best.ckpt.

    >>> import numpy as np, tempfile
    >>> from hepgen.data import ShowerData
    >>> from hepgen.progress import set_quiet; set_quiet(True)
    >>> rng = np.random.default_rng(0)
    >>> s = ShowerData(rng.uniform(1e3, 1e4, 64), rng.exponential(1, (64, 25)), "belle2-ecl-5x5")
    >>> cfg = {"params": {"width": 4, "noise_dim": 4, "constrainer_steps": 2}, "training": {"batch_size": 16}}
    >>> run = train("wgan", s, tempfile.mkdtemp() + "/run", cfg, max_epochs=1)
    >>> (run / "checkpoints" / "last.ckpt").is_file()
    True
    """
    from hepgen.data.atomic import check_not_input
    from hepgen.errors import InputError, about_file
    from hepgen.models.registry import get_model_class
    from hepgen.training.config import load_yaml, resolve_config, save_yaml
    from hepgen.training.kinds import kind_class

    data_name = str(data) if isinstance(data, (str, Path)) else None
    config_file = config if isinstance(config, (str, Path)) else None
    check_not_input(run_dir, [data_name, config_file, init_from], "run directory")
    if Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise InputError("the run directory (-o) exists and is a file, expected a folder", file=str(run_dir))
    if init_from is not None and model is None and config is None:
        model = load_yaml(RunDir(init_from).config)["model"]
    saved = RunDir(run_dir)
    name = load_yaml(saved.config)["model"] if saved.exists() else resolve_config(model, config)["model"]
    kind_cls = kind_class(get_model_class(name).data_kind)
    if data_name is None:
        kind_cls.validate(data)            # the readers' strict rules, for in-memory data
    else:
        with about_file(data_name):
            data = kind_cls.read(data)     # strict: implausible training data are refused
    if init_from is not None and config is None and not RunDir(run_dir).exists():
        src = load_yaml(RunDir(init_from).config)
        config = {k: src[k] for k in ("params", "training", "preprocessing", "labels") if k in src}
        model = model or src["model"]
    run, cfg, kind = open_run(run_dir, model, config, resume)
    if kind is None and lr is not None:
        if "lr" not in cfg["params"]:
            raise InputError(f"model '{cfg['model']}' has no 'lr' parameter to set with --lr")
        cfg["params"]["lr"] = float(lr)
    tcfg = cfg["training"]
    train_set, val_set = kind_cls.split(data, float(tcfg["val_fraction"]), int(tcfg["val_max"]), seed)
    if len(train_set) < 2:
        raise InputError(f"need at least 2 training {kind_cls.unit}, got {len(train_set)}", file=data_name)
    cls = get_model_class(cfg["model"])
    new_run = kind is None
    if new_run:
        with about_file(data_name):
            kind = kind_cls.fit(train_set, cfg["preprocessing"], cfg["labels"])
    L.seed_everything(seed, verbose=False)
    # the model checks its parameters before a new run directory exists: a refused one leaves nothing behind
    params_file = str(run.config) if not new_run else str(config_file) if config_file is not None else None
    with about_file(params_file):
        net = cls(kind.data_shape, kind.n_cond, run_params(cls, cfg["params"]), kind.geometry)
    if new_run:
        run.create()
        run.write_json(run.preprocessing, kind.state())
        save_yaml(run.config, cfg)
    net.set_data_kind(kind)
    if init_from is not None and not run.checkpoint.is_file():
        _load_weights(net, init_from)
        run.set_state(init_from=str(Path(init_from).name))
    epochs = int(max_epochs if max_epochs is not None else tcfg["max_epochs"])
    seconds = parse_duration(max_time if max_time is not None else tcfg["max_time"])
    with about_file(data_name):
        arrays = kind.encode(train_set)
    net.before_training({k: torch.as_tensor(v) for k, v in arrays.items()})
    if validation is not None and not isinstance(validation, Validate):
        validation = Validate(validation)
    reference = val_set if validation is None or validation.reference is None else validation.reference
    return run_training(run, net, kind, arrays, reference, cfg, epochs, seconds, seed, devices=devices,
                        strategy=strategy, accelerator=accelerator, validate=validation)


def run_training(run: RunDir, net, kind, arrays: dict[str, np.ndarray], reference, cfg: dict[str, Any],
                 epochs: int, seconds: float | None, seed: int, **fit_options) -> Path:
    """Fit with the run's state kept honest (running / diverged / interrupted / finished), then store what the
    model derives from its training set (``after_training``, e.g. a latent KDE) in ``extra.npz``.
    Used by :func:`train` for every data kind; returns the run directory."""
    run.set_state(status="running", max_epochs=epochs, max_time_s=seconds, seed=seed)
    try:
        rank = fit(run, net, kind, arrays, reference, cfg, epochs, seconds, seed, **fit_options)
    except TrainingDiverged as exc:
        if run.checkpoint.is_file():  # say what is true: a checkpoint from an earlier epoch, or none at all
            epoch = load_checkpoint(run.checkpoint).get("epoch", "?")
            kept = f"the last good checkpoint (end of epoch {epoch}) is kept in {run.checkpoint}"
        else:
            kept = "no checkpoint had been written yet, so there is none to keep (a rerun starts over)"
        diverged = TrainingDiverged(f"{exc}; training stopped, {kept} (try a lower learning rate)")
        run.set_state(status="diverged", message=str(diverged))
        raise diverged from None
    except KeyboardInterrupt:
        run.set_state(status="interrupted")
        raise
    if rank != 0:
        return run.path
    if cfg["training"].get("ema_decay"):     # what after_training derives must come from the weights that generate
        from hepgen.training.averaging import generation_state

        net.load_state_dict(generation_state(load_checkpoint(run.checkpoint)["state_dict"]))
    net.eval()
    extra = net.after_training({k: torch.as_tensor(v) for k, v in arrays.items()})
    if extra:
        from hepgen.data.atomic import atomic_path

        with atomic_path(run.extra, overwrite=True) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in extra.items()})
    run.set_state(status="finished", n_parameters=net.n_parameters())
    return run.path


def _load_weights(net, run_dir: str | Path) -> None:
    """Copy another run's last weights into ``net`` (same model and sizes; its moving average where it kept one),
    for fine-tuning."""
    from hepgen.errors import InputError
    from hepgen.training.averaging import generation_state

    src = RunDir(run_dir)
    if not src.checkpoint.is_file():
        raise InputError("run to initialise from has no checkpoint", file=str(src.checkpoint))
    ckpt = load_checkpoint(src.checkpoint)
    state = generation_state(ckpt["state_dict"])
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise InputError(f"weights do not fit this model ({first}); fine-tuning needs the same model and sizes "
                         "(point-cloud models transfer between geometries, voxel models do not)",
                         file=str(src.checkpoint)) from None
