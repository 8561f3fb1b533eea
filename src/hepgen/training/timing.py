"""The CaloChallenge timing protocol for a run directory (``hepgen benchmark RUN_DIR``).

For each backend (``torch``, ``onnxruntime``) and batch size (1, 100, 10000 by default) the time
per shower in ms, mean ± std over repeats after a warm-up, of

* ``forward``: the network alone (standardised conditions and noise already in memory);
* ``sample``: conditions -> network -> inverse preprocessing -> showers in MeV (what a user gets
  in memory);
* ``write-gzip`` / ``write-lzf`` / ``write-none``: the whole user path as ``hepgen generate
  --batch-size B`` runs it: drawing the incident energies, the network in micro-batches of
  :func:`auto_batch_size`, and appending the chunk to an open HDF5 file with that compression
  (gzip is the CaloChallenge files' filter).

Also recorded: threads, parameter counts (training: every parameter of the model, critics
included; generation: those of the modules a sampling call runs), the peak resident memory during
each point, the throughput-optimal batch size among the measured ones, and the reference
simulator's time on the same machine (GFlash, :mod:`hepgen.simulate`). Batch 10000 is feasible
with ``repeats`` 1 and a warm-up at batch 1000; a point predicted to take longer than
``max_point_s`` is skipped and says so. Times are ms per shower, as the CaloChallenge CSV columns
``time CPU 1/100/10000``.

>>> parse_batch_sizes("1,100,10000")
[1, 100, 10000]
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hepgen.errors import InputError

__all__ = ["auto_batch_size", "benchmark_run", "time_per_item", "parameter_counts", "reference_time", "to_markdown", "machine_info",
           "parse_batch_sizes", "PeakMemory", "PATHS"]

PATHS = ("forward", "sample", "write-gzip", "write-lzf", "write-none")


def auto_batch_size(model, n_cond: int, budget_elements: int = 2_000_000) -> int:
    """Network batch size for CPU throughput: the power of two (1 to 1024) nearest to
    ``budget_elements`` / (largest activation of one example), so that a batch's biggest
    intermediate tensor stays near 8 MB and in cache. The activation size is read with forward
    hooks from one sampling call at batch 2. Measured on calochallenge-2: WGAN (26k-element largest
    activation) fastest at 50-100 (rule: 64), BIB-AE (Post-Processor, 415k elements) 3.3x faster
    at 10 than at 100 (rule: 4); docs/benchmarks.md. Depends on the model and geometry only,
    so generated files stay reproducible across machines.

    >>> import torch
    >>> class Toy(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.net = torch.nn.Linear(1, 20_000)
    ...     def sample(self, cond, generator=None):
    ...         return self.net(cond)
    >>> auto_batch_size(Toy(), n_cond=1)
    128
    """
    import torch

    largest = [1]

    def hook(module, inputs, output) -> None:
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape[0] == 2:
                largest[0] = max(largest[0], t.numel() // 2)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.inference_mode():
            out = model.sample(torch.zeros(2, n_cond), torch.Generator().manual_seed(0))
        largest[0] = max(largest[0], out.numel() // 2)
    finally:
        for h in handles:
            h.remove()
    return int(min(1024, max(1, 2 ** round(np.log2(budget_elements / largest[0])))))


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
    """{"training": all parameters, "generation": parameters of the modules that ``sample()`` runs}.

    >>> import torch
    >>> m = torch.nn.ModuleDict({"gen": torch.nn.Linear(2, 3), "critic": torch.nn.Linear(3, 1)})
    >>> parameter_counts(m, lambda: m["gen"](torch.zeros(1, 2)))
    {'training': 13, 'generation': 9}
    """
    used: set[int] = set()
    handles = [m.register_forward_hook(lambda mod, i, o: used.add(id(mod))) for m in model.modules()]
    try:
        sample()
    finally:
        for h in handles:
            h.remove()
    params: dict[int, int] = {}
    for m in model.modules():
        if id(m) in used:
            for p in m.parameters(recurse=False):
                params[id(p)] = p.numel()
    return {"training": int(sum(p.numel() for p in model.parameters())), "generation": int(sum(params.values()))}


def reference_time(geometry, batch_sizes: list[int], repeats: dict[int, int], energies: np.ndarray,
                   max_point_s: float) -> dict[str, Any]:
    """GFlash's own time per shower (photons) on this machine for the same conditions."""
    from hepgen.geometry import get_geometry
    from hepgen.simulate import simulate_showers

    geo = get_geometry(geometry)
    out: dict[str, Any] = {"simulator": "GFlash (hepgen.simulate, photons)"}
    est = None
    for b in batch_sizes:
        if est is not None and est * b * max(1, repeats[b]) / 1e3 > max_point_s:
            out[str(b)] = {"skipped": f"predicted {est * b * repeats[b] / 1e3:.0f} s > max_point_s"}
            continue
        e = energies[:b]
        r = time_per_item(lambda: simulate_showers(geo, e, "photon", seed=0), b, repeats[b],
                          warmup=lambda: simulate_showers(geo, e[: min(b, 100)], "photon", seed=0))
        est = r["mean_ms"]
        out[str(b)] = r
    return out


def _repeats(b: int, repeats: int | None) -> int:
    if repeats is not None:
        return repeats
    return 10 if b <= 1 else 5 if b <= 1000 else 1


def benchmark_run(run_dir: str | Path, batch_sizes: list[int] = (1, 100, 10000), backends: tuple[str, ...] = ("torch",),
                  paths: tuple[str, ...] = PATHS, repeats: int | None = None, threads: int | None = None,
                  energies: str = "log-uniform:1GeV:1TeV", reference: bool = True, max_point_s: float = 300.0,
                  seed: int = 0) -> dict[str, Any]:
    """Run the timing protocol on a run directory; returns a JSON-able dict (see :func:`to_markdown`).

    ``threads`` sets torch's and ONNX Runtime's intra-op threads (default: torch's current
    setting). ``repeats`` overrides the default 10 (batch 1), 5 (<= 1000), 1 (larger).

    >>> benchmark_run("no/such/run")
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: no/such/run: not a hepgen run directory (no config.yaml / preprocessing.json)
    """
    import torch

    from hepgen.data import ShowerWriter
    from hepgen.progress import status
    from hepgen.training.generate import incident_energies, load_generator

    bad = [p for p in paths if p not in PATHS]
    if bad:
        raise InputError(f"unknown timing path(s) {bad}: expected {', '.join(PATHS)}")
    if threads:
        torch.set_num_threads(int(threads))
    threads = torch.get_num_threads()
    batch_sizes = sorted(int(b) for b in batch_sizes)
    reps = {b: _repeats(b, repeats) for b in batch_sizes}
    base = load_generator(run_dir, "torch")
    n_max = max(batch_sizes)
    e_all, labels_all = incident_energies(energies, n_max, seed)
    result: dict[str, Any] = {"run": Path(run_dir).name, "model": base.config["model"],
                              "geometry": base.geometry.name, "n_voxels": base.geometry.n_voxels,
                              "energies": energies, "threads": threads, "machine": machine_info(),
                              "batch_sizes": batch_sizes, "repeats": {str(b): reps[b] for b in batch_sizes},
                              "unit": "ms per shower", "timings": {}}
    with torch.inference_mode():
        cond2 = torch.as_tensor(base.adapter.encode_cond(e_all[:2], {k: v[:2] for k, v in labels_all.items()} or None)) \
            if not (set(base.labels) - set(labels_all)) else None
    if cond2 is not None:
        with torch.inference_mode():
            result["parameters"] = parameter_counts(base.model, lambda: base.model.sample(cond2))
    else:
        result["parameters"] = {"training": base.model.n_parameters(), "generation": None}
    tmpdir = Path(tempfile.mkdtemp(prefix="hepgen-bench-"))
    for backend in backends:
        gen = base if backend == "torch" else load_generator(run_dir, backend, threads=threads)
        table: dict[str, dict[str, Any]] = {}
        est: dict[str, float] = {}
        for b in batch_sizes:
            e = e_all[:b]
            labels = {k: v[:b] for k, v in labels_all.items()}
            for path in paths:
                if path in est and est[path] * b * reps[b] / 1e3 > max_point_s:
                    table.setdefault(path, {})[str(b)] = {
                        "skipped": f"predicted {est[path] * b * reps[b] / 1e3:.0f} s > max_point_s {max_point_s:.0f} s"}
                    continue
                fn = _path_fn(path, gen, backend, e, labels, b, seed, tmpdir, energies, ShowerWriter)
                warm = _path_fn(path, gen, backend, e[:1000], {k: v[:1000] for k, v in labels.items()}, min(b, 1000),
                                seed, tmpdir, energies, ShowerWriter) if b > 1000 else None
                status(f"{backend} {path} batch {b} x {reps[b]}")
                r = time_per_item(fn, b, reps[b], warmup=warm)
                _close_open()
                est[path] = r["mean_ms"]
                table.setdefault(path, {})[str(b)] = r
        best = min(((r["mean_ms"], int(b)) for b, r in table.get("sample", {}).items() if "mean_ms" in r), default=None)
        result["timings"][backend] = table
        result.setdefault("best_batch_size", {})[backend] = best[1] if best else None
    if reference:
        result["reference"] = reference_time(base.geometry, batch_sizes, reps, e_all, max_point_s)
    return result


_OPEN: list = []


def _close_open() -> None:
    while _OPEN:
        writer, target = _OPEN.pop()
        writer.close()
        target.unlink(missing_ok=True)


def _path_fn(path, gen, backend, e, labels, b, seed, tmpdir, energies, writer_cls) -> Callable[[], Any]:
    import torch

    if path == "forward":
        lab = labels or None
        if set(gen.labels) - set(labels):
            lab = {**labels, **gen.model.sample_labels(e, [k for k in gen.labels if k not in labels], gen.adapter)}
        cond = torch.as_tensor(gen.adapter.encode_cond(e, lab))
        if backend == "torch":
            def forward():
                with torch.inference_mode():
                    return gen.model.sample(cond)
            return forward
        with torch.inference_mode():
            noise = [t.numpy() for t in gen.form.draw(gen.model, cond, None)]
        feeds = dict(zip(gen.input_names, [gen.adapter.raw_cond(e, lab).astype(np.float32)] + noise))
        return lambda: gen.session.run(None, feeds)
    if path == "sample":
        return lambda: gen.sample(e, labels or None, batch_size=b, seed=seed)
    compression = path.split("-", 1)[1]
    from hepgen.training.generate import incident_energies

    # streaming as `hepgen generate --batch-size b` does: one open file, one chunk of b showers per call
    target = tmpdir / f"bench-{os.getpid()}-{compression}-{b}.h5"
    writer = writer_cls(target, gen.geometry, compression=compression, overwrite=True,
                        labels=tuple(k for k in gen.labels if k in labels))
    _OPEN.append((writer, target))

    micro = min(b, auto_batch_size(gen.model, gen.adapter.n_cond))  # as hepgen generate does

    def whole() -> None:
        e2, lab2 = incident_energies(energies, len(e), seed)
        writer.append(gen.sample(e2, (lab2 or labels) or None, batch_size=micro, seed=seed))
    return whole


def _fmt(r: dict | None) -> str:
    if not r:
        return ""
    if "skipped" in r:
        return "skipped"
    return f"{r['mean_ms']:.4g} ± {r['std_ms']:.2g}"


def to_markdown(result: dict[str, Any]) -> str:
    """One Markdown table (rows: backend and path; columns: time CPU 1/100/10000 as in the
    CaloChallenge results CSVs) plus the machine, parameters, memory and GFlash's time.

    >>> r = {"model": "m", "geometry": "g", "n_voxels": 1, "threads": 1, "batch_sizes": [1],
    ...      "parameters": {"training": 3, "generation": 2}, "machine": {"nproc": 2},
    ...      "timings": {"torch": {"sample": {"1": {"mean_ms": 1.0, "std_ms": 0.1, "peak_rss_mib": 5}}}}}
    >>> "| torch | sample | 1 ± 0.1 |" in to_markdown(r)
    True
    """
    bs = result["batch_sizes"]
    m = result.get("machine", {})
    p = result.get("parameters", {})
    lines = [f"**{result['model']}** on {result['geometry']} ({result['n_voxels']} voxels); "
             f"parameters training {p.get('training')}, generation {p.get('generation')}; "
             f"{result['threads']} thread(s); machine: nproc {m.get('nproc')}, {m.get('cpu', '')}, "
             f"load {m.get('load_average', '')}; ms per shower, mean ± std over repeats {result.get('repeats', '')}",
             "", "| backend | path | " + " | ".join(f"time CPU {b}" for b in bs) + " | peak RSS MiB |",
             "|---|---|" + "---|" * (len(bs) + 1)]
    for backend, table in result["timings"].items():
        for path, row in table.items():
            peak = max((r.get("peak_rss_mib", 0) for r in row.values()), default=0)
            lines.append(f"| {backend} | {path} | " + " | ".join(_fmt(row.get(str(b))) for b in bs) + f" | {peak} |")
    ref = result.get("reference")
    if ref:
        lines.append(f"| {ref['simulator']} | reference | " + " | ".join(_fmt(ref.get(str(b))) for b in bs) + " | |")
    best = result.get("best_batch_size")
    if best:
        lines += ["", "Throughput-optimal measured batch size (sample path): "
                  + ", ".join(f"{k} {v}" for k, v in best.items())]
    return "\n".join(lines) + "\n"
