"""Signed conditioning labels (impact positions, angles): linear standardisation declared per label, positive
labels unchanged; the declaration in the file and in the config."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepgen.data import ShowerData, read_showers, write_showers
from hepgen.errors import InputError
from hepgen.training.kinds import ShowerKind, label_specs
from hepgen.training.preprocessing import Pipeline


def _sample(n: int = 40, seed: int = 0) -> ShowerData:
    rng = np.random.default_rng(seed)
    e = rng.uniform(500.0, 2500.0, n)
    return ShowerData(e, rng.random((n, 25)) * e[:, None] / 25, "belle2-ecl-5x5",
                      {"impact_x_mm": rng.uniform(-30, 30, n), "impact_y_mm": rng.uniform(-30, 30, n),
                       "visible_energy": 0.9 * e})


def test_positive_labels_keep_todays_state_and_values():
    s = _sample()
    kind = ShowerKind.fit(s, [], ["visible_energy"])
    state = kind.cond.state()[0]
    assert set(state) == {"name", "mean", "std"}          # no 'log' entry: exactly today's state
    raw = np.column_stack([s.incident_energy, s.labels["visible_energy"]])
    today = Pipeline([{"name": "log_standardize"}]).fit(raw, None).forward(raw, None)
    assert np.array_equal(kind.encode_cond(s.incident_energy, s.labels), today.astype(np.float32))
    assert kind.label_scales == {"visible_energy": "log"}


def test_signed_labels_are_standardised_linearly_numpy_torch_and_saved():
    s = _sample()
    kind = ShowerKind.fit(s, [], ["impact_x_mm", "visible_energy", "impact_y_mm"])
    assert kind.label_scales == {"impact_x_mm": "linear", "visible_energy": "log", "impact_y_mm": "linear"}
    cond = kind.encode_cond(s.incident_energy, s.labels)
    assert np.allclose(cond.mean(0), 0, atol=1e-5) and np.allclose(cond.std(0), 1, atol=1e-4)
    x = s.labels["impact_x_mm"]
    assert np.allclose(cond[:, 1], (x - x.mean()) / x.std(), atol=1e-5)                  # linear, not log
    back = kind.labels_of_conditions(cond.astype(np.float64))
    assert np.allclose(back["impact_y_mm"], s.labels["impact_y_mm"], atol=1e-3)
    restored = ShowerKind.from_state(json.loads(json.dumps(kind.state())))
    raw = torch.as_tensor(restored.raw_cond(s.incident_energy, s.labels))
    assert np.allclose(restored.cond.forward(raw, None).numpy(), cond, atol=1e-5)
    assert np.allclose(restored.cond.inverse(restored.cond.forward(raw, None), None).numpy(), raw.numpy())


def test_declarations_in_config_and_file_and_errors(tmp_path):
    assert label_specs(["a:linear", {"b": "log"}, "c"]) == (["a", "b", "c"], {"a": "linear", "b": "log"})
    with pytest.raises(InputError, match="label 'a': scale 'sqrt'"):
        label_specs(["a:sqrt"])
    s = _sample()
    s.labels["impact_x_mm"] = np.abs(s.labels["impact_x_mm"]) + 1.0      # positive: log unless declared
    assert ShowerKind.fit(s, [], ["impact_x_mm"]).label_scales == {"impact_x_mm": "log"}
    assert ShowerKind.fit(s, [], ["impact_x_mm:linear"]).label_scales == {"impact_x_mm": "linear"}
    s.label_scales["impact_x_mm"] = "linear"                             # declared by the data (file)
    path = tmp_path / "s.h5"
    write_showers(path, s)
    r = read_showers(path)
    assert r.label_scales == {"impact_x_mm": "linear"}
    assert ShowerKind.fit(r, [], ["impact_x_mm"]).label_scales == {"impact_x_mm": "linear"}
    assert r[:3].label_scales == {"impact_x_mm": "linear"}
    # a log label given a non-positive value at generation: one line naming it
    kind = ShowerKind.fit(s, [], ["visible_energy"])
    with pytest.raises(InputError, match="conditioning label 'visible_energy' is log-standardised and must be > 0"):
        kind.encode_cond(np.array([1e3]), {"visible_energy": np.array([-1.0])})
    with pytest.raises(InputError, match="incident energies and conditioning labels must be > 0"):
        kind.encode_cond(np.array([-1e3]), {"visible_energy": np.array([1.0])})
    import h5py

    with h5py.File(path, "a") as h5:
        h5["labels/impact_x_mm"].attrs["scale"] = "cubic"
    with pytest.raises(InputError, match="labels/impact_x_mm.*scale = 'cubic'|scale = 'cubic'.*labels/impact_x_mm"):
        read_showers(path)


def test_a_model_trains_and_generates_conditioned_on_signed_labels(tmp_path):
    from hepgen.progress import set_quiet
    from hepgen.training import load_generator, train
    from conftest import TINY_PARAMS

    set_quiet(True)
    torch.set_num_threads(1)
    s = _sample(64)
    cfg = {"labels": ["impact_x_mm", "impact_y_mm"], "params": TINY_PARAMS["wgan"],
           "training": {"batch_size": 16, "val_max": 8}}
    run = train("wgan", s, tmp_path / "run", cfg, max_epochs=1, seed=0)
    gen = load_generator(run)
    out = gen.sample(np.full(4, 1e3), labels={"impact_x_mm": np.array([-20.0, 0.0, 5.0, 20.0]),
                                              "impact_y_mm": np.zeros(4)}, seed=1)
    assert out.energy.shape == (4, 25) and np.all(np.isfinite(out.energy))
    assert gen.kind.label_scales == {"impact_x_mm": "linear", "impact_y_mm": "linear"}
