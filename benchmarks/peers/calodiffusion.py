"""CaloDiffusion run by its own code as the peer of the fidelity benchmark (``bench_fidelity.py --peer``).

The peer: O. Amram and K. Pedro, "Denoising diffusion models with geometry adaptation for high fidelity calorimeter
simulation", arXiv:2308.03876 (the CaloChallenge 2022 submission, arXiv:2410.21611; ds2 low/high-level AUC
0.577/0.591), repository github.com/OzAmram/CaloDiffusion (its version 2.0: a layer-energy diffusion model, then a
cylindrical-convolution U-Net for the voxels given the layer energies). Nothing of it is copied here: the user
gives the path of a checkout (cloned with its HGCalShowers submodule, which the peer imports), and this adapter

1. writes the peer's own dataset config (``calodiffusion/configs/config_dataset2.json`` for calochallenge-2,
   ``config_dataset3.json`` for calochallenge-3) with four entries changed: ``FILES`` (our training file), ``EVAL``
   (our reference), ``BIN_FILE`` (the official binning XML that hepgen ships) and ``CHECKPOINT_NAME``;
2. runs ``python -m calodiffusion.training ... layer`` and then ``... diffusion`` (the peer's own training
   script, unchanged, in a subprocess with the checkout as working directory; environment: ``PYTHONUNBUFFERED=1``
   so that its progress lines arrive as printed, ``OMP_NUM_THREADS``, and ``CUDA_VISIBLE_DEVICES=''`` on the CPU).
   The peer has no wall-clock limit and saves one checkpoint per epoch, so the adapter keeps the clock: a phase's
   training time starts at the peer's first "Beginning epoch" line (its data preparation does not count, as
   hepgen's does not) and, once the budget is spent, the process is stopped (SIGTERM, never while it writes a
   checkpoint); the last saved epoch is what generates. The layer model gets ``LAYER_SHARE`` of the budget, the
   voxel model the rest. The time is recorded at each saved epoch, so an interrupted benchmark resumes each phase
   with the peer's own ``--load`` from its last checkpoint and the time up to it (the partial epoch is lost);
3. runs ``python -m calodiffusion.inference ... sample ... layer`` (the peer's own sampler, DDIM with
   ``SAMPLE_STEPS`` steps, its command-line default, at batch 100) at the reference's incident energies and converts
   its output (CaloChallenge layout, MeV) into a hepgen file after checking that the incident energies are the
   reference's;
4. times the peer's generation at batch 100: (wall(N showers) - wall(100 showers)) / (N - 100), so that the
   start-up (imports, model loading) cancels.

Needs in the peer's Python environment (``--peer-python``): torch, numpy, scipy, h5py, click, pyyaml, joblib,
matplotlib, mplhep, einops and torchsde (the peer's ``pip install -e .`` brings them and more).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

NAME = "calodiffusion"
TITLE = "CaloDiffusion"
PAPER = ('O. Amram, K. Pedro, "Denoising diffusion models with geometry adaptation for high fidelity calorimeter '
         'simulation", arXiv:2308.03876')
CONFIGS = {"calochallenge-2": ("config_dataset2.json", "binning_dataset_2.xml"),
           "calochallenge-3": ("config_dataset3.json", "binning_dataset_3.xml")}
CHECKPOINT_NAME = "hepgen"
PHASES = {"layer": "LayerModel", "diffusion": "Diffusion"}  # training sub-command -> its checkpoint folder suffix
LAYER_SHARE = 0.2
SAMPLE_STEPS = 200
BATCH = 100
EPOCH_START = "Beginning epoch"
SAVING = "SAVING"
SAVE_GRACE_S = 300.0
STOP_GRACE_S = 30.0


def _input_error(message: str) -> Exception:
    from hepgen.errors import InputError

    return InputError(message)


def check_checkout(checkout: str | Path) -> Path:
    """The resolved checkout, after checking that it holds the peer's scripts and the submodule it imports.

    >>> check_checkout("/nonexistent")
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: /nonexistent: not a CaloDiffusion checkout (no calodiffusion/training.py)
    """
    path = Path(checkout).expanduser().resolve()
    for name in ("calodiffusion/training.py", "calodiffusion/inference.py", "calodiffusion/configs"):
        if not (path / name).exists():
            raise _input_error(f"{checkout}: not a CaloDiffusion checkout (no {name})")
    if not (path / "HGCalShowers" / "HGCalGeo.py").is_file():
        raise _input_error(f"{checkout}: the HGCalShowers submodule that CaloDiffusion imports is missing "
                           "(clone with --recursive or run 'git submodule update --init HGCalShowers')")
    return path


def commit(checkout: Path) -> str | None:
    """The checkout's git commit (None when it is no git work tree)."""
    try:
        out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def binning_xml(geometry: str) -> Path:
    """The official CaloChallenge binning XML that hepgen ships for ``geometry``."""
    from importlib.resources import files

    if geometry not in CONFIGS:
        raise _input_error(f"the CaloDiffusion peer runs on {', '.join(CONFIGS)}, not '{geometry}'")
    return Path(str(files("hepgen.geometry") / "data" / CONFIGS[geometry][1]))


def write_config(checkout: Path, geometry: str, path: Path, train_name: str, reference_name: str) -> dict[str, Any]:
    """Write the peer's own config for ``geometry`` to ``path`` (JSON) with only the file entries changed.

    ``train_name`` / ``reference_name`` are file names inside the data folder given to the peer (``-d``).
    Returns the written config.
    """
    import yaml

    if geometry not in CONFIGS:
        raise _input_error(f"the CaloDiffusion peer runs on {', '.join(CONFIGS)}, not '{geometry}'")
    source = checkout / "calodiffusion" / "configs" / CONFIGS[geometry][0]
    if not source.is_file():
        raise _input_error(f"{source}: the peer's config for {geometry} is missing")
    config = yaml.safe_load(source.read_text())  # the peer reads its configs with yaml (single-quoted JSON)
    if not isinstance(config, dict):
        raise _input_error(f"{source}: expected a mapping of settings")
    config.update({"FILES": [train_name], "EVAL": [reference_name], "BIN_FILE": str(binning_xml(geometry)),
                   "CHECKPOINT_NAME": CHECKPOINT_NAME})
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, config)
    return config


def link_data(folder: Path, train: Path, reference: Path) -> Path:
    """A data folder with links ``train.hdf5`` / ``reference.hdf5`` to our files (the peer writes its preprocessed
    ``.npz`` caches beside the files it reads: they stay in the peer's folder)."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, target in (("train.hdf5", train), ("reference.hdf5", reference)):
        link = data / name
        if link.is_symlink() and Path(os.readlink(link)) != target.resolve():
            link.unlink()
            for cache in data.glob(name + "*.npz"):
                cache.unlink()
        if not link.is_symlink():
            link.symlink_to(target.resolve())
    return data


def peer_env(threads: int, device: str) -> dict[str, str]:
    """The peer's environment: ours plus unbuffered output, the thread count and, on the CPU, no visible GPU.

    >>> e = peer_env(2, "cpu"); e["OMP_NUM_THREADS"], e["CUDA_VISIBLE_DEVICES"], e["PYTHONUNBUFFERED"]
    ('2', '', '1')
    """
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    if not device.startswith("cuda"):
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def checkpoint_dir(folder: Path, phase: str) -> Path:
    """Where the peer's training of ``phase`` writes ``checkpoint.pth`` (its ``CHECKPOINT_NAME_<class>`` folder)."""
    return folder / "checkpoints" / f"{CHECKPOINT_NAME}_{PHASES[phase]}"


def _rel(path: Path, start: Path) -> str:
    # The peer strips '/' from both ends of its --checkpoint folder (an absolute path would land inside the
    # checkout): hand it paths relative to its working directory.
    return os.path.relpath(path, start)


def train_command(python: str, checkout: Path, folder: Path, phase: str, resume: bool,
                  n_train: int | None = None) -> list[str]:
    """The peer's own training command for ``phase`` (``layer`` or ``diffusion``), resumed with ``--load``;
    ``n_train`` passes the peer's own ``-n`` (train on the first ``n_train`` showers of the file: its epoch size).

    >>> c = train_command("python", Path("/a/peer"), Path("/a/w"), "layer", True, 10000)
    >>> " ".join(c[3:])
    '-c /a/w/config.json -d /a/w/data --checkpoint ../w/checkpoints -n 10000 --load layer'
    """
    return [python, "-m", "calodiffusion.training", "-c", str(folder / "config.json"), "-d", str(folder / "data"),
            "--checkpoint", _rel(folder / "checkpoints", checkout)] + (["-n", str(n_train)] if n_train else []) + (
            ["--load"] if resume else []) + [phase]


def generate_command(python: str, checkout: Path, folder: Path, n: int, output: Path, steps: int = SAMPLE_STEPS,
                     batch: int = BATCH) -> list[str]:
    """The peer's own sampling command: ``n`` showers at the first ``n`` incident energies of ``EVAL``.

    >>> " ".join(generate_command("py", Path("/a/p"), Path("/a/w"), 100, Path("/a/w/o.h5"))[3:9])
    '-c /a/w/config.json -d /a/w/data -n 100'
    """
    return [python, "-m", "calodiffusion.inference", "-c", str(folder / "config.json"), "-d", str(folder / "data"),
            "-n", str(n), "--checkpoint-folder", _rel(folder / "checkpoints", checkout), "sample",
            "--sample-steps", str(steps), "--batch-size", str(batch),
            "--model-loc", _rel(checkpoint_dir(folder, "diffusion") / "checkpoint.pth", checkout),
            "-g", str(output), "layer", "--layer-model",
            _rel(checkpoint_dir(folder, "layer") / "checkpoint.pth", checkout)]


def supervise(command: list[str], cwd: Path, env: dict[str, str], log: Path, budget_s: float,
              on_saved: Callable[[float, int], None] | None = None) -> dict[str, Any]:
    """Run the peer's training ``command``; its clock starts at the first ``EPOCH_START`` line. Once ``budget_s``
    of it is spent the process is stopped (SIGTERM, SIGKILL after ``STOP_GRACE_S``), but not while it writes its
    checkpoint (between a ``SAVING`` line and the next epoch, waited for up to ``SAVE_GRACE_S``). ``on_saved(seconds,
    epochs)`` is called after each saved epoch. Returns ``trained_s``, ``epochs_saved``, ``stopped`` (by the
    budget), ``returncode``, ``startup_s`` (before the first epoch) and the log's last lines (``tail``).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
    t0 = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, errors="replace")

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put((time.monotonic(), line))
        lines.put((time.monotonic(), None))

    threading.Thread(target=reader, daemon=True).start()
    t_train = saving_since = stop_time = None
    epochs = 0
    tail: list[str] = []
    try:
        with open(log, "a") as out:
            out.write(f"$ {' '.join(command)}\n")
            while True:
                try:
                    now, line = lines.get(timeout=1.0)
                except queue.Empty:
                    now, line = time.monotonic(), ""
                if line is None:
                    break
                if line:
                    out.write(f"[{now - t0:8.1f} s] {line}")
                    out.flush()
                    tail = (tail + [line.rstrip()])[-30:]
                    if line.startswith(EPOCH_START):
                        t_train = now if t_train is None else t_train
                        if saving_since is not None:
                            saving_since = None
                            epochs += 1
                            if on_saved:
                                on_saved(now - t_train, epochs)
                    elif line.strip() == SAVING:
                        saving_since = now
                if stop_time is None and t_train is not None and now - t_train >= budget_s:
                    if saving_since is None or now - saving_since > SAVE_GRACE_S:
                        stop_time = now
                        out.write(f"[hepgen] training budget spent after {now - t_train:.0f} s: stopping the peer\n")
                        proc.terminate()
                if stop_time is not None and proc.poll() is None and time.monotonic() - stop_time > STOP_GRACE_S:
                    proc.kill()
            returncode = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    end = stop_time if stop_time is not None else time.monotonic()
    if saving_since is not None and stop_time is None and returncode == 0:
        epochs += 1  # the last epoch's checkpoint, written before a natural end
        if on_saved and t_train is not None:
            on_saved(end - t_train, epochs)
    return {"trained_s": (end - t_train) if t_train is not None else 0.0, "epochs_saved": epochs,
            "stopped": stop_time is not None, "returncode": returncode,
            "startup_s": (t_train - t0) if t_train is not None else None, "tail": tail}


def _state(folder: Path) -> dict[str, Any]:
    path = folder / "peer-state.json"
    return json.loads(path.read_text()) if path.is_file() else {"phases": {}}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as JSON at ``path``, written atomically (hepgen's atomic writer)."""
    from hepgen.data.atomic import atomic_path

    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def _save_state(folder: Path, state: dict[str, Any]) -> None:
    _write_json(folder / "peer-state.json", state)


def _saved_epoch(folder: Path, phase: str) -> int | None:
    """The epoch (from 0) of the phase's last checkpoint, None without one."""
    import torch

    path = checkpoint_dir(folder, phase) / "checkpoint.pth"
    if not path.is_file():
        return None
    return int(torch.load(path, map_location="cpu", weights_only=True).get("epoch", -1))


def prepare(checkout: Path, folder: Path, train_file: Path, reference: Path, geometry: str) -> None:
    """The peer's data folder and config in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    link_data(folder, train_file, reference)
    write_config(checkout, geometry, folder / "config.json", "train.hdf5", "reference.hdf5")


def train(checkout: Path, folder: Path, train_file: Path, reference: Path, geometry: str, budget_s: float,
          threads: int, python: str | None = None, device: str = "cpu", n_train: int | None = None) -> dict[str, Any]:
    """Train (or resume) the layer model, then the voxel model, for ``budget_s`` of training in all. Returns the
    training summary: ``status`` (``finished`` once the budget is spent or the peer ended by itself), ``trained_s``,
    ``epochs`` and per phase ``trained_s``, ``epochs``, ``startup_s``, ``stopped``."""
    from hepgen.progress import status

    python = python or sys.executable
    prepare(checkout, folder, train_file, reference, geometry)
    state = _state(folder)
    if state.get("budget_s") not in (None, budget_s):
        raise _input_error(f"{folder} was trained with a budget of {state['budget_s']:.0f} s, not {budget_s:.0f} s: "
                           "use another --workdir (or remove the peer's folder)")
    state["budget_s"] = budget_s
    if state.get("n_train", n_train) != n_train:
        raise _input_error(f"{folder} was trained on the first {state['n_train']} showers, not {n_train}: use the "
                           "same --peer-n-train (or remove the peer's folder)")
    state["n_train"] = n_train
    env = peer_env(threads, device)
    for phase in PHASES:
        info = state["phases"].setdefault(phase, {"trained_s": 0.0, "status": "not started"})
        if info["status"] == "finished":
            continue
        spent = sum(p.get("trained_s", 0.0) for k, p in state["phases"].items() if k != phase)
        share = LAYER_SHARE * budget_s if phase == "layer" else budget_s - spent
        left = share - info["trained_s"]
        if left <= 0:
            info["status"] = "finished"
            _save_state(folder, state)
            continue
        resume = (checkpoint_dir(folder, phase) / "checkpoint.pth").is_file()
        base = info["trained_s"] if resume else 0.0
        status(f"{TITLE} (peer) {phase}: training for {left:.0f} s more of {share:.0f} s"
               f"{' (resumed from its last epoch)' if resume else ''}")

        def saved(seconds: float, epochs: int, info: dict = info, base: float = base) -> None:
            info["trained_s"] = round(base + seconds, 1)
            info["epochs"] = info.get("epochs_before", 0) + epochs
            _save_state(folder, state)

        info["epochs_before"] = info.get("epochs", 0) if resume else 0
        info["status"] = "running"
        _save_state(folder, state)
        log = folder / "logs" / f"train-{phase}.log"
        command = train_command(python, checkout, folder, phase, resume, n_train)
        result = supervise(command, checkout, env, log, left, saved)
        info["startup_s"] = round(result["startup_s"], 1) if result["startup_s"] is not None else None
        if result["stopped"] or result["returncode"] == 0:
            info["trained_s"] = round(base + result["trained_s"], 1)
            info["stopped_by_budget"] = result["stopped"]
            info["status"] = "finished"
            _save_state(folder, state)
        else:
            info["status"] = "failed"
            _save_state(folder, state)
            raise RuntimeError(f"{TITLE} {phase} training exited with code {result['returncode']} (log {log}): "
                               + " | ".join(result["tail"][-3:]))
        if _saved_epoch(folder, phase) is None:
            raise RuntimeError(f"{TITLE} {phase}: no epoch finished within its {share:.0f} s (the peer saves once "
                               f"per epoch; log {log})")
    phases = state["phases"]
    return {"status": "finished", "n_train": n_train,
            "trained_s": round(sum(p["trained_s"] for p in phases.values()), 1),
            "epochs": " + ".join(f"{k} {(_saved_epoch(folder, k) or 0) + 1}" for k in PHASES),
            "phases": {k: {x: v for x, v in p.items() if x != "epochs_before"} for k, p in phases.items()}}


def run_generation(checkout: Path, folder: Path, n: int, output: Path, threads: int, python: str | None = None,
                   device: str = "cpu", steps: int = SAMPLE_STEPS) -> float:
    """The peer's own sampling of ``n`` showers into ``output`` (its format); returns the wall-clock seconds."""
    python = python or sys.executable
    tmp = output.with_name(output.stem + ".tmp.h5")
    log = folder / "logs" / f"generate-n{n}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = generate_command(python, checkout, folder, n, tmp, steps)
    t0 = time.monotonic()
    with open(log, "w") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        proc = subprocess.run(command, cwd=checkout, env=peer_env(threads, device), stdout=out,
                              stderr=subprocess.STDOUT)
    wall = time.monotonic() - t0
    if proc.returncode != 0 or not tmp.is_file():
        tail = " | ".join(log.read_text(errors="replace").splitlines()[-3:])
        raise RuntimeError(f"{TITLE} generation exited with code {proc.returncode} (log {log}): {tail}")
    os.replace(tmp, output)
    return wall


def convert(peer_file: Path, reference: Path, output: Path, geometry: str) -> dict[str, Any]:
    """The peer's generated file (CaloChallenge layout, MeV) as a hepgen shower file at the reference's incident
    energies. The peer's incident energies must be the reference's (first N, relative difference <= 1e-4: it
    scales them on the way in and out); non-finite deposits are an error; negative ones are clipped by the writer.
    Returns ``n``, ``negative_voxels`` and ``max_energy_mismatch``.
    """
    import h5py

    from hepgen.data import ShowerData, ShowerFile
    from hepgen.data.hdf5 import write_showers

    with h5py.File(peer_file, "r") as h5:
        if "showers" not in h5 or "incident_energies" not in h5:
            raise _input_error(f"{peer_file}: expected datasets 'showers' and 'incident_energies'")
        showers = np.asarray(h5["showers"][:], dtype=np.float32)
        incident = np.asarray(h5["incident_energies"][:], dtype=np.float64).reshape(-1)
    showers = showers.reshape(len(showers), -1)
    ref = ShowerFile(reference).incident_energy()
    n = len(showers)
    if len(incident) != n or n > len(ref):
        raise _input_error(f"{peer_file}: {n} showers with {len(incident)} incident energies for a reference of "
                           f"{len(ref)}")
    mismatch = float(np.max(np.abs(incident / ref[:n] - 1.0))) if n else 0.0
    if not mismatch <= 1e-4:
        raise _input_error(f"{peer_file}: incident energies differ from the reference's by up to {mismatch:.2g} "
                           "(relative): expected the reference's, in its order")
    bad = ~np.isfinite(showers)
    if bad.any():
        index = int(np.argwhere(bad.any(axis=1))[0, 0])
        raise _input_error(f"{peer_file}: dataset showers, index {index}: non-finite deposits "
                           f"({int(bad.sum())} voxels in all)")
    negative = int((showers < 0).sum())
    write_showers(output, ShowerData(ref[:n], showers, geometry), overwrite=True,
                  metadata={"generator": f"{TITLE} (peer, its own code)", "peer_file": str(peer_file.name)})
    return {"n": n, "negative_voxels": negative, "max_energy_mismatch": mismatch}


def parameters(folder: Path) -> dict[str, int]:
    """Parameter counts of the two saved models (the layer model and the voxel U-Net), both used to generate."""
    import torch

    total = 0
    for phase in PHASES:
        ckpt = torch.load(checkpoint_dir(folder, phase) / "checkpoint.pth", map_location="cpu", weights_only=True)
        state = ckpt.get("model_state_dict", ckpt)
        if phase == "layer":  # the layer phase saves the whole two-model object: count its layer network
            state = state.get("layer_model", {k: v for k, v in state.items() if k.startswith("layer_model.")})
        total += sum(int(v.numel()) for v in _tensors(state))
    return {"generation": total, "training": total}


def _tensors(state: Any) -> list:
    import torch

    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for v in state.values() for t in _tensors(v)]
    return []
