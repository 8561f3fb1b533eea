"""ONNX export agreement, the onnxruntime backend and sharded generation from tiny trained runs."""

from __future__ import annotations

import numpy as np
import pytest

from hepgen.data import read_showers
from hepgen.errors import InputError
from hepgen.progress import set_quiet
from hepgen.training import train
from hepgen.training.generate import generate, load_generator
from hepgen.training.onnx import TOLERANCE, export_onnx, max_relative_deviation

GEOMETRY = "belle2-ecl-10x10"
TINY = {
    "wgan": {"params": {"width": 8, "noise_dim": 4, "constrainer_steps": 2}, "training": {"batch_size": 16}},
    "bibae": {"params": {"width": 8, "latent_dim": 2, "noise_dim": 4, "pp_start_epoch": 0, "kde": True,
                         "pp_top_n": 20, "pp_window": 10, "pp_stride": 5}, "training": {"batch_size": 16}},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import torch

    from conftest import random_showers

    torch.set_num_threads(1)
    set_quiet(True)
    folder = tmp_path_factory.mktemp("runs")
    showers = random_showers(GEOMETRY, 64, seed=3)
    return {m: train(m, showers, folder / m, cfg, max_epochs=1, seed=1) for m, cfg in TINY.items()}


@pytest.mark.parametrize("model", sorted(TINY))
def test_export_agrees_with_torch_and_has_dynamic_batch(runs, tmp_path, model):
    import onnxruntime as ort

    report = export_onnx(runs[model], tmp_path / "m.onnx", n_check=32)
    assert report.passed and report.max_relative_deviation <= TOLERANCE
    assert "max relative deviation" in report.summary() and "PASS" in report.summary()
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    names = [i.name for i in sess.get_inputs()]
    assert names[0] == "conditions" and sess.get_outputs()[0].name == "energy"
    assert all(i.shape[0] == "n" for i in sess.get_inputs())  # dynamic batch
    for n in (1, 7):
        feeds = {i.name: np.ones((n, i.shape[1]), np.float32) for i in sess.get_inputs()}
        feeds["conditions"] = np.full((n, 1), 2e4, np.float32)
        out = sess.run(None, feeds)[0]
        assert out.shape == (n, 100) and np.all(out >= 0)
    with pytest.raises(InputError, match="exists"):
        export_onnx(runs[model], tmp_path / "m.onnx")


@pytest.mark.parametrize("model", sorted(TINY))
def test_onnxruntime_backend_gives_the_torch_showers(runs, model):
    e = np.geomspace(1e3, 1e6, 50)
    a = load_generator(runs[model], "torch").sample(e, batch_size=20, seed=5)
    b = load_generator(runs[model], "onnxruntime").sample(e, batch_size=20, seed=5)
    assert a.energy.shape == b.energy.shape == (50, 100)
    assert np.array_equal(a.incident_energy, b.incident_energy)
    assert max_relative_deviation(b.energy, a.energy) <= TOLERANCE
    assert a.energy.sum() > 0
    c = load_generator(runs[model], "torch").sample(e, batch_size=20, seed=6)
    assert max_relative_deviation(c.energy, a.energy) > 1e-3  # the seed matters: the check can fail


def test_max_relative_deviation_scale():
    assert max_relative_deviation(np.array([0.0, 10.0]), np.array([0.001, 10.0])) == pytest.approx(1e-4)
    with pytest.raises(InputError, match="unknown backend"):
        load_generator("x", "tensorrt")


def test_generate_two_workers_writes_disjoint_shards_that_merge(runs, tmp_path):
    from hepgen.data.shards import ShardManifest, merge_shards

    out = generate(runs["wgan"], 30, "log-uniform:1GeV:100GeV", tmp_path / "shards", seed=2, batch_size=8,
                   compression="lzf", workers=2, shard_size=10)
    m = ShardManifest.load(out)
    assert [s.n for s in m.shards] == [10, 10, 10] and len({s.seed for s in m.shards}) == 3
    assert merge_shards(out, tmp_path / "all.h5") == 30
    merged = read_showers(tmp_path / "all.h5")
    from hepgen.training.generate import incident_energies

    assert np.allclose(merged.incident_energy, incident_energies("log-uniform:1GeV:100GeV", 30, 2)[0])
    first = [read_showers(m.path_of(s)).energy for s in m.shards]
    assert not np.allclose(first[0][:8], first[1][:8])  # disjoint seeds, no duplicated showers
    # a lost shard is redone by a re-run (engine serial here; the Dask kill test is in test_sharded)
    m.path_of(m.shards[1]).unlink()
    generate(runs["wgan"], 30, "log-uniform:1GeV:100GeV", tmp_path / "shards", seed=2, batch_size=8,
             compression="lzf", workers=2, shard_size=10, engine="serial")
    assert np.allclose(read_showers(m.path_of(m.shards[1])).energy, first[1])
    with pytest.raises(InputError, match="other settings"):
        generate(runs["wgan"], 31, "log-uniform:1GeV:100GeV", tmp_path / "shards", seed=2, workers=2, shard_size=10)
