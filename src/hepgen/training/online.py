"""Online training on an event stream: double buffering, stochastic weight averaging, an online-bootstrap ensemble.

The scheme of A. Butter, S. Diefenbacher, G. Kasieczka, B. Nachman, T. Plehn, D. Shih, R. Winterhalder,
"Ephemeral Learning – Augmenting Triggers with Online-Trained Normalizing Flows", arXiv:2202.09375 (and
S. Diefenbacher, PhD thesis, U. Hamburg (2022), Sec. 9.1): a generative model trained at the trigger on every
event keeps the statistical power of the stream in a fixed number of weights, where prescales throw events away.

* **Double buffering**: events fill a buffer of ``n_buffer``; when it is full the networks pass over it
  ``n_iter`` times in shuffled mini-batches of ``n_batch`` while a background thread fills the second buffer; then
  the first is discarded. At most two buffers exist; an event is used only while its buffer is active and nothing
  else is stored (:attr:`OnlineEnsemble.max_resident_events` records the peak).
* **Stochastic weight averaging** (Izmailov et al., arXiv:1803.05407; ``torch.optim.swa_utils``): after each
  buffer, from buffer ``swa_skip + 1`` on, the weights are added to a running average; the averaged flows are the
  result.
* **Online bootstrap**: ``n_ens`` flows, every event weighted by a Poisson(1) number drawn independently for each
  flow (an online emulation of resampling the stream with replacement); the spread of the flows measures the
  statistical uncertainty of what they learnt.
* **Learning rate**: constant (thesis), or, as an option, ``lr_schedule="cosine"``: within each buffer a cosine
  from the model's lr down to ``lr_min`` times it, so that the weight average collects the low-lr end of each
  buffer's cycle (the cyclical schedule of the SWA paper; a hepgen deviation for short streams and few passes).
* **Checkpoint/resume**: the whole ensemble (flows, optimisers, averages, counters) is written atomically between
  buffers; all randomness of buffer k comes from ``SeedSequence([seed, k])``, so a run resumed from a checkpoint
  on the same stream continues bit-identically.
* **Can training keep up?** Each buffer records the stream's own rate (events/s the source delivers while it is
  read) and the training rate (events/s of the buffer's training); progress shows both.

The flows are :class:`hepgen.models.online_maf.OnlineMAF` (a MAF with noise dimensions and log preprocessing).

>>> rng = np.random.default_rng(0)
>>> stream = (rng.exponential(1.0, (300, 1)) for _ in range(4))
>>> ens = OnlineEnsemble(1, OnlineConfig(n_buffer=400, n_batch=100, n_iter=1, n_ens=2, swa_skip=1,
...                                      model={"transforms": 1, "hidden": [8]}))
>>> summary = ens.run(stream, quiet=True)
>>> summary["events"], ens.buffers_done, ens.n_averaged(0), ens.max_resident_events <= 800
(1200, 3, 2, True)
>>> ens.sample(5, member=1, seed=0).shape
(5, 1)
"""

from __future__ import annotations

import copy
import pickle
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from hepgen.data.stream import rechunk, skip_events
from hepgen.errors import InputError
from hepgen.models.online_maf import OnlineMAF

__all__ = ["OnlineConfig", "OnlineEnsemble", "DoubleBuffer"]


@dataclass
class OnlineConfig:
    """Settings of online training (thesis bump hunt: 10k, 250, 100, 20 flows; lr 1e-5 in ``model``)."""

    n_buffer: int = 10_000          # events per buffer
    n_batch: int = 250              # mini-batch size
    n_iter: int = 100               # passes over each buffer
    n_ens: int = 20                 # flows in the ensemble
    swa_skip: int = 2               # buffers trained before the weight average starts
    bootstrap: bool = True          # Poisson(1) event weights per flow (False: all weights 1)
    lr_schedule: str = "constant"   # constant (thesis) or cosine: lr -> lr * lr_min within each buffer (SWA cycles)
    lr_min: float = 0.01            # cosine: the end of each buffer's cycle as a fraction of the model's lr
    seed: int = 0
    model: dict[str, Any] = field(default_factory=dict)   # OnlineMAF settings over its default_config

    def check(self) -> None:
        """Refuse impossible settings with one line."""
        for name in ("n_buffer", "n_batch", "n_iter", "n_ens"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if int(self.swa_skip) < 0:
            raise InputError(f"swa_skip must be >= 0, got {self.swa_skip}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise InputError(f"lr_schedule '{self.lr_schedule}': expected constant (the thesis's) or cosine")
        if not 0.0 <= float(self.lr_min) <= 1.0:
            raise InputError(f"lr_min is a fraction of the learning rate in [0, 1], got {self.lr_min}")

    def lr_factor(self, step: int, steps: int) -> float:
        """The learning rate of update ``step`` (0-based) of the ``steps`` updates of one buffer, as a fraction
        of the model's lr: 1 (constant) or a cosine from 1 down to ``lr_min`` at the buffer's last update.

        >>> c = OnlineConfig(lr_schedule="cosine", lr_min=0.1)
        >>> [round(c.lr_factor(k, 5), 3) for k in range(5)], OnlineConfig().lr_factor(3, 5)
        ([1.0, 0.868, 0.55, 0.232, 0.1], 1.0)
        """
        if self.lr_schedule == "constant" or steps <= 1:
            return 1.0
        return float(self.lr_min + (1.0 - self.lr_min) * 0.5 * (1.0 + np.cos(np.pi * step / (steps - 1))))


class DoubleBuffer:
    """Iterate over buffers of ``size`` events of ``stream`` while a background thread fills the next one.

    At most two buffers are alive: the one handed out (until :meth:`release`) and the one being filled; the
    filling thread waits for a free slot. ``fill_seconds`` is the time spent pulling events from the stream
    (the stream's own rate is events / fill_seconds).

    >>> buffers = DoubleBuffer([np.zeros((3, 1)), np.ones((3, 1))], 4)
    >>> sizes = []
    >>> for b in buffers:
    ...     sizes.append(len(b)); buffers.release()
    >>> sizes, buffers.max_resident_events <= 8
    ([4, 2], True)
    """

    def __init__(self, stream: Iterable[np.ndarray], size: int) -> None:
        self._source: Iterator[np.ndarray] = rechunk(stream, size)
        self._slots = threading.Semaphore(2)
        self._ready: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.resident_events = 0
        self.max_resident_events = 0
        self.fill_seconds: list[float] = []
        self._outstanding = 0
        self._thread = threading.Thread(target=self._fill, daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            while not self._stop.is_set():
                self._slots.acquire()
                if self._stop.is_set():
                    return
                start = time.perf_counter()
                buffer = next(self._source, None)
                seconds = time.perf_counter() - start
                if buffer is None:
                    self._ready.put(None)
                    return
                with self._lock:
                    self.resident_events += len(buffer)
                    self.max_resident_events = max(self.max_resident_events, self.resident_events)
                self._ready.put((buffer, seconds))
        except BaseException as exc:  # handed to the consumer
            self._ready.put(exc)

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            item = self._ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            buffer, seconds = item
            self.fill_seconds.append(seconds)
            self._outstanding = len(buffer)
            yield buffer

    def release(self) -> None:
        """The handed-out buffer is done: forget it and let the thread fill the next."""
        with self._lock:
            self.resident_events -= self._outstanding
        self._outstanding = 0
        self._slots.release()

    def close(self) -> None:
        """Stop the filling thread (after an error in the consumer)."""
        self._stop.set()
        self._slots.release()


class OnlineEnsemble:
    """``n_ens`` :class:`OnlineMAF` flows of ``n_features`` features trained together on one stream."""

    def __init__(self, n_features: int, config: OnlineConfig | None = None) -> None:
        from torch.optim.swa_utils import AveragedModel

        self.config = config or OnlineConfig()
        self.config.check()
        self.n_features = int(n_features)
        c = self.config
        with torch.random.fork_rng():
            torch.manual_seed(int(np.random.SeedSequence([c.seed, 2**31]).generate_state(1)[0]))
            self.members = [OnlineMAF((self.n_features,), 0, {**OnlineMAF.default_config, **c.model})
                            for _ in range(c.n_ens)]
        self.optimizers = [m.configure_optimizers()["flow"] for m in self.members]
        self.averages = [AveragedModel(m) for m in self.members]
        self.buffers_done = 0
        self.events_seen = 0
        self.fitted = False
        self.max_resident_events = 0
        self.history: list[dict[str, float]] = []

    # -- training ----------------------------------------------------------------------------------------------
    def _train_step(self, member: int, x: torch.Tensor, weight: torch.Tensor) -> float:
        """One weighted update of flow ``member`` (overridden by tests to watch the batches)."""
        model = self.members[member]
        out = model.training_step({"x": x, "weight": weight}, {"flow": self.optimizers[member]}, 0, 0)
        return float(out["nll_per_dim"])

    def _set_lr(self, factor: float) -> None:
        """Every flow's Adam learning rate to ``factor`` times the model's ``lr``."""
        for m, opt in zip(self.members, self.optimizers):
            for group in opt.param_groups:
                group["lr"] = float(m.config["lr"]) * factor

    def poisson_weights(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n_ens, n) event weights: Poisson(1), independent per event and flow (ones without bootstrap).

        >>> ens = OnlineEnsemble(1, OnlineConfig(n_ens=3, model={"transforms": 1, "hidden": [4]}))
        >>> w = ens.poisson_weights(100_000, np.random.default_rng(0))
        >>> w.shape, np.round(w.mean(axis=1), 2).tolist()
        ((3, 100000), [1.0, 1.0, 1.0])
        """
        if not self.config.bootstrap:
            return np.ones((self.config.n_ens, n), np.float32)
        return rng.poisson(1.0, (self.config.n_ens, n)).astype(np.float32)

    def train_buffer(self, buffer: np.ndarray) -> float:
        """Train every flow ``n_iter`` passes over one buffer (n, n_features); returns the mean weighted
        NLL per dimension of the last pass. The first buffer also fixes each flow's preprocessing."""
        c = self.config
        x = np.asarray(buffer, np.float64).reshape(len(buffer), -1)
        if x.shape[1] != self.n_features:
            raise InputError(f"stream events have {x.shape[1]} features, the ensemble {self.n_features}",
                             index=self.events_seen)
        if not self.fitted:
            for m in self.members:
                m.fit_features(x)
            self.fitted = True
        rng = np.random.default_rng(np.random.SeedSequence([c.seed, self.buffers_done]))
        weights = torch.as_tensor(self.poisson_weights(len(x), rng))
        xt = torch.as_tensor(x, dtype=torch.float32)
        losses: list[float] = []
        for m in self.members:
            m.train()
        steps, step = c.n_iter * -(-len(x) // c.n_batch), 0
        with torch.random.fork_rng():
            torch.manual_seed(int(rng.integers(2**62)))   # the noise dimensions of log_prob
            for _ in range(c.n_iter):
                order = torch.as_tensor(rng.permutation(len(x)))
                losses = []
                for lo in range(0, len(x), c.n_batch):
                    idx = order[lo:lo + c.n_batch]
                    if c.lr_schedule != "constant":
                        self._set_lr(c.lr_factor(step, steps))
                    for k in range(c.n_ens):
                        losses.append(self._train_step(k, xt[idx], weights[k, idx]))
                    step += 1
        self.buffers_done += 1
        self.events_seen += len(x)
        if self.buffers_done > c.swa_skip:
            for avg, m in zip(self.averages, self.members):
                avg.update_parameters(m)
                for a, b in zip(avg.module.buffers(), m.buffers()):   # the fixed preprocessing, step counters
                    a.copy_(b)
        return float(np.mean(losses)) if losses else float("nan")

    def run(self, stream: Iterable[np.ndarray], checkpoint: str | Path | None = None, checkpoint_every: int = 1,
            skip_seen: bool = True, max_events: int | None = None, quiet: bool | None = None,
            on_buffer: Callable[["OnlineEnsemble"], None] | None = None) -> dict[str, Any]:
        """Train on ``stream`` (chunks (n, n_features)) until it ends or ``max_events`` more events were used.

        ``skip_seen``: drop the first :attr:`events_seen` events of the stream (a resumed ensemble given the
        re-opened stream from its start); ``checkpoint``: written every ``checkpoint_every`` buffers and at the
        end; ``on_buffer(self)`` after every buffer (e.g. to sample the averaged flows as the stream goes on).
        Returns events, buffers, seconds and the rates of the stream and of training (events/s).
        """
        from hepgen.progress import ProgressBar, is_quiet, set_quiet, status

        if skip_seen and self.events_seen:
            stream = skip_events(stream, self.events_seen)
        if max_events is not None:
            stream = _limit(stream, int(max_events))
        old_quiet = is_quiet()
        if quiet is not None:
            set_quiet(quiet)
        buffers = DoubleBuffer(stream, self.config.n_buffer)
        events, train_s, start = 0, 0.0, time.perf_counter()
        try:
            with ProgressBar(total=max_events, description="online training (events)") as bar:
                for buffer in buffers:
                    t0 = time.perf_counter()
                    loss = self.train_buffer(buffer)
                    seconds = time.perf_counter() - t0
                    n = len(buffer)
                    del buffer
                    buffers.release()
                    self.max_resident_events = max(self.max_resident_events, buffers.max_resident_events)
                    events, train_s = events + n, train_s + seconds
                    fill = buffers.fill_seconds[-1]
                    self.history.append({"buffer": self.buffers_done, "events": self.events_seen, "nll": loss,
                                         "train_s": seconds, "stream_rate": n / max(fill, 1e-9),
                                         "train_rate": n / max(seconds, 1e-9)})
                    bar.advance(n)
                    bar.describe(f"online training: stream {n / max(fill, 1e-9):.3g} events/s, training "
                                 f"{n / max(seconds, 1e-9):.3g} events/s")
                    if checkpoint is not None and self.buffers_done % max(1, int(checkpoint_every)) == 0:
                        self.save(checkpoint)
                    if on_buffer is not None:
                        on_buffer(self)
            if checkpoint is not None:
                self.save(checkpoint)
        finally:
            buffers.close()
            set_quiet(old_quiet)
        fill_s = float(sum(buffers.fill_seconds))
        summary = {"events": events, "buffers": len(buffers.fill_seconds), "seconds": time.perf_counter() - start,
                   "train_seconds": train_s, "stream_rate": events / max(fill_s, 1e-9),
                   "train_rate": events / max(train_s, 1e-9), "max_resident_events": buffers.max_resident_events}
        if events:
            keeps_up = "keeps up" if summary["train_rate"] >= summary["stream_rate"] else "falls behind"
            if quiet is not True:
                status(f"online training: {events} events, stream {summary['stream_rate']:.3g} events/s, "
                       f"training {summary['train_rate']:.3g} events/s ({keeps_up}; {self.config.n_ens} flows, "
                       f"{self.config.n_iter} passes per buffer)")
        return summary

    # -- results -----------------------------------------------------------------------------------------------
    def n_averaged(self, member: int) -> int:
        """How many buffers the weight average of flow ``member`` holds."""
        return int(self.averages[member].n_averaged)

    def flow(self, member: int, averaged: bool = True) -> OnlineMAF:
        """Flow ``member``: its weight average when one exists and ``averaged``, else the current weights."""
        if averaged and self.n_averaged(member) > 0:
            return self.averages[member].module
        return self.members[member]

    def sample(self, n: int, member: int, seed: int | None = None, averaged: bool = True,
               chunk: int = 50_000) -> np.ndarray:
        """(n, n_features) events in the stream's units from flow ``member`` (averaged weights by default)."""
        model = self.flow(member, averaged).eval()
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        parts = []
        for lo in range(0, int(n), chunk):
            m = min(chunk, int(n) - lo)
            parts.append(model.sample(torch.zeros(m, 0), generator).reshape(m, -1).numpy().astype(np.float64))
        return np.concatenate(parts) if parts else np.zeros((0, self.n_features))

    # -- checkpoints -------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue: settings, counters, flows, optimisers, weight averages, history."""
        return {"format": "hepgen-online-ensemble-1", "config": asdict(self.config), "n_features": self.n_features,
                "buffers_done": self.buffers_done, "events_seen": self.events_seen, "fitted": self.fitted,
                "max_resident_events": self.max_resident_events, "history": copy.deepcopy(self.history),
                "members": [m.state_dict() for m in self.members],
                "optimizers": [o.state_dict() for o in self.optimizers],
                "averages": [a.state_dict() for a in self.averages]}

    def save(self, path: str | Path) -> None:
        """Write the ensemble atomically (replacing an older checkpoint of the same name)."""
        from hepgen.data.atomic import atomic_path

        with atomic_path(path, overwrite=True) as tmp:
            torch.save(self.state(), tmp)

    @classmethod
    def load(cls, path: str | Path) -> "OnlineEnsemble":
        """An ensemble from :meth:`save`, ready to continue (``run`` skips the events it has seen)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)   # tensors and plain types only
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            raise InputError(f"not a readable online-ensemble checkpoint ({exc})", file=str(path)) from None
        if not isinstance(state, dict) or state.get("format") != "hepgen-online-ensemble-1":
            raise InputError("not an online-ensemble checkpoint (no format hepgen-online-ensemble-1)", file=str(path))
        ens = cls(state["n_features"], OnlineConfig(**state["config"]))
        for m, s in zip(ens.members, state["members"]):
            m.load_state_dict(s)
        for o, s in zip(ens.optimizers, state["optimizers"]):
            o.load_state_dict(s)
        for a, s in zip(ens.averages, state["averages"]):
            a.load_state_dict(s)
        ens.buffers_done, ens.events_seen = int(state["buffers_done"]), int(state["events_seen"])
        ens.fitted, ens.history = bool(state["fitted"]), list(state["history"])
        ens.max_resident_events = int(state["max_resident_events"])
        return ens


def _limit(stream: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """The first ``n`` events of a stream."""
    left = n
    if left <= 0:
        return
    for chunk in stream:   # stops right after the chunk that completes n: a live stream loses nothing more
        chunk = np.asarray(chunk)
        yield chunk[:left]
        left -= len(chunk)
        if left <= 0:
            return
