"""Conditional point-cloud models: data-kind round trip, tiny train -> generate -> evaluate, fine-tuning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepgen.data import ShowerData, read_showers
from hepgen.data.validate import LENIENT
from hepgen.errors import InputError
from hepgen.training.kinds import PointKind, kind_from_state
from conftest import TINY_PARAMS

TINY = {"params": TINY_PARAMS["mdma-calo-gan"], "training": {"batch_size": 8, "val_fraction": 0.2}}


@pytest.fixture(scope="module")
def showers() -> ShowerData:
    from hepgen.simulate import simulate_showers

    rng = np.random.default_rng(0)
    return simulate_showers("calochallenge-2", np.exp(rng.uniform(np.log(1e3), np.log(4e3), 40)), "electron", seed=3)


def test_adapter_round_trip_and_state(showers):
    a = PointKind.fit(showers, [{"name": "hits", "rotate_alpha": False}])
    arrays = a.encode(showers)
    assert arrays["x"].shape == (40, a.n_max, 5)
    assert np.array_equal(arrays["x"][..., 4].sum(1), showers.n_hits())
    back = kind_from_state(json.loads(json.dumps(a.state())))
    np.testing.assert_allclose(back.decode(arrays["x"], back.conditions_of(showers)).energy, showers.energy, rtol=1e-4)
    n = a.sample_n_hits(np.full(500, 2e3), np.random.default_rng(0))
    assert abs(n.mean() - showers.n_hits().mean()) < 0.5 * showers.n_hits().std() + 20


def test_adapter_rejects_empty_showers_and_other_labels(showers):
    bad = ShowerData(showers.incident_energy[:2], np.zeros((2, 6480)), "calochallenge-2")
    with pytest.raises(InputError, match="no hit"):
        PointKind.fit(bad, [])
    with pytest.raises(InputError, match="unknown hits option"):
        PointKind.fit(showers, [{"name": "hits", "wrong": 1}])


@pytest.mark.parametrize("model", ["mdma-calo-gan", "mdma-calo-flow"])
def test_tiny_train_generate_evaluate(model, showers, tmp_path):
    from hepgen.evaluate import evaluate_samples, quick_metrics
    from hepgen.progress import set_quiet
    from hepgen.training import generate, train
    from hepgen.data import write_showers

    set_quiet(True)
    write_showers(tmp_path / "ref.h5", showers)
    run = train(model, tmp_path / "ref.h5", tmp_path / "run", TINY, max_epochs=1, validation=quick_metrics)
    log = [json.loads(line) for line in open(run / "logs" / "metrics.jsonl")]
    assert "sep_E_vis/E_inc" in log[-1]
    out = generate(run, 12, f"like:{tmp_path / 'ref.h5'}", tmp_path / "gen.h5")
    gen = read_showers(out, policy=LENIENT)   # CaloChallenge layout on disk; an untrained model may be implausible
    assert gen.energy.shape == (12, 6480) and np.all(gen.energy >= 0)
    np.testing.assert_allclose(gen.incident_energy, showers.incident_energy[:12])
    # hit shifting: about one hit voxel per generated hit (the count drawn by the n_hits model); only hits
    # with no free cell within 2 steps are merged (an untrained model crowds its hits)
    n_gen, n_asked = gen.n_hits(), gen.labels["n_hits"]
    assert np.all(n_gen <= n_asked) and np.all(n_gen >= 0.95 * n_asked)
    result = evaluate_samples(showers[:12], gen, classifier=False)
    assert "E_vis/E_inc" in json.dumps(result)


def test_fine_tune_from_another_geometry(showers, tmp_path):
    from hepgen.progress import set_quiet
    from hepgen.simulate import simulate_showers
    from hepgen.training import train
    from hepgen.training.run import load_run_model

    set_quiet(True)
    src = train("mdma-calo-gan", showers, tmp_path / "ds2", TINY, max_epochs=1)
    ds3 = simulate_showers("calochallenge-3", np.full(10, 1.5e3), "electron", seed=4)
    dst = train(None, ds3, tmp_path / "ds3", max_epochs=1, init_from=src, lr=0.0)
    m2, _, _ = load_run_model(src)
    m3, a3, cfg3 = load_run_model(dst)
    assert cfg3["params"]["lr"] == 0.0 and cfg3["params"]["l_dim"] == 8 and a3.geometry.name == "calochallenge-3"
    for (k, v2), v3 in zip(m2.state_dict().items(), m3.state_dict().values()):
        if k != "generator_steps":
            assert torch.equal(v2, v3), k          # lr 0: the ds2 weights came over unchanged
    with pytest.raises(InputError, match="do not fit"):
        train("wgan", showers, tmp_path / "bad", {"params": {"width": 4, "noise_dim": 4}}, max_epochs=1,
              init_from=src)
