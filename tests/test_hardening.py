"""Hardening: unseeded runs, killed and mismatched resumes, planted links, outputs over inputs, safe checkpoints."""

import hashlib
import os

import h5py
import numpy as np
import pytest
from conftest import TINY_PARAMS, random_showers

from hepgen.cli import main
from hepgen.data import ShowerWriter, read_showers, write_showers
from hepgen.errors import InputError
from hepgen.simulate import stream

SIM = ["simulate", "-d", "belle2-ecl-5x5", "-e", "uniform:1GeV:5GeV", "-n", "70"]


def cli(capsys, *args):
    """(exit code, stdout, stderr) of ``hepgen -q ARGS`` run in this process."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["-q", *map(str, args)])
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def datasets(path):
    with h5py.File(path, "r") as h5:
        return {k: h5[k][()] for k in ("incident_energies", "showers")}


def same_data(a, b):
    da, db = datasets(a), datasets(b)
    return all(np.array_equal(da[k], db[k]) for k in da)


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def killed_partial(tmp_path, monkeypatch, name, geometry="belle2-ecl-5x5", seed=3):
    """A .partial.h5 of a simulate run killed after its first chunk (of 32 showers)."""
    real, calls = stream.simulate_block, {"n": 0}

    def dies_second_time(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(stream, "simulate_block", dies_second_time)
    with pytest.raises(KeyboardInterrupt):
        stream.simulate_to_file(tmp_path / name, geometry, "uniform:1GeV:5GeV", 70, seed=seed, chunk_size=32,
                                quiet=True)
    monkeypatch.setattr(stream, "simulate_block", real)
    part = tmp_path / name.replace(".h5", ".partial.h5")
    assert part.exists()
    return part


def test_unseeded_simulate_records_its_seed_and_that_seed_repeats_it(tmp_path, capsys):
    code, _, err = cli(capsys, *SIM, "-o", tmp_path / "a.h5")
    assert code == 0, err
    with h5py.File(tmp_path / "a.h5") as h5:
        seed = h5.attrs["seed"]
    assert isinstance(seed, str) and int(seed) > 2 ** 64  # 128 bits drawn
    code, _, err = cli(capsys, *SIM, "-o", tmp_path / "b.h5", "--seed", seed)
    assert code == 0, err
    assert same_data(tmp_path / "a.h5", tmp_path / "b.h5")
    code, _, _ = cli(capsys, *SIM, "-o", tmp_path / "c.h5")
    assert code == 0 and not same_data(tmp_path / "a.h5", tmp_path / "c.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5", "c.h5"]


@pytest.mark.parametrize("content", ["empty", "superblock", "header_only"])
def test_unreadable_or_empty_partial_is_started_over(tmp_path, capsys, content):
    ref = tmp_path / "ref.h5"
    assert cli(capsys, *SIM, "-o", ref, "--seed", 4)[0] == 0
    part = tmp_path / "out.partial.h5"
    if content == "empty":
        part.write_bytes(b"")
    elif content == "superblock":  # what a job killed right after opening its file leaves (96 bytes)
        part.write_bytes(ref.read_bytes()[:96])
    else:  # a valid file without the shower datasets
        with h5py.File(part, "w") as h5:
            h5.attrs["x"] = 1
    code, _, err = cli(capsys, *SIM, "-o", tmp_path / "out.h5", "--seed", 4)
    assert code == 0, err
    assert "out.partial.h5" in err and "starting over" in err
    assert same_data(ref, tmp_path / "out.h5") and not part.exists()


def test_overwrite_starts_over_instead_of_resuming(tmp_path, capsys, monkeypatch):
    part = killed_partial(tmp_path, monkeypatch, "out.h5", seed=3)
    code, _, err = cli(capsys, *SIM, "-o", tmp_path / "out.h5", "--seed", 9)  # other seed: refused
    assert code == 2 and "seed" in err and "--overwrite" in err
    code, _, err = cli(capsys, *SIM, "-o", tmp_path / "out.h5", "--seed", 9, "--overwrite")
    assert code == 0, err
    assert cli(capsys, *SIM, "-o", tmp_path / "ref.h5", "--seed", 9)[0] == 0
    assert same_data(tmp_path / "ref.h5", tmp_path / "out.h5") and not part.exists()


def test_resume_with_another_geometry_is_refused_before_writing_a_byte(tmp_path, capsys, monkeypatch):
    part = killed_partial(tmp_path, monkeypatch, "out.h5", geometry="calochallenge-2")
    before = digest(part)
    code, _, err = cli(capsys, "simulate", "-d", "belle2-ecl-5x5", "-e", "uniform:1GeV:5GeV", "-n", 70,
                       "-o", tmp_path / "out.h5", "--seed", 3, "--chunk-size", 32)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "out.partial.h5" in lines[0] and "geometry = 'calochallenge-2' there" in lines[0]
    assert "'belle2-ecl-5x5' now" in lines[0] and "--overwrite" in lines[0]
    assert digest(part) == before
    # the right rerun resumes and equals an uninterrupted run
    code, _, err = cli(capsys, "simulate", "-d", "calochallenge-2", "-e", "uniform:1GeV:5GeV", "-n", 70,
                       "-o", tmp_path / "out.h5", "--seed", 3)
    assert code == 0, err
    stream.simulate_to_file(tmp_path / "ref.h5", "calochallenge-2", "uniform:1GeV:5GeV", 70, seed=3, quiet=True)
    assert same_data(tmp_path / "ref.h5", tmp_path / "out.h5")


def test_a_chunk_that_was_not_completed_is_dropped_on_resume(tmp_path):
    s = random_showers("belle2-ecl-5x5", 30, seed=5)
    out = tmp_path / "sim.h5"
    w = ShowerWriter(out, s.geometry, resume=True, metadata={"seed": 1})
    w.append(s[:10])
    # killed in the middle of the next chunk: rows grown (zeros), count not advanced
    w._h5["incident_energies"].resize(20, axis=0)
    w._h5["showers"].resize(20, axis=0)
    w.abort()
    w = ShowerWriter(out, s.geometry, resume=True, metadata={"seed": 1})
    assert w.n_written == 10
    w.append(s[10:])
    w.close()
    back = read_showers(out)
    assert np.array_equal(back.energy, s.energy) and np.array_equal(back.incident_energy, s.incident_energy)


def test_a_link_planted_at_the_partial_name_is_never_written_through(tmp_path, capsys):
    write_showers(tmp_path / "in.h5", random_showers("belle2-ecl-5x5", 12, seed=2))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out.partial.h5").symlink_to(victim)
    code, _, err = cli(capsys, "convert", tmp_path / "in.h5", tmp_path / "out.h5")
    assert code == 0, err
    assert victim.read_text() == "precious" and len(read_showers(tmp_path / "out.h5")) == 12
    (tmp_path / "pts.partial.h5").symlink_to(victim)
    assert cli(capsys, "convert", tmp_path / "in.h5", tmp_path / "pts.h5", "--to", "points")[0] == 0
    assert victim.read_text() == "precious"
    # a resumable job refuses the link (exit 2), --overwrite replaces the link itself
    (tmp_path / "sim.partial.h5").symlink_to(victim)
    code, _, err = cli(capsys, *SIM, "-o", tmp_path / "sim.h5", "--seed", 1)
    assert code == 2 and "sim.partial.h5" in err and "symbolic link" in err
    code, _, err = cli(capsys, *SIM, "-o", tmp_path / "sim.h5", "--seed", 1, "--overwrite")
    assert code == 0, err
    assert victim.read_text() == "precious" and not os.path.lexists(tmp_path / "sim.partial.h5")
    # a link at the final name is replaced (with --overwrite), its target kept
    (tmp_path / "final.h5").symlink_to(victim)
    assert cli(capsys, *SIM, "-o", tmp_path / "final.h5", "--seed", 1, "--overwrite")[0] == 0
    assert victim.read_text() == "precious" and not (tmp_path / "final.h5").is_symlink()


def test_failed_convert_leaves_nothing_behind(tmp_path, capsys):
    s = random_showers("belle2-ecl-5x5", 30, seed=2)
    write_showers(tmp_path / "in.h5", s)
    with h5py.File(tmp_path / "in.h5", "a") as h5:
        h5["showers"][25, 3] = np.nan
    code, _, err = cli(capsys, "convert", tmp_path / "in.h5", tmp_path / "out.h5", "--chunk-size", 10)
    assert code == 2 and "in.h5" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5"]


# --- checkpoints: loading a run directory never runs code ---------------------------------------

TINY = {"params": TINY_PARAMS["wgan"],
        "training": {"batch_size": 16, "val_every_epochs": 1}}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A wgan trained one epoch on belle2-ecl-5x5 showers, and its training file."""
    from hepgen.evaluate import quick_metrics
    from hepgen.progress import set_quiet
    from hepgen.training import train

    set_quiet(True)
    d = tmp_path_factory.mktemp("tiny")
    write_showers(d / "train.h5", random_showers("belle2-ecl-5x5", 64, seed=3))
    run = train("wgan", d / "train.h5", d / "run", TINY, max_epochs=1, validation=quick_metrics)  # with best.ckpt
    return run, d / "train.h5"


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant(path, marker):
    import torch

    torch.save({"epoch": _RunsAShellCommand(marker), "state_dict": {}}, path)


@pytest.mark.parametrize("command", ["generate", "export", "resume", "best"])
def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tiny_run, tmp_path, capsys, command):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    marker = tmp_path / "marker"
    _plant(run / "checkpoints" / ("best.ckpt" if command == "best" else "last.ckpt"), marker)
    (run / "extra.npz").unlink(missing_ok=True)
    if command in ("generate", "export"):  # both take best.ckpt when there is one
        (run / "checkpoints" / "best.ckpt").unlink()
    args = {"generate": ["generate", run, "-n", 5, "-e", "1GeV", "-o", tmp_path / "g.h5"],
            "best": ["generate", run, "-n", 5, "-e", "1GeV", "-o", tmp_path / "g.h5"],
            "export": ["export", run, "--onnx", tmp_path / "m.onnx"],
            "resume": ["train", "-d", tiny_run[1], "-o", run, "--max-epochs", 2]}[command]
    code, _, err = cli(capsys, *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and ".ckpt" in lines[0] and "refused: loading it would run code (posix.system)" in lines[0]
    assert not marker.exists()
    assert not (tmp_path / "g.h5").exists() and not (tmp_path / "m.onnx").exists()


def test_a_truncated_checkpoint_is_one_input_error(tiny_run, tmp_path):
    from hepgen.training.run import load_checkpoint

    bad = tmp_path / "last.ckpt"
    bad.write_bytes((tiny_run[0] / "checkpoints" / "last.ckpt").read_bytes()[:300])
    with pytest.raises(InputError, match="last.ckpt: not a readable checkpoint"):
        load_checkpoint(bad)


def test_resume_loads_lightning_checkpoints_with_weights_only(tiny_run, tmp_path, monkeypatch):
    import shutil

    import torch

    from hepgen.training import train

    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    train(None, tiny_run[1], run, max_epochs=2)
    assert seen and all(w is True for w in seen)
    assert int(torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"]) == 2


# --- an output never replaces an input ----------------------------------------------------------

def test_outputs_that_are_inputs_are_refused(tiny_run, tmp_path, capsys):
    run, data = tiny_run
    like = tmp_path / "like.h5"
    write_showers(like, random_showers("belle2-ecl-5x5", 10, seed=8))
    (tmp_path / "alias.h5").symlink_to(like)
    before = digest(like)
    cases = [["generate", run, "-n", 5, "-e", f"like:{like}", "-o", like, "--overwrite"],
             ["generate", run, "-n", 5, "-e", f"like:{like}", "-o", tmp_path / "alias.h5", "--overwrite"],
             ["generate", run, "-n", 5, "-e", "1GeV", "-o", run / "preprocessing.json", "--overwrite"],
             ["evaluate", like, data, "-o", like, "--no-classifier", "--no-figures", "--overwrite"],
             ["train", "-d", like, "-o", like, "-m", "wgan"]]
    for args in cases:
        code, _, err = cli(capsys, *args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (args, err)
        assert "is the input file" in lines[0] and "would destroy the input" in lines[0], (args, err)
    assert digest(like) == before
    geo = tmp_path / "geo.yaml"
    geo.write_text("name: g\n")
    code, _, err = cli(capsys, *SIM[:2], geo, *SIM[3:], "-o", geo, "--overwrite", "--seed", 1)
    assert code == 2 and "is the input file" in err and geo.read_text() == "name: g\n"


# --- training -----------------------------------------------------------------------------------

def test_nan_in_the_first_epoch_does_not_claim_a_kept_checkpoint(tmp_path, monkeypatch):
    import torch

    from hepgen.models.wgan import WGAN
    from hepgen.progress import set_quiet
    from hepgen.training import TrainingDiverged, train
    from hepgen.training.run import RunDir

    set_quiet(True)
    real = WGAN.training_step

    def nan_step(self, *args, **kwargs):
        losses = real(self, *args, **kwargs)
        return {k: torch.tensor(float("nan")) for k in losses}

    monkeypatch.setattr(WGAN, "training_step", nan_step)
    s = random_showers("belle2-ecl-5x5", 40, seed=1)
    with pytest.raises(TrainingDiverged) as e:
        train("wgan", s, tmp_path / "run", TINY, max_epochs=2)
    msg = str(e.value)
    assert "at epoch 0, batch 0" in msg and "no checkpoint had been written yet" in msg
    assert "last good checkpoint" not in msg
    assert not RunDir(tmp_path / "run").checkpoint.exists()
    assert RunDir(tmp_path / "run").state()["status"] == "diverged"


def test_training_data_with_an_absurd_deposit_is_refused(tmp_path, capsys):
    s = random_showers("belle2-ecl-5x5", 40, seed=1)
    write_showers(tmp_path / "train.h5", s)
    with h5py.File(tmp_path / "train.h5", "a") as h5:
        h5["showers"][17, 12] = 1e30
    code, _, err = cli(capsys, "train", "-d", tmp_path / "train.h5", "-o", tmp_path / "run", "-m", "wgan",
                       "--max-epochs", 1)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "train.h5: dataset 'showers': index 17: " in lines[0] and "1e+30 MeV" in lines[0]
    assert not (tmp_path / "run").exists()


def test_list_models_needs_no_data_or_output(capsys):
    code, out, err = cli(capsys, "train", "--list-models")
    assert code == 0 and "wgan" in out.split() and "bibae" in out.split(), err
    code, _, err = cli(capsys, "train", "-o", "somewhere")
    assert code == 2 and "--data" in err


# --- errors name their file ---------------------------------------------------------------------

def test_label_errors_name_the_file(tiny_run, tmp_path, capsys):
    s = random_showers("belle2-ecl-5x5", 60, seed=1)
    write_showers(tmp_path / "like.h5", s)
    with h5py.File(tmp_path / "like.h5", "a") as h5:
        h5["labels/theta"] = np.ones(55)
    code, _, err = cli(capsys, "generate", tiny_run[0], "-n", 60, "-e", f"like:{tmp_path / 'like.h5'}",
                       "-o", tmp_path / "g.h5")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "like.h5" in lines[0] and "labels/theta" in lines[0] and "(55,) for 60 showers" in lines[0]
    code, _, err = cli(capsys, "train", "-d", tmp_path / "like.h5", "-o", tmp_path / "run", "-m", "wgan")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "like.h5" in lines[0] and "(55,) for 60 showers" in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["like.h5"]


def test_report_figures_replace_a_planted_link_instead_of_writing_through_it(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hepgen.report.figures import _save_png

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "fig.png").symlink_to(victim)
    fig = plt.figure()
    _save_png(fig, tmp_path / "fig.png", dpi=20)
    plt.close(fig)
    assert victim.read_text() == "precious"
    assert not (tmp_path / "fig.png").is_symlink() and (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "victim.txt"]


# --- a real kill: SIGKILL once the partial file exists, then the same command again --------------

def test_simulate_killed_after_its_partial_exists_resumes_bit_exact(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    args = ["-q", "simulate", "-d", "calochallenge-2", "-e", "log-uniform:1GeV:100GeV", "-n", "600",
            "--chunk-size", "64", "--seed", "5", "-o", str(tmp_path / "out.h5")]
    proc = subprocess.Popen([sys.executable, "-m", "hepgen", *args], stderr=subprocess.DEVNULL)
    part = tmp_path / "out.partial.h5"
    while proc.poll() is None and not part.exists():
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)  # whatever it was doing (no timing assumed: it may even have finished)
    proc.wait()
    r = subprocess.run([sys.executable, "-m", "hepgen", *args], check=False, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    stream.simulate_to_file(tmp_path / "ref.h5", "calochallenge-2", "log-uniform:1GeV:100GeV", 600, seed=5,
                            quiet=True)
    assert same_data(tmp_path / "ref.h5", tmp_path / "out.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "ref.h5"]


def test_run_logs_are_not_appended_through_a_planted_link(tmp_path):
    from hepgen.training.run import RunDir

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = RunDir(tmp_path / "run")
    run.create()
    run.metrics.symlink_to(victim)
    with pytest.raises(InputError, match="metrics.jsonl: is a symbolic link"):
        run.log({"epoch": 0})
    assert victim.read_text() == "precious"


def _interrupt_second_sample(monkeypatch, gen_module):
    """Make the generator's second ``sample`` call raise KeyboardInterrupt; returns the real method."""
    real, calls = gen_module.Generator.sample, {"n": 0}

    def dies_second_time(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(gen_module.Generator, "sample", dies_second_time)
    return real


def test_generate_starts_over_an_unreadable_partial_and_a_killed_shard_continues(tiny_run, tmp_path, capsys,
                                                                                  monkeypatch):
    import importlib

    from hepgen.data.shards import Shard

    gen_module = importlib.import_module("hepgen.training.generate")

    run = tiny_run[0]
    args = ["generate", run, "-n", 40, "-e", "uniform:1GeV:5GeV", "--batch-size", 16, "--seed", 3]
    assert cli(capsys, *args, "-o", tmp_path / "ref.h5")[0] == 0
    (tmp_path / "out.partial.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(88))  # 96 bytes, header cut
    code, _, err = cli(capsys, *args, "-o", tmp_path / "out.h5")
    assert code == 0 and "out.partial.h5" in err and "starting over" in err
    assert same_data(tmp_path / "ref.h5", tmp_path / "out.h5")
    code, _, err = cli(capsys, *args[:-1], 4, "-o", tmp_path / "ref.h5")  # other seed over a finished file
    assert code == 2 and "exists" in err
    # a shard task killed after its first chunk continues its partial shard
    shard, e = Shard(index=0, n=40, seed=7, file="shard-00000.h5"), np.linspace(1e3, 5e3, 40)
    task = {"run_dir": str(run), "incident_energy": e, "labels": {}, "batch_size": 16, "compression": "gzip",
            "backend": "torch"}
    gen_module._write_shard(shard, tmp_path / "clean.h5", **task)
    real = _interrupt_second_sample(monkeypatch, gen_module)
    with pytest.raises(KeyboardInterrupt):
        gen_module._write_shard(shard, tmp_path / "shard.h5", **task)
    assert (tmp_path / "shard.partial.h5").exists()
    monkeypatch.setattr(gen_module.Generator, "sample", real)
    gen_module._write_shard(shard, tmp_path / "shard.h5", **task)
    assert same_data(tmp_path / "clean.h5", tmp_path / "shard.h5")


def test_generate_resume_with_other_weights_is_refused(tiny_run, tmp_path, capsys, monkeypatch):
    import importlib
    import shutil

    gen_module = importlib.import_module("hepgen.training.generate")
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    args = ["generate", run, "-n", 40, "-e", "uniform:1GeV:5GeV", "--batch-size", 16, "-o", tmp_path / "g.h5"]
    real = _interrupt_second_sample(monkeypatch, gen_module)
    assert cli(capsys, *args)[0] == 130  # interrupted after its first chunk
    monkeypatch.setattr(gen_module.Generator, "sample", real)
    part = tmp_path / "g.partial.h5"
    before = digest(part)
    from hepgen.training import train

    train(None, tiny_run[1], run, max_epochs=2)  # the run trains on: other weights
    (run / "checkpoints" / "best.ckpt").unlink(missing_ok=True)
    code, _, err = cli(capsys, *args)
    assert code == 2 and "g.partial.h5" in err and "generator_weights" in err and "--overwrite" in err
    assert digest(part) == before


def test_a_partial_file_in_use_by_a_running_job_is_not_started_over(tmp_path):
    import subprocess
    import sys

    s = random_showers("belle2-ecl-5x5", 20, seed=5)
    w = ShowerWriter(tmp_path / "sim.h5", s.geometry, resume=True, metadata={"seed": 1})
    w.append(s[:10])  # still open (locked) by this "job"
    code = ("from hepgen.data import ShowerWriter\n"
            f"ShowerWriter({str(tmp_path / 'sim.h5')!r}, 'belle2-ecl-5x5', resume=True, metadata={{'seed': 1}})")
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "in use by another running job" in r.stderr
    w.append(s[10:])
    w.close()
    assert np.array_equal(read_showers(tmp_path / "sim.h5").energy, s.energy)
