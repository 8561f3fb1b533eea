"""Sampling from a trained run: :func:`load_generator` and streaming :func:`generate` to disk.

Generation writes chunk by chunk through :class:`hepgen.data.ShowerWriter` (CaloChallenge layout,
readable by the official evaluation code for cylinders); an interrupted job resumes its
``.partial`` file when rerun with the same options, because chunk k always uses seed (seed, k).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgen.data import ShowerFile, ShowerWriter
from hepgen.errors import InputError, about_file
from hepgen.training.sampling import Generator, auto_batch_size

__all__ = ["Generator", "load_generator", "generate", "incident_energies", "label_values", "parse_label_options",
           "BACKENDS"]

BACKENDS = ("torch", "onnxruntime")


def _generate_jets(gen: Generator, run_dir, n: int, output, seed: int, batch_size: int, overwrite: bool) -> Path:
    """Jets in chunks of ``batch_size`` (chunk k seeded with (seed, k)); an interrupted call resumes."""
    from hepgen.data.jetwriter import JetChunkStore
    from hepgen.progress import ProgressBar

    store = JetChunkStore(output, {"generator_run": str(Path(run_dir).resolve().name), "model": gen.config["model"],
                                   "seed": seed, "n": n, "batch_size": batch_size, "jet_type": gen.kind.jet_type},
                         overwrite=overwrite)
    chunks = range(0, n, batch_size)
    with ProgressBar(total=n, description="generating") as bar:
        for k, start in enumerate(chunks):
            stop = min(n, start + batch_size)
            if not store.done(k):
                store.save(k, gen.sample(n=stop - start, batch_size=batch_size, seed=seed * 1_000_003 + k))
            bar.advance(stop - start)
    store.finish(len(chunks))
    return Path(output)


def load_generator(run_dir: str | Path, backend: str = "torch", threads: int | None = None,
                   which: str = "best", device: str = "cpu") -> Generator:
    """The :class:`Generator` of a run directory (``which``: see :func:`~hepgen.training.run.load_run_model`),
    sampling with PyTorch or, for voxel shower runs, ONNX Runtime (:class:`hepgen.training.onnx.OnnxGenerator`;
    same showers for the same seed within 1e-4). Jet, point-cloud and array runs sample with PyTorch.
    ``device`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``...) is where the PyTorch model runs; the noise is drawn
    from a CPU generator seeded as on the CPU and moved there, so a seed gives the same draws on every device.

    >>> load_generator("no/such/run")
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: no/such/run: not a hepgen run directory (no config.yaml / preprocessing.json)
    """
    from hepgen.training.run import load_run_model

    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}': expected {' or '.join(BACKENDS)}")
    model, kind, config = load_run_model(run_dir, which)
    if device != "cpu":
        if backend != "torch":
            raise InputError(f"--device {device} is for the torch backend (onnxruntime runs on the CPU here)")
        import torch

        try:
            target = torch.device(device)
            if target.type == "meta":
                raise RuntimeError("'meta' tensors hold no values")
            model.to(target)
        except (RuntimeError, AssertionError) as exc:   # e.g. no CUDA build or no such GPU
            raise InputError(f"device '{device}' is not usable here: {str(exc).splitlines()[0]}") from None
    if backend == "onnxruntime" and kind.kind in ("showers", "points"):
        from hepgen.training.onnx import OnnxGenerator

        return OnnxGenerator(model, kind, config, threads=threads)
    return Generator(model, kind, config)


def incident_energies(energies: str, n: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(n incident energies in MeV, labels) from ``'like:ref.h5'``, ``'50GeV'``, ``'log-uniform:1GeV:1TeV'``...

    ``like:FILE`` takes the file's first n incident energies (and its labels), drawing with
    replacement when n exceeds the file.

    >>> incident_energies("50GeV", 2)[0].tolist()
    [50000.0, 50000.0]
    """
    from hepgen.units import parse_energy

    if str(energies).startswith("like:"):
        path = str(energies)[5:]
        with about_file(path):
            return _like(path, n, seed)
    return parse_energy(energies).sample(n, seed=seed), {}


def parse_label_options(options: list[str] | tuple[str, ...] | None) -> dict[str, str]:
    """``--label NAME=SPEC`` options (repeatable) as {name: specification}; the specification is a plain number in
    the label's unit or a distribution (:func:`hepgen.units.parse_value_spec`), checked here.

    >>> parse_label_options(["theta_deg=30", "phi_deg=uniform:0:360"])
    {'theta_deg': '30', 'phi_deg': 'uniform:0:360'}
    >>> parse_label_options(["theta_deg"])
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: --label 'theta_deg': expected NAME=VALUE or NAME=uniform:LOW:HIGH (e.g. theta_deg=30)
    """
    from hepgen.units import parse_value_spec

    out: dict[str, str] = {}
    for option in options or ():
        name, eq, spec = str(option).partition("=")
        name, spec = name.strip(), spec.strip()
        if not eq or not name or not spec:
            raise InputError(f"--label '{option}': expected NAME=VALUE or NAME=uniform:LOW:HIGH (e.g. theta_deg=30)")
        if name in out:
            raise InputError(f"--label {name} is given twice")
        parse_value_spec(spec, f"--label {name}")
        out[name] = spec
    return out


def label_values(specs: dict[str, str] | None, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """(n,) values per label from {name: specification} (``30``, ``uniform:0:40``, ``gauss:0:5``...), each label
    drawn from its own stream ``SeedSequence(seed, spawn_key=(crc32(name),))`` (independent of the order and of the
    incident energies).

    >>> v = label_values({"theta_deg": "uniform:0:40", "phi_deg": "90"}, 1000, seed=1)
    >>> bool(0 <= v["theta_deg"].min() and v["theta_deg"].max() < 40), v["phi_deg"][:2].tolist()
    (True, [90.0, 90.0])
    """
    import zlib

    from hepgen.units import parse_value_spec

    out = {}
    for name, text in (specs or {}).items():
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()),)))
        out[name] = parse_value_spec(text, f"--label {name}").sample(int(n), rng)
    return out


def _conditions(energies: str, label_specs: dict[str, str] | None, n: int, seed: int, run_labels: list[str],
                gen=None, run_dir=None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(incident energies, labels) of a generation: ``energies`` (``like:FILE`` brings the file's labels) with the
    ``--label`` values on top; InputError for a ``--label`` the run is not conditioned on, and for a label the run
    needs that neither gives and the model cannot draw itself (``gen``, or loaded from ``run_dir`` to ask)."""
    from hepgen.training.sampling import complete_labels

    unknown = [k for k in (label_specs or {}) if k not in run_labels]
    if unknown:
        have = f"the labels {run_labels}" if run_labels else "no labels"
        raise InputError(f"--label {unknown[0]}: this run is conditioned on {have}", file=str(run_dir or "") or None)
    e, labels = incident_energies(energies, n, seed)
    labels.update(label_values(label_specs, n, seed))
    missing = [k for k in run_labels if k not in labels]
    if missing:
        gen = gen if gen is not None else load_generator(run_dir)
        try:   # some models draw labels themselves (point clouds' n_hits, the BIB-AE's latent KDE)
            drawn = complete_labels(gen.model, gen.kind, list(run_labels), e[:1], {k: v[:1] for k, v in labels.items()},
                                    None)
        except InputError:
            drawn = {}
        missing = [k for k in missing if k not in drawn]
    if missing:
        raise InputError(f"this run is conditioned on the label(s) {missing}: give them with --label NAME=VALUE or "
                         f"NAME=uniform:LOW:HIGH (e.g. --label {missing[0]}=30), or --energies like:FILE with "
                         f"labels/{missing[0]} in the file")
    return e, labels


def _like(path: str, n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The first n incident energies (and labels) of a shower file, drawn with replacement beyond it."""
    f = ShowerFile(path)
    e = f.incident_energy()
    idx = np.arange(n) if n <= len(e) else np.random.default_rng(seed).integers(0, len(e), n)
    labels: dict[str, np.ndarray] = {}
    if f.label_names:
        import h5py

        with h5py.File(path, "r") as h5:
            for k in f.label_names:
                values = h5["labels"][k][:]
                if len(values) != len(e):
                    raise InputError(f"label '{k}' has {len(values)} entries for {len(e)} showers",
                                     dataset=f"labels/{k}")
                labels[k] = values[idx]
    return e[idx], labels


def generate(run_dir: str | Path, n: int, energies: str | None, output: str | Path, seed: int = 0,
             batch_size: int = 1000, compression: str = "gzip", overwrite: bool = False, backend: str = "torch",
             workers: int = 1, shard_size: int | None = None, engine: str = "dask", device: str = "cpu",
             scheduler: str | None = None, labels: dict[str, str] | None = None) -> Path:
    """Generate ``n`` showers with a trained run and stream them to ``output`` (HDF5) in chunks.

    Returns the output path. Existing outputs are refused without ``overwrite``; a ``.partial``
    file from an interrupted call with the same options is continued. ``batch_size`` showers are
    written per chunk (chunk k seeded (seed, k)); the network runs them in micro-batches of
    :func:`hepgen.training.sampling.auto_batch_size` (fixed by the model and geometry). ``backend`` is ``torch`` or
    ``onnxruntime``; ``device`` where the torch model runs (``cpu``, ``cuda``...). With ``workers > 1`` or a
    ``shard_size``, ``output`` is a folder of shards
    (``manifest.json`` + ``shard-*.h5``, one seed per shard) written by ``workers`` Dask worker
    processes, or by the running Dask cluster at ``scheduler`` (``tcp://host:port``; see
    :func:`hepgen.training.sharded.run_sharded`); a re-run skips finished shards and ``hepgen merge`` joins
    them. A jet run writes a JetNet file (``energies`` unused; multiplicities from the model's KDE). ``labels``
    ({name: ``30`` or ``uniform:0:40``...}, :func:`label_values`) sets conditioning labels (e.g. ``theta_deg``)
    on top of those a ``like:`` file brings; a run conditioned on a label that nothing gives (and the model
    cannot draw) is refused.
    """
    from hepgen.progress import ProgressBar

    if n <= 0:
        raise InputError(f"number of showers must be positive, got {n}")
    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}': expected {' or '.join(BACKENDS)}")
    _check_output_is_no_input(output, run_dir, energies)
    if workers > 1 or shard_size or scheduler:
        if energies is None:
            raise InputError("sharded generation is for shower models; give --energies")
        if device != "cpu":
            raise InputError(f"sharded generation runs its workers on the CPU; drop --device {device} or the "
                             "--workers/--shard-size options")
        return _generate_sharded(run_dir, n, energies, output, seed, batch_size, compression, backend, workers,
                                 shard_size or -(-n // max(1, workers)), engine, scheduler=scheduler,
                                 label_specs=labels)

    gen = load_generator(run_dir, backend, device=device)
    if gen.kind.kind == "jets":
        if labels:
            raise InputError("--label is for shower models; jet models draw their conditions themselves")
        return _generate_jets(gen, run_dir, n, output, seed, batch_size, overwrite)
    if gen.kind.kind == "arrays":
        raise InputError("an array run (toys, pooled images) has no file format here; sample it with "
                         "load_generator(run).sample(n=...)", file=str(run_dir))
    if energies is None:
        raise InputError("a shower model needs incident energies (--energies like:ref.h5, 50GeV, ...)")
    micro = min(batch_size, auto_batch_size(gen.model, gen.kind.n_cond))  # network batch: fastest on CPU
    label_specs = labels
    e, labels = _conditions(energies, label_specs, n, seed, gen.labels, gen=gen, run_dir=run_dir)
    wanted = [k for k in gen.labels if k in labels]
    meta = {"generator_run": str(Path(run_dir).resolve().name), "model": gen.config["model"], "seed": seed,
            "energies": str(energies), "n_requested": n, "batch_size": batch_size,
            "generator_weights": _weights_digest(gen.model)}
    if label_specs:
        meta["label_spec"] = ";".join(f"{k}={v}" for k, v in label_specs.items())
    layout = "ild" if gen.geometry.name in ("ild-ecal", "ild-ahcal") and str(output).endswith(".ild.h5") else \
        "calochallenge"
    with ShowerWriter(output, gen.geometry, layout=layout, compression=compression, overwrite=overwrite,
                      resume=True, metadata=meta, labels=tuple(gen.labels),
                      label_scales=getattr(gen.kind, "label_scales", None)) as writer:
        with ProgressBar(total=n, description="generating", completed=writer.n_written) as bar:
            for k, start in enumerate(range(0, n, batch_size)):
                stop = min(n, start + batch_size)
                if stop <= writer.n_written:
                    continue
                lab = {key: labels[key][start:stop] for key in wanted}
                chunk = gen.sample(e[start:stop], lab or None, batch_size=micro, seed=seed * 1_000_003 + k)
                writer.append(chunk)
                bar.advance(stop - start)
    return Path(output)


def _weights_digest(model) -> str | None:
    """SHA-256 (first 16 hex digits) of the checkpoint file the model was loaded from: a resume with other
    weights (the run trained on in between) is refused instead of mixing two generators in one file."""
    import hashlib

    path = getattr(model, "hepgen_checkpoint", None)
    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _check_output_is_no_input(output, run_dir, energies: str | None) -> None:
    """InputError when ``output`` (or its partial file) is the ``like:`` file or a file of the run directory."""
    from hepgen.data.atomic import check_not_input, partial_path
    from hepgen.training.run import RunDir

    run = RunDir(run_dir)
    inputs = [run.path, run.config, run.preprocessing, run.checkpoint, run.best, run.extra]
    if energies is not None and str(energies).startswith("like:"):
        inputs.append(str(energies)[5:])
    for target in (output, partial_path(output)):
        check_not_input(target, inputs, "output")


def _write_shard(shard, path: Path, run_dir: str, incident_energy: np.ndarray, labels: dict, batch_size: int,
                 compression: str, backend: str) -> None:
    """Dask task: one shard file, chunk k seeded (shard seed, k), written into the private attempt folder of
    :func:`hepgen.training.sharded.run_shard_attempt` (a killed attempt is redone from scratch)."""
    import torch


    torch.set_num_threads(1)
    gen = load_generator(run_dir, backend, threads=1)
    micro = min(batch_size, auto_batch_size(gen.model, gen.kind.n_cond))
    meta = {"generator_run": Path(run_dir).name, "model": gen.config["model"], "seed": shard.seed,
            "shard": shard.index, "n_requested": shard.n, "batch_size": batch_size}
    with ShowerWriter(path, gen.geometry, compression=compression, metadata=meta, labels=tuple(gen.labels),
                      label_scales=getattr(gen.kind, "label_scales", None), resume=True) as w:
        for k, start in enumerate(range(0, shard.n, batch_size)):
            stop = min(shard.n, start + batch_size)
            if stop <= w.n_written:
                continue
            lab = {key: v[start:stop] for key, v in labels.items()}
            w.append(gen.sample(incident_energy[start:stop], lab or None, batch_size=micro,
                                seed=shard.seed * 1_000_003 + k))


def _generate_sharded(run_dir, n, energies, folder, seed, batch_size, compression, backend, workers, shard_size,
                      engine, scheduler=None, label_specs: dict[str, str] | None = None) -> Path:
    from functools import partial

    from hepgen.data.shards import ShardManifest
    from hepgen.training.run import RunDir
    from hepgen.training.sharded import run_sharded

    if not RunDir(run_dir).exists():
        raise InputError("not a hepgen run directory (no config.yaml / preprocessing.json)", file=str(run_dir))
    if Path(folder).exists() and not Path(folder).is_dir():
        raise InputError("with --workers/--shard-size the output is a folder of shards, not a file", file=str(folder))
    geometry = RunDir(run_dir).read_json(RunDir(run_dir).preprocessing)["geometry"]
    settings = {"run": str(Path(run_dir).resolve().name), "energies": str(energies), "batch_size": batch_size,
                "compression": compression}
    if label_specs:
        settings["label_spec"] = ";".join(f"{k}={v}" for k, v in label_specs.items())
    manifest = ShardManifest.plan(folder, n, shard_size, seed, geometry if isinstance(geometry, str) else "custom",
                                  settings)
    from hepgen.training.kinds import kind_from_state

    run_labels = list(kind_from_state(RunDir(run_dir).read_json(RunDir(run_dir).preprocessing)).labels)
    e, labels = _conditions(energies, label_specs, n, seed, run_labels, run_dir=run_dir)
    labels = {k: v for k, v in labels.items() if k in run_labels}
    pending = {s.index for s in manifest.pending()}

    def task_for(shard):  # each shard gets its slice of the planned conditions (pickled to its worker)
        start = shard.index * manifest.shard_size
        sl = slice(start, start + shard.n)
        return partial(_write_shard, run_dir=str(Path(run_dir).resolve()), incident_energy=e[sl],
                       labels={k: v[sl] for k, v in labels.items()}, batch_size=batch_size,
                       compression=compression, backend=backend)

    tasks = {s.index: task_for(s) for s in manifest.shards if s.index in pending}
    run_sharded(_ShardDispatch(tasks), manifest, workers=workers, engine=engine, scheduler=scheduler)
    return Path(folder)


class _ShardDispatch:
    """Picklable callable: runs the task planned for a shard's index."""

    def __init__(self, tasks: dict) -> None:
        self.tasks = tasks

    def __call__(self, shard, path: Path) -> None:
        self.tasks[shard.index](shard, path)
