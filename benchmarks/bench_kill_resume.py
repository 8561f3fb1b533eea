"""Kill test: ``hepgen simulate`` and ``hepgen generate`` killed with SIGKILL at random moments, then resumed.

Run: PYTHONPATH=src python benchmarks/bench_kill_resume.py [--trials 8] [--seed 1] [--quick]
Target: issue 15 (hardening). Every trial runs the command, kills it (SIGKILL) one or two times at a
random moment (before its partial file exists, while the first chunk is computed, or after some chunks
are written), then reruns the same command to the end. The finished file must equal, dataset by
dataset and bit for bit, the file of an uninterrupted run with the same seed. A rerun that does not
end within 10x the uninterrupted wall time counts as a hang. Prints a Markdown table.

The generator is a tiny WGAN trained for one epoch on GFlash showers made here (calochallenge-2), so
the test needs nothing but hepgen itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")  # the kill moment is classified by reading the partial

import h5py
import numpy as np

HEPGEN = [sys.executable, "-m", "hepgen", "-q"]


def run(args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(HEPGEN + args, check=False, capture_output=True, text=True, timeout=timeout)


def datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def identical(a: Path, b: Path) -> bool:
    da, db = datasets(a), datasets(b)
    return da.keys() == db.keys() and all(da[k].dtype == db[k].dtype and np.array_equal(da[k], db[k]) for k in da)


def kill_moment(partial: Path) -> str:
    """Where the kill landed, from what it left: no partial, a partial without a complete chunk, or chunks."""
    if not os.path.lexists(partial):
        return "before"
    try:
        with h5py.File(partial, "r") as h5:
            done = int(h5.attrs.get("hepgen_complete_rows", 0))
    except (OSError, KeyError, ValueError):
        return "first chunk"
    return "first chunk" if done == 0 else "later"


def one_kill(args: list[str], output: Path, rng: np.random.Generator, t_start: float, t_rest: float,
             n_chunks: int) -> str:
    """Start the command and SIGKILL it at a random moment; returns where it landed ('finished' if it ended).

    A third of the kills aim at the start-up (before the partial file exists), a third at the first chunk
    (within one chunk's time after the partial file appears), a third at the chunks after it."""
    partial = output.with_name(f"{output.stem}.partial{output.suffix}")
    t_chunk = t_rest / max(1, n_chunks)
    aim = rng.integers(3)
    proc = subprocess.Popen(HEPGEN + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    if aim == 0:
        deadline = t0 + rng.uniform(0.0, t_start)
    else:
        while not os.path.lexists(partial) and proc.poll() is None and time.monotonic() - t0 < 10 * (t_start + t_rest):
            time.sleep(0.001)
        deadline = time.monotonic() + (rng.uniform(0.0, t_chunk) if aim == 1 else rng.uniform(t_chunk, t_rest))
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    if proc.poll() is not None:
        return "finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return kill_moment(partial)


def first_partial_time(args: list[str], output: Path) -> tuple[float, float]:
    """(seconds until the partial file appears, seconds from then to the end) of an uninterrupted run."""
    partial = output.with_name(f"{output.stem}.partial{output.suffix}")
    t0 = time.monotonic()
    proc = subprocess.Popen(HEPGEN + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t_partial = None
    while proc.poll() is None:
        if t_partial is None and os.path.lexists(partial):
            t_partial = time.monotonic() - t0
        time.sleep(0.002)
    if proc.returncode != 0:
        raise SystemExit(f"uninterrupted run failed: {proc.stderr.read()}")
    total = time.monotonic() - t0
    t_partial = total * 0.5 if t_partial is None else t_partial
    return t_partial, total - t_partial


def bench(name: str, args: list[str], n_chunks: int, work: Path, trials: int, rng: np.random.Generator) -> dict:
    ref = work / f"{name}-ref.h5"
    t0 = time.monotonic()
    r = run(args + ["-o", str(ref)])
    if r.returncode != 0:
        raise SystemExit(f"{name}: reference run failed: {r.stderr}")
    t_full = time.monotonic() - t0
    probe = work / f"{name}-probe.h5"
    t_start, t_rest = first_partial_time(args + ["-o", str(probe)], probe)
    row = {"command": name, "t_full_s": t_full, "t_partial_s": t_start, "trials": trials, "kills": 0,
           "before": 0, "first chunk": 0, "later": 0, "finished": 0, "resumed_ok": 0, "mismatches": 0,
           "hangs": 0, "failed": 0, "restarts_noted": 0, "leftover_files": 0}
    for trial in range(trials):
        folder = work / f"{name}-{trial}"
        folder.mkdir()
        out = folder / "out.h5"
        cmd = args + ["-o", str(out)]
        for _ in range(1 + int(rng.random() < 0.5)):
            where = one_kill(cmd, out, rng, t_start, t_rest, n_chunks)
            row[where] += 1
            row["kills"] += where != "finished"
            if where == "finished":
                break
        if not out.exists():
            try:
                r = run(cmd, timeout=max(60.0, 10 * t_full))
            except subprocess.TimeoutExpired:
                row["hangs"] += 1
                continue
            row["restarts_noted"] += "starting over" in r.stderr
            if r.returncode != 0:
                row["failed"] += 1
                print(f"{name} trial {trial}: exit {r.returncode}: {r.stderr.strip()}", file=sys.stderr)
                continue
        if identical(ref, out):
            row["resumed_ok"] += 1
        else:
            row["mismatches"] += 1
        row["leftover_files"] += len([p for p in folder.iterdir() if p.name != "out.h5"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="trials per command (1-2 kills each)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    parser.add_argument("--quick", action="store_true", help="2 trials per command, smaller files")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (printed) for inspection")
    opts = parser.parse_args()
    trials = 2 if opts.quick else opts.trials
    rng = np.random.default_rng(opts.seed)
    work = Path(tempfile.mkdtemp(prefix="hepgen-kill-"))
    try:
        n_sim, n_gen = (300, 1000) if opts.quick else (1200, 3000)
        # a tiny generator: one WGAN epoch on 256 GFlash showers (calochallenge-2: writing a chunk takes a while)
        data = work / "train.h5"
        cfg = work / "tiny.yaml"
        cfg.write_text("model: wgan\nparams: {width: 8, noise_dim: 4, constrainer_steps: 2}\n"
                       "training: {batch_size: 64}\n")
        for args in (["simulate", "-d", "calochallenge-2", "-e", "uniform:1GeV:10GeV", "-n", "256", "--seed", "3",
                      "-o", str(data)],
                     ["train", "-d", str(data), "-o", str(work / "run"), "-c", str(cfg), "--max-epochs", "1"]):
            r = run(args)
            if r.returncode != 0:
                raise SystemExit(f"setup failed: {' '.join(args)}: {r.stderr}")
        commands = {
            "simulate": (["simulate", "-d", "calochallenge-2", "-e", "log-uniform:1GeV:100GeV", "-n", str(n_sim),
                          "--chunk-size", "128", "--seed", "11"], -(-n_sim // 128)),
            "generate": (["generate", str(work / "run"), "-n", str(n_gen), "-e", "log-uniform:1GeV:10GeV",
                          "--batch-size", "500", "--seed", "12"], -(-n_gen // 500)),
        }
        rows = [bench(name, args, n_chunks, work, trials, rng) for name, (args, n_chunks) in commands.items()]
    finally:
        if opts.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("| command | uninterrupted s | trials | kills (before partial / in first chunk / later) | ended before "
          "kill | resumed bit-exact | mismatches | hangs | failed | 'starting over' notes | leftover files |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['command']} | {r['t_full_s']:.1f} | {r['trials']} | {r['kills']} ({r['before']} / "
              f"{r['first chunk']} / {r['later']}) | {r['finished']} | {r['resumed_ok']}/{r['trials']} | "
              f"{r['mismatches']} | {r['hangs']} | {r['failed']} | {r['restarts_noted']} | {r['leftover_files']} |")
    total = sum(r["kills"] for r in rows)
    bad = sum(r["mismatches"] + r["hangs"] + r["failed"] for r in rows)
    print(f"\n{total} kills, {bad} trials not bit-exact after resuming")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
