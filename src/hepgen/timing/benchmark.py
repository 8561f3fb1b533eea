"""The CaloChallenge timing protocol for a run directory (``hepgen benchmark RUN_DIR``).

For each backend (``torch``, ``onnxruntime``) and batch size (1, 100, 10000 by default) the time
per shower in ms, mean ± std over repeats after a warm-up, of

* ``forward``: the network alone (standardised conditions and noise already in memory);
* ``sample``: conditions -> network -> inverse preprocessing -> showers in MeV (what a user gets
  in memory);
* ``write-gzip`` / ``write-lzf`` / ``write-none``: the whole user path as ``hepgen generate
  --batch-size B`` runs it: drawing the incident energies, the network in micro-batches of
  :func:`~hepgen.training.sampling.auto_batch_size`, and appending the chunk to an open HDF5 file with
  that compression (gzip is the CaloChallenge files' filter).

Also recorded: threads, parameter counts (training: every parameter of the model, critics
included; generation: those of the modules a sampling call runs), the peak resident memory during
each point, the throughput-optimal batch size among the measured ones, and the reference
simulator's time on the same machine (GFlash, :mod:`hepgen.simulate`). Batch 10000 is feasible
with ``repeats`` 1 and a warm-up at batch 1000; a point whose repeats are predicted to take longer
than ``max_point_s`` runs fewer repeats (the JSON records them), and one whose single call is
predicted to take longer is skipped and says so; so is a point above batch 1000 whose one call is
predicted (the memory its warm-up at 1000 took, scaled to the batch) to need at least 80 % of the
memory available (the seed-size WGAN at batch 10000 was killed for memory on a 24 GB machine). Times
are ms per shower, as the CaloChallenge CSV columns ``time CPU 1/100/10000``.

>>> parse_batch_sizes("1,100,10000")
[1, 100, 10000]
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hepgen.errors import InputError
from hepgen.training.sampling import auto_batch_size

__all__ = ["benchmark_run", "time_per_item", "parameter_counts", "reference_time", "to_markdown", "machine_info",
           "parse_batch_sizes", "PeakMemory", "PATHS",
           "pythia_reference_time", "consolidated_markdown"]

PATHS = ("forward", "sample", "write-gzip", "write-lzf", "write-none")


def parse_batch_sizes(text: str) -> list[int]:
    """Batch sizes from ``'1,100,10000'`` (positive integers)."""
    try:
        sizes = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise InputError(f"batch sizes '{text}': expected positive integers like 1,100,10000")
    return sizes


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, load average, Python/torch versions (what a benchmark entry must state)."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


class PeakMemory:
    """Peak resident set size (MiB) of this process while the block runs, sampled every 2 ms from
    ``/proc/self/statm`` (falls back to the lifetime peak ``ru_maxrss`` elsewhere).

    >>> with PeakMemory() as mem:
    ...     _ = np.ones(10**6)
    >>> mem.peak_mib > 0
    True
    """

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s, self.peak_mib = interval_s, 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss_mib() -> float:
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
            return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, self.rss_mib())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakMemory":
        self.peak_mib = self.rss_mib()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, self.rss_mib())


def time_per_item(fn: Callable[[], Any], n_items: int, repeats: int, warmup: Callable[[], Any] | None = None
                  ) -> dict[str, float]:
    """Mean and std (over ``repeats`` calls, after one warm-up call) of the time per item in ms,
    and the peak RSS in MiB.

    >>> r = time_per_item(lambda: sum(range(1000)), n_items=10, repeats=3)
    >>> sorted(r), r["repeats"]
    (['mean_ms', 'peak_rss_mib', 'repeats', 'std_ms'], 3)
    """
    (warmup or fn)()
    times = []
    with PeakMemory() as mem:
        for _ in range(max(1, repeats)):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3 / n_items)
    return {"mean_ms": statistics.fmean(times), "std_ms": statistics.stdev(times) if len(times) > 1 else 0.0,
            "repeats": len(times), "peak_rss_mib": round(mem.peak_mib, 1)}


def parameter_counts(model, sample: Callable[[], Any]) -> dict[str, int]:
    """{"training": all parameters, "generation": parameters that ``sample()`` reads}.

    A parameter counts for generation when it enters a torch operation while ``sample()`` runs (seen with a
    ``TorchFunctionMode``), also when a module uses a submodule's weights without calling it (as attention blocks
    calling ``multi_head_attention_forward`` with their projections' weights do).

    >>> import torch
    >>> m = torch.nn.ModuleDict({"gen": torch.nn.Linear(2, 3), "critic": torch.nn.Linear(3, 1)})
    >>> parameter_counts(m, lambda: m["gen"](torch.zeros(1, 2)))
    {'training': 13, 'generation': 9}
    >>> parameter_counts(m, lambda: torch.nn.functional.linear(torch.zeros(1, 3), m["critic"].weight))
    {'training': 13, 'generation': 3}
    """
    from torch.overrides import TorchFunctionMode

    by_id = {id(p): p for p in model.parameters()}
    used: set[int] = set()

    def note(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for v in value:
                note(v)
        elif id(value) in by_id:
            used.add(id(value))

    class _Reads(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") != "__get__":      # not attribute reads (.device, .dtype)
                note(args)
                note(tuple((kwargs or {}).values()))
            return func(*args, **(kwargs or {}))

    with _Reads():
        sample()
    return {"training": int(sum(p.numel() for p in by_id.values())),
            "generation": int(sum(by_id[i].numel() for i in used))}


def _reference(simulator: str, simulate: Callable[[int], Any], batch_sizes: list[int], repeats: dict[int, int],
               max_point_s: float) -> dict[str, Any]:
    """Time ``simulate(b)`` per object at each batch size (warm-up at min(b, 100)); skip predicted-slow points."""
    out: dict[str, Any] = {"simulator": simulator}
    est = None
    for b in batch_sizes:
        n_rep = _fit_repeats(est, b, repeats[b], max_point_s)
        if n_rep == 0:
            out[str(b)] = {"skipped": f"predicted {est * b / 1e3:.0f} s per call > max_point_s"}
            continue
        # time_per_item calls both closures within this iteration only
        r = time_per_item(lambda: simulate(b), b, n_rep, warmup=lambda: simulate(min(b, 100)))  # noqa: B023
        est = r["mean_ms"]
        out[str(b)] = r
    return out


def reference_time(geometry, batch_sizes: list[int], repeats: dict[int, int], energies: np.ndarray,
                   max_point_s: float) -> dict[str, Any]:
    """GFlash's own time per shower (photons) on this machine for the same conditions."""
    from hepgen.geometry import get_geometry
    from hepgen.simulate import simulate_showers

    geo = get_geometry(geometry)
    return _reference("GFlash (hepgen.simulate, photons)",
                      lambda b: simulate_showers(geo, energies[:b], "photon", seed=0), batch_sizes, repeats,
                      max_point_s)


def pythia_reference_time(jet_type: str, max_particles: int, batch_sizes: list[int], repeats: dict[int, int],
                          max_point_s: float) -> dict[str, Any]:
    """Pythia 8 + FastJet's time per jet (``hepgen simulate-jets``: one chunk of b jets, including the
    Pythia initialisation of the chunk) on this machine."""
    from hepgen.simulate.jets import JetProduction, generate_chunk

    def simulate(b: int):
        return generate_chunk(JetProduction(jet_type, b, max_particles=max_particles, chunk_size=b), 0)

    return _reference(f"Pythia 8 + FastJet ({jet_type} jets, init per chunk)", simulate, batch_sizes, repeats,
                      max_point_s)


def _fit_repeats(est_ms: float | None, b: int, repeats: int, max_point_s: float) -> int:
    """Repeats for a point predicted (from the per-item time ``est_ms`` at the previous batch size) to
    fit in ``max_point_s``: the protocol's ``repeats``, as many as fit when they would not all fit, 0
    (skip) when one call alone is predicted to take longer.

    >>> _fit_repeats(None, 100, 5, 30.0), _fit_repeats(10.0, 100, 5, 30.0), _fit_repeats(100.0, 100, 5, 30.0)
    (5, 5, 3)
    >>> _fit_repeats(250.0, 100, 5, 30.0), _fit_repeats(400.0, 100, 5, 30.0)
    (1, 0)
    """
    if est_ms is None:
        return repeats
    per_call_s = est_ms * b / 1e3
    return int(min(repeats, max_point_s // per_call_s)) if per_call_s > 0 else repeats


MEMORY_SHARE = 0.8


def available_memory_mib() -> float | None:
    """The memory the kernel can still give (``MemAvailable`` of /proc/meminfo, MiB); None where unknown.

    >>> m = available_memory_mib()
    >>> m is None or m > 0
    True
    """
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _skip_for_memory(probe_mib: float, probe_batch: int, b: int, free_mib: float | None) -> str | None:
    """Why a call at batch ``b`` is not run: the memory a call at ``probe_batch`` took (peak RSS growth, MiB),
    scaled to ``b``, would need at least ``MEMORY_SHARE`` of the ``free_mib`` available; None if it fits or
    the available memory is unknown.

    >>> _skip_for_memory(2400.0, 1000, 10000, 20000.0)
    'predicted 23.4 GiB for one call >= 80% of the 19.5 GiB available'
    >>> _skip_for_memory(100.0, 1000, 10000, 20000.0) is None, _skip_for_memory(2400.0, 1000, 10000, None) is None
    (True, True)
    """
    need_mib = max(probe_mib, 0.0) * b / probe_batch
    if free_mib is None or need_mib < MEMORY_SHARE * free_mib:
        return None
    return (f"predicted {need_mib / 1024:.1f} GiB for one call >= {MEMORY_SHARE:.0%} of the {free_mib / 1024:.1f} GiB "
            "available")


def _no_warmup() -> None:
    """The warm-up of a point already ran (as the memory probe)."""


def _repeats(b: int, repeats: int | None) -> int:
    if repeats is not None:
        return repeats
    return 10 if b <= 1 else 5 if b <= 1000 else 1


class _Showers:
    """Voxel and point-cloud shower runs: conditions are incident energies (point clouds: n_hits drawn
    by the model inside ``sample``); the write paths append to an open CaloChallenge HDF5 file."""

    unit = "shower"

    def __init__(self, base, energies: str, n: int, seed: int, tmpdir: Path) -> None:
        from hepgen.training.generate import incident_energies

        self.base, self.energies, self.seed, self.tmpdir = base, energies, seed, tmpdir
        self.e, self.labels = incident_energies(energies, n, seed)
        self.kind = getattr(base.kind, "kind", "showers")

    def describe(self) -> dict[str, Any]:
        g = self.base.geometry
        return {"geometry": g.name, "n_voxels": g.n_voxels, "energies": self.energies,
                "what": f"{g.name} ({g.n_voxels} voxels{', point cloud' if self.kind == 'points' else ''})"}

    def load(self, run_dir, backend: str, threads: int | None):
        from hepgen.training.generate import load_generator

        return load_generator(run_dir, backend, threads=threads)

    def parameters(self) -> dict[str, Any]:
        import torch

        base = self.base
        try:      # a model conditioned on labels it cannot draw, benchmarked without them
            lab = self._labels(base, self.e[:2], {k: v[:2] for k, v in self.labels.items()})
        except InputError:
            return {"training": base.model.n_parameters(), "generation": None}
        with torch.inference_mode():
            cond = torch.as_tensor(base.kind.encode_cond(self.e[:2], lab or None)).to(base.model.device)
            return parameter_counts(base.model, lambda: base.model.sample(cond))

    @staticmethod
    def _labels(gen, e, labels):
        missing = [k for k in gen.labels if k not in labels]
        return {**labels, **gen.model.sample_labels(e, missing, gen.kind)} if missing else labels

    def fn(self, gen, backend: str, path: str, b: int) -> Callable[[], Any]:
        import torch

        e, labels = self.e[:b], {k: v[:b] for k, v in self.labels.items()}
        if path == "forward":
            lab = self._labels(gen, e, labels)
            cond = torch.as_tensor(gen.kind.encode_cond(e, lab or None))
            if backend == "torch":
                cond = cond.to(gen.model.device)
                def forward():
                    with torch.inference_mode():
                        return gen.model.sample(cond)
                return forward
            with torch.inference_mode():
                noise = [t.numpy() for t in gen.graph.noise(cond, None)]
            feeds = dict(zip(gen.input_names, [gen.kind.raw_cond(e, lab).astype(np.float32)] + noise))
            return lambda: gen.session.run(None, feeds)
        if path == "sample":
            return lambda: gen.sample(e, labels or None, batch_size=b, seed=self.seed)
        from hepgen.data import ShowerWriter
        from hepgen.training.generate import incident_energies

        # streaming as `hepgen generate --batch-size b` does: one open file, one chunk of b showers per call
        compression = path.split("-", 1)[1]
        target = self.tmpdir / f"bench-{os.getpid()}-{backend}-{compression}-{b}.h5"
        writer = ShowerWriter(target, gen.geometry, compression=compression, overwrite=True,
                              labels=tuple(k for k in gen.labels if k in labels))
        _OPEN.append((writer, target))
        micro = min(b, auto_batch_size(gen.model, gen.kind.n_cond))  # as hepgen generate does

        def whole() -> None:
            e2, lab2 = incident_energies(self.energies, b, self.seed)
            writer.append(gen.sample(e2, (lab2 or labels) or None, batch_size=micro, seed=self.seed))
        return whole

    def reference(self, batch_sizes, reps, max_point_s) -> dict[str, Any]:
        return reference_time(self.base.geometry, batch_sizes, reps, self.e, max_point_s)


class _Jets:
    """Jet runs: multiplicities (and masses) from the model's training KDE; the write paths write a
    JetNet HDF5 file of b jets per call, the network running at batch b as ``hepgen generate`` does."""

    unit, kind = "jet", "jets"

    def __init__(self, base, energies: str, n: int, seed: int, tmpdir: Path) -> None:
        self.base, self.seed, self.tmpdir = base, seed, tmpdir

    def describe(self) -> dict[str, Any]:
        a = self.base.kind
        return {"jet_type": a.jet_type, "n_max": a.n_max,
                "what": f"jets{' (' + a.jet_type + ')' if a.jet_type else ''}, {a.n_max} particle slots"}

    def load(self, run_dir, backend: str, threads: int | None):
        from hepgen.training.onnx import OnnxGenerator

        return OnnxGenerator(self.base.model, self.base.kind, self.base.config, threads)  # says why it cannot

    def parameters(self) -> dict[str, Any]:
        import torch

        cond = torch.as_tensor(self.base.model.sample_conditions(2, self.seed))
        with torch.inference_mode():
            return parameter_counts(self.base.model, lambda: self.base.model.sample(cond))

    def fn(self, gen, backend: str, path: str, b: int) -> Callable[[], Any]:
        import torch

        if path == "forward":
            cond = torch.as_tensor(gen.model.sample_conditions(b, self.seed)).to(gen.model.device)

            def forward():
                with torch.inference_mode():
                    return gen.model.sample(cond)
            return forward
        if path == "sample":
            return lambda: gen.sample(b, batch_size=b, seed=self.seed)
        from hepgen.data.jetnet import write_jets

        compression = path.split("-", 1)[1]
        target = self.tmpdir / f"bench-{os.getpid()}-jets-{compression}-{b}.h5"
        return lambda: write_jets(target, gen.sample(b, batch_size=b, seed=self.seed), overwrite=True,
                                  compression=compression)

    def reference(self, batch_sizes, reps, max_point_s) -> dict[str, Any] | None:
        from hepgen.simulate.jets import JET_TYPES

        a = self.base.kind
        if a.jet_type not in JET_TYPES:
            return {"simulator": f"Pythia 8 (not timed: run has no known jet type '{a.jet_type}')"}
        return pythia_reference_time(a.jet_type, a.n_max, batch_sizes, reps, max_point_s)


class _Arrays:
    """Array runs (GANplification toys, Calomplification's pooled images): ``sample`` returns data
    units in memory; there is no file format to time and no simulator recorded in the run."""

    unit, kind = "sample", "arrays"
    paths = ("forward", "sample")

    def __init__(self, base, energies: str, n: int, seed: int, tmpdir: Path) -> None:
        self.base, self.seed = base, seed

    def describe(self) -> dict[str, Any]:
        return {"shape": list(self.base.kind.data_shape),
                "what": f"arrays of shape {tuple(self.base.kind.data_shape)}"}

    def load(self, run_dir, backend: str, threads: int | None):
        from hepgen.training.onnx import OnnxGenerator

        return OnnxGenerator(self.base.model, self.base.kind, self.base.config, threads)  # says why it cannot

    def parameters(self) -> dict[str, Any]:
        import torch

        with torch.inference_mode():
            return parameter_counts(self.base.model, lambda: self.base.model.sample(torch.zeros(2, 0)))

    def fn(self, gen, backend: str, path: str, b: int) -> Callable[[], Any]:
        import torch

        if path == "forward":
            def forward():
                with torch.inference_mode():
                    return gen.model.sample(torch.zeros(b, 0, device=gen.model.device))
            return forward
        return lambda: gen.sample(b, batch_size=b, seed=self.seed)

    def reference(self, batch_sizes, reps, max_point_s) -> None:
        return None


_WORKLOADS = {"showers": _Showers, "points": _Showers, "jets": _Jets, "arrays": _Arrays}


def benchmark_run(run_dir: str | Path, batch_sizes: list[int] = (1, 100, 10000), backends: tuple[str, ...] = ("torch",),
                  paths: tuple[str, ...] = PATHS, repeats: int | None = None, threads: int | None = None,
                  energies: str = "log-uniform:1GeV:1TeV", reference: bool = True, max_point_s: float = 300.0,
                  seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Run the timing protocol on a run directory of any registered model; returns a JSON-able dict
    (see :func:`to_markdown`).

    Shower runs (voxels and point clouds) are timed per shower with GFlash as reference; jet runs
    per jet with Pythia 8 as reference (``energies`` unused); array runs (toys, pooled images) per
    sample, paths ``forward`` and ``sample`` only. A backend the model cannot use (ONNX Runtime
    for a model without export, or generation of a non-voxel run) is listed under ``"unavailable"`` with the reason.
    ``threads`` sets torch's and ONNX Runtime's intra-op threads (default: torch's current
    setting). ``repeats`` overrides the default 10 (batch 1), 5 (<= 1000), 1 (larger). ``device`` is where the
    torch model runs (``cuda``: every timed call ends with ``torch.cuda.synchronize()``).

    >>> benchmark_run("no/such/run")
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: no/such/run: not a hepgen run directory (no config.yaml / preprocessing.json)
    """
    import torch

    from hepgen.progress import status
    from hepgen.training.generate import load_generator

    bad = [p for p in paths if p not in PATHS]
    if bad:
        raise InputError(f"unknown timing path(s) {bad}: expected {', '.join(PATHS)}")
    if threads:
        torch.set_num_threads(int(threads))
    threads = torch.get_num_threads()
    batch_sizes = sorted(int(b) for b in batch_sizes)
    reps = {b: _repeats(b, repeats) for b in batch_sizes}
    base = load_generator(run_dir, "torch", device=device)
    tmpdir = Path(tempfile.mkdtemp(prefix="hepgen-bench-"))
    work = _WORKLOADS[getattr(base.kind, "kind", "showers")](base, energies, max(batch_sizes), seed, tmpdir)
    own = [p for p in paths if p in getattr(work, "paths", PATHS)]
    result: dict[str, Any] = {"run": Path(run_dir).name, "model": base.config["model"], "kind": work.kind,
                              **work.describe(), "threads": threads, "machine": machine_info(),
                              "device": device, "batch_sizes": batch_sizes,
                              "repeats": {str(b): reps[b] for b in batch_sizes},
                              "unit": f"ms per {work.unit}", "timings": {}, "unavailable": {}}
    if len(own) < len(paths):
        result["unavailable"]["paths"] = f"{', '.join(p for p in paths if p not in own)}: not applicable to " \
                                         f"{work.kind} runs (no file format)"
    result["parameters"] = work.parameters()
    for backend in backends:
        try:
            gen = base if backend == "torch" else work.load(run_dir, backend, threads)
        except InputError as exc:  # e.g. no ONNX export for this model: the table says so
            result["unavailable"][backend] = str(exc)
            continue
        table: dict[str, dict[str, Any]] = {}
        est: dict[str, float] = {}
        for b in batch_sizes:
            for path in own:
                n_rep = _fit_repeats(est.get(path), b, reps[b], max_point_s)
                if n_rep == 0:
                    table.setdefault(path, {})[str(b)] = {
                        "skipped": f"predicted {est[path] * b / 1e3:.0f} s per call > max_point_s {max_point_s:.0f} s"}
                    continue
                fn = _synchronised(work.fn(gen, backend, path, b), device)
                warm = _synchronised(work.fn(gen, backend, path, 1000), device) if b > 1000 else None
                if warm is not None:        # the warm-up at 1000 also measures the memory one call needs
                    with PeakMemory() as mem:
                        before = mem.peak_mib
                        warm()
                    why = _skip_for_memory(mem.peak_mib - before, 1000, b, available_memory_mib())
                    if why:
                        table.setdefault(path, {})[str(b)] = {"skipped": why}
                        continue
                    warm = _no_warmup
                status(f"{backend} {path} batch {b} x {n_rep}")
                r = time_per_item(fn, b, n_rep, warmup=warm)
                _close_open()
                est[path] = r["mean_ms"]
                table.setdefault(path, {})[str(b)] = r
        best = min(((r["mean_ms"], int(b)) for b, r in table.get("sample", {}).items() if "mean_ms" in r), default=None)
        result["timings"][backend] = table
        result.setdefault("best_batch_size", {})[backend] = best[1] if best else None
    if reference:
        ref = work.reference(batch_sizes, reps, max_point_s)
        if ref is not None:
            result["reference"] = ref
    shutil.rmtree(tmpdir, ignore_errors=True)
    return result


_OPEN: list = []


def _synchronised(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    """``fn`` that waits for the GPU's queued work before returning (CUDA runs asynchronously)."""
    if not str(device).startswith("cuda"):
        return fn
    import torch

    def call() -> Any:
        out = fn()
        torch.cuda.synchronize()
        return out
    return call


def _close_open() -> None:
    while _OPEN:
        writer, target = _OPEN.pop()
        writer.close()
        target.unlink(missing_ok=True)


def _fmt(r: dict | None) -> str:
    if not r:
        return ""
    if "skipped" in r:
        return "skipped"
    if r.get("repeats") == 1:
        return f"{r['mean_ms']:.4g} (1 run)"
    return f"{r['mean_ms']:.4g} ± {r['std_ms']:.2g}"


def _what(result: dict[str, Any]) -> str:
    if "what" in result:
        return result["what"]
    return f"{result.get('geometry')} ({result.get('n_voxels')} voxels)"


def to_markdown(result: dict[str, Any]) -> str:
    """One Markdown table (rows: backend and path; columns: time CPU 1/100/10000 as in the
    CaloChallenge results CSVs) plus the machine, parameters, memory and the reference simulator's
    time; backends or paths the model cannot use are listed with the reason.

    >>> r = {"model": "m", "geometry": "g", "n_voxels": 1, "threads": 1, "batch_sizes": [1],
    ...      "parameters": {"training": 3, "generation": 2}, "machine": {"nproc": 2},
    ...      "timings": {"torch": {"sample": {"1": {"mean_ms": 1.0, "std_ms": 0.1, "peak_rss_mib": 5}}}},
    ...      "unavailable": {"onnxruntime": "no export form"}}
    >>> text = to_markdown(r)
    >>> "| torch | sample | 1 ± 0.1 |" in text, "| onnxruntime | - | not available: no export form |" in text
    (True, True)
    """
    bs = result["batch_sizes"]
    m = result.get("machine", {})
    p = result.get("parameters", {})
    unit = result.get("unit", "ms per shower")
    lines = [f"**{result['model']}** on {_what(result)}; "
             f"parameters training {p.get('training')}, generation {p.get('generation')}; "
             f"{result['threads']} thread(s); machine: nproc {m.get('nproc')}, {m.get('cpu', '')}, "
             f"load {m.get('load_average', '')}; {unit}, mean ± std over repeats {result.get('repeats', '')}",
             "", "| backend | path | " + " | ".join(f"time CPU {b}" for b in bs) + " | peak RSS MiB |",
             "|---|---|" + "---|" * (len(bs) + 1)]
    for backend, table in result["timings"].items():
        for path, row in table.items():
            peak = max((r.get("peak_rss_mib", 0) for r in row.values()), default=0)
            lines.append(f"| {backend} | {path} | " + " | ".join(_fmt(row.get(str(b))) for b in bs) + f" | {peak} |")
    for backend, why in result.get("unavailable", {}).items():
        if backend != "paths":
            lines.append(f"| {backend} | - | not available: {why} |" + " |" * len(bs))
    ref = result.get("reference")
    if ref:
        lines.append(f"| {ref['simulator']} | reference | " + " | ".join(_fmt(ref.get(str(b))) for b in bs) + " | |")
    if "paths" in result.get("unavailable", {}):
        lines += ["", f"Paths not timed: {result['unavailable']['paths']}."]
    best = result.get("best_batch_size")
    if best:
        lines += ["", "Throughput-optimal measured batch size (sample path): "
                  + ", ".join(f"{k} {v}" for k, v in best.items())]
    return "\n".join(lines) + "\n"


def consolidated_markdown(results: list[dict[str, Any]]) -> str:
    """One table for several runs: model x backend x path, ms per object at each batch size, with the
    generation parameters, plus each run's reference simulator and a column naming the faster backend
    (lower ``forward`` time at the largest batch both measured).

    >>> r = {"model": "m", "unit": "ms per jet", "batch_sizes": [1], "parameters": {"generation": 2},
    ...      "timings": {"torch": {"forward": {"1": {"mean_ms": 2.0, "std_ms": 0.1}}},
    ...                  "onnxruntime": {"forward": {"1": {"mean_ms": 1.0, "std_ms": 0.1}}}}}
    >>> "| m | jet | onnxruntime | forward | 1 ± 0.1 | 2 | onnxruntime |" in consolidated_markdown([r])
    True
    """
    bs = sorted({int(b) for r in results for b in r["batch_sizes"]})
    lines = ["| model | per | backend | path | " + " | ".join(f"{b}" for b in bs) + " | generation params | faster |",
             "|---|---|---|---|" + "---|" * (len(bs) + 2)]
    for r in results:
        per = r.get("unit", "ms per shower").split(" per ", 1)[-1]
        faster = _faster(r)
        gen_params = r.get("parameters", {}).get("generation")
        for backend, table in r["timings"].items():
            for path, row in table.items():
                lines.append(f"| {r['model']} | {per} | {backend} | {path} | "
                             + " | ".join(_fmt(row.get(str(b))) for b in bs) + f" | {gen_params} | {faster} |")
        for backend, _why in r.get("unavailable", {}).items():
            if backend != "paths":
                lines.append(f"| {r['model']} | {per} | {backend} | - | not available" + " |" * len(bs)
                             + f" | {faster} |")
        ref = r.get("reference")
        if ref and any(str(b) in ref for b in bs):
            lines.append(f"| {r['model']} | {per} | {ref['simulator']} | reference | "
                         + " | ".join(_fmt(ref.get(str(b))) for b in bs) + " | | |")
    return "\n".join(lines) + "\n"


def _faster(result: dict[str, Any]) -> str:
    t = result.get("timings", {})
    if len(t) < 2:
        return next(iter(t), "-") + " (only backend)" if t else "-"
    rows = {k: v.get("forward", {}) for k, v in t.items()}
    common = [b for b in sorted(result["batch_sizes"], reverse=True)
              if all("mean_ms" in row.get(str(b), {}) for row in rows.values())]
    if not common:
        return "-"
    return min(rows, key=lambda k: rows[k][str(common[0])]["mean_ms"])
