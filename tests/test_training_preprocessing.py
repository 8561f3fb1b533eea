"""Invertible saved transforms and the config schema."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepgen.errors import InputError
from hepgen.training.config import resolve_config
from hepgen.training.preprocessing import Pipeline


SPECS = [
    [{"name": "divide_by_incident"}],
    [{"name": "divide_by_incident"}, {"name": "log", "eps": 1e-4}, {"name": "standardize"}],
    [{"name": "divide_by_incident"}, {"name": "logit", "alpha": 1e-6}],
    [{"name": "log_standardize"}],
]


@pytest.mark.parametrize("spec", SPECS)
def test_round_trip_numpy_torch_and_saved_state(spec):
    rng = np.random.default_rng(0)
    e = rng.uniform(1e3, 1e5, 50)
    x = rng.exponential(1.0, (50, 12)) * e[:, None] / 100 + 1e-3
    p = Pipeline(spec).fit(x, e)
    y = p.forward(x, e)
    assert np.allclose(p.inverse(y, e), x, rtol=1e-6, atol=1e-8)
    q = Pipeline.from_state(json.loads(json.dumps(p.state())))
    yt = q.forward(torch.as_tensor(x), torch.as_tensor(e))
    assert np.allclose(yt.numpy(), y)
    assert np.allclose(q.inverse(yt, torch.as_tensor(e)).numpy(), x, rtol=1e-6, atol=1e-8)


def test_fitted_values_are_the_physics_ones():
    e = np.array([100.0, 200.0])
    x = np.array([[50.0, 0.0], [20.0, 60.0]])
    p = Pipeline([{"name": "divide_by_incident"}]).fit(x, e)
    assert p.state()[0]["factor"] == pytest.approx(2.0)          # 1 / max(x / E) = 1 / 0.5
    assert p.forward(x, e).max() == pytest.approx(1.0)
    s = Pipeline([{"name": "log_standardize"}]).fit(e[:, None], None)
    assert s.state()[0]["mean"][0] == pytest.approx(np.log(100.0 * 200.0) / 2)


def test_unknown_transform_is_input_error():
    with pytest.raises(InputError, match="preprocessing step 1: unknown transform 'sqrt'"):
        Pipeline([{"name": "log"}, {"name": "sqrt"}])


def test_config_defaults_overrides_and_errors(tmp_path):
    cfg = resolve_config("bibae", {"params": {"beta_kld": 0.01}, "training": {"max_epochs": 3}})
    assert cfg["params"]["beta_kld"] == 0.01 and cfg["params"]["beta_latent_mmd"] == 100.0
    assert cfg["training"]["max_epochs"] == 3 and cfg["training"]["batch_size"] == 64
    assert cfg["preprocessing"] == [{"name": "divide_by_incident"}]
    path = tmp_path / "c.yaml"
    path.write_text("model: wgan\ntraining:\n  batch_size: 8\n")
    assert resolve_config(None, path)["training"]["batch_size"] == 8
    with pytest.raises(InputError, match="config is for model 'wgan' but 'bibae'"):
        resolve_config("bibae", path)
    with pytest.raises(InputError, match="unknown section 'optimiser'"):
        resolve_config("wgan", {"optimiser": {}})
    with pytest.raises(InputError, match="training: unknown key 'epochs'"):
        resolve_config("wgan", {"training": {"epochs": 3}})
    path.write_text("model: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        resolve_config(None, path)
