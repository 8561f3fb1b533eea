"""The jet benchmark under a budget (benchmarks/bench_jetmodels.py): the JetNet30 cut, the model list, one tiny
run end to end in the Table 5.5 layout, and that a second invocation resumes instead of training again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_jetmodels  # noqa: E402

from hepgen.data import JetData, read_jets, write_jets  # noqa: E402


def toy_jets(n: int, n_max: int, seed: int) -> JetData:
    """Jets of 3-8 particles with pt_rel falling with the slot but shuffled, so that the cut must sort."""
    rng = np.random.default_rng(seed)
    p = np.zeros((n, n_max, 4), np.float32)
    for i in range(n):
        k = int(rng.integers(3, 9))
        pt = np.sort(rng.exponential(1.0, k))[::-1] + 0.01
        slots = rng.permutation(n_max)[:k]
        p[i, slots, 0] = rng.normal(0, 0.1, k)
        p[i, slots, 1] = rng.normal(0, 0.1, k)
        p[i, slots, 2] = pt / pt.sum()
        p[i, slots, 3] = 1
    return JetData(p, jet_type="t")


def test_layout_keeps_the_hardest_particles(tmp_path):
    jets = toy_jets(20, 12, 0)
    write_jets(tmp_path / "j150.h5", jets)
    cut = read_jets(bench_jetmodels.layout(tmp_path / "j150.h5", tmp_path / "j4.h5", 4))
    assert cut.particles.shape == (20, 4, 4)
    for full, kept in zip(jets.particles, cut.particles):
        want = np.sort(full[full[:, 3] > 0, 2])[::-1][:4]
        assert np.allclose(kept[kept[:, 3] > 0, 2], want)
        assert np.all(np.diff(kept[:, 2]) <= 0)  # hardest first, padding last
    assert bench_jetmodels.layout(tmp_path / "j150.h5", tmp_path / "x.h5", 150) == tmp_path / "j150.h5"


def test_every_registered_jet_model_is_in_all():
    names = bench_jetmodels.jet_models()
    models = {n.partition("@")[0] for n in names}
    assert {"mdma-gan", "mdma-flow", "epic-gan", "epic-fm", "jet-flow", "jet-maf", "tgan", "tnf"} <= models
    assert "jet-flow@nf-cc" in names and "mdma-flow@cpu" in names and "tnf@cpu" in names and "wgan" not in names
    # the cpu preset trains fewer prior epochs than the thesis, so a CPU budget reaches the GAN stage
    from hepgen.models import get_model_class

    tnf = get_model_class("tnf")
    assert tnf.config_presets["cpu"]["params"]["prior_epochs"] < tnf.default_config["prior_epochs"]


def test_tiny_run_resumes_and_writes_the_table(tmp_path, capsys):
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    # the Pythia files are made once; a test puts small stand-ins where the benchmark looks for them
    write_jets(work / "data" / "t150-train-n300-seed1.h5", toy_jets(300, 12, 1))
    write_jets(work / "data" / "t150-test-n80-seed2.h5", toy_jets(80, 12, 2))
    argv = ["--workdir", str(work), "--n-max", "30", "--models", "jet-maf", "--budget", "4s", "--threads", "1",
            "--n-train", "300", "--n-test", "80"]
    bench_jetmodels.main(argv)
    record = json.loads((work / "t30" / "jet-maf" / "record.json").read_text())
    assert record["training"]["status"] == "finished" and len(record["sessions"]) == 1
    assert record["us_per_jet"] > 0 and record["parameters"] > 0
    generated = read_jets(work / "t30" / "jet-maf" / "generated.h5")
    assert len(generated) == 40 and generated.particles.shape[1] == 12  # one test half; the 12 slots fit in 30
    assert {"W1M", "W1P", "W1EFP", "KPD", "FPD"} <= set(record["metrics"])
    table = (work / "t30" / "jets.md").read_text().splitlines()
    assert table[2].startswith("| Model | W1M ×10³ | W1P ×10³ | W1P η ×10³")
    rows = [line.split(" | ")[0] for line in table[4:]]
    assert rows == ["| jet-maf", "| IN"]
    # the same command again: nothing is trained or generated twice
    mtime = (work / "t30" / "jet-maf" / "generated.h5").stat().st_mtime_ns
    bench_jetmodels.main(argv)
    again = json.loads((work / "t30" / "jet-maf" / "record.json").read_text())
    assert len(again["sessions"]) == 1 and again["metrics"] == record["metrics"]
    assert (work / "t30" / "jet-maf" / "generated.h5").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("args, message", [
    (["--models", "mdma-gan@no-such"], "'no-such' of model 'mdma-gan' is neither a config file nor one of its presets"),
    (["--models", "wgan"], "model 'wgan' does not generate jets"),
    (["--models", "no-such-model"], "unknown model 'no-such-model'"),
    (["--budget=-5m"], "--budget must be a positive duration"),
])
def test_bad_arguments_are_one_line_and_exit_code_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        bench_jetmodels.main(["--workdir", str(tmp_path / "w"), "--n-train", "10", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "w").exists()          # refused before anything is made


def test_a_broken_jet_file_is_one_line_and_exit_code_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t150-train-n10-seed1.h5").write_bytes(b"not hdf5")
    (tmp_path / "data" / "t150-test-n10-seed2.h5").write_bytes(b"not hdf5")
    monkeypatch.setattr(sys, "argv", ["bench_jetmodels.py", "--workdir", str(tmp_path), "--models", "",
                                      "--n-train", "10", "--n-test", "10"])
    with pytest.raises(SystemExit) as exc:
        bench_jetmodels.run_script(bench_jetmodels.main)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "t150-train-n10-seed1.h5" in err and len(err.splitlines()) == 1


def test_doctests_of_the_benchmark():
    import doctest

    assert doctest.testmod(bench_jetmodels).failed == 0
