"""The test-beam study (Diefenbacher 2022, Ch. 8): detector effects of the stand-in data, the BIB-AE's
visible-energy conditioning and rescaling (presets testbeam / testbeam-small), and the study end to end at tiny
sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from hepgen.data import ShowerData
from hepgen.errors import InputError
from hepgen.geometry import geometry_from_spec
from hepgen.progress import set_quiet
from hepgen.simulate.detector_effects import (DetectorEffects, apply_detector_effects, dead_cell_mask,
                                              noise_hit_probability, simulate_measured)
from hepgen.training import load_generator, train
from hepgen.training.config import resolve_config

set_quiet(True)
torch.set_num_threads(1)
MIP = 26.8
N_CELLS = 21312


def _flat(n: int, mip: float) -> ShowerData:
    return ShowerData(np.full(n, 4e4), np.full((n, N_CELLS), mip * MIP, np.float32), "calice-ahcal-2018")


# -- detector effects ------------------------------------------------------------------------------------------

def test_noise_sigma_and_dead_fraction_are_measurable_from_the_output():
    eff = DetectorEffects(noise_mip=0.1, dead_fraction=0.01)
    out = apply_detector_effects(_flat(60, 10.0), eff, seed=3)
    dead = (out.energy == 0).all(axis=0)
    assert dead.sum() == round(0.01 * N_CELLS) == 213
    assert np.array_equal(dead, dead_cell_mask("calice-ahcal-2018", 0.01, eff.dead_seed))
    live = out.energy[:, ~dead] / MIP
    assert live.std() == pytest.approx(0.1, rel=0.01)
    assert live.mean() == pytest.approx(10.0, abs=0.002)
    # the default: 0.06 MIP, 0.5 % (107 cells), the same map in every sample
    a = apply_detector_effects(_flat(20, 10.0), seed=1)
    b = apply_detector_effects(_flat(20, 10.0), seed=2)
    assert np.array_equal((a.energy == 0).all(0), (b.energy == 0).all(0))
    assert int((a.energy == 0).all(0).sum()) == 107
    assert (a.energy[:, ~(a.energy == 0).all(0)] / MIP).std() == pytest.approx(0.06, rel=0.02)
    assert not np.array_equal(a.energy, b.energy)        # the noise draws differ per seed


def test_noise_hits_in_empty_cells_and_the_threshold():
    eff = DetectorEffects()
    out = apply_detector_effects(_flat(40, 0.0), eff, seed=5)
    hits = out.energy > 0
    expected = noise_hit_probability(eff) * N_CELLS * 40 * (1 - eff.dead_fraction)       # about 363
    assert hits.sum() == pytest.approx(expected, rel=0.2)
    assert out.energy[hits].min() >= 0.2 * MIP and out.energy.max() < 0.6 * MIP
    # a cell just below the threshold is lifted above it by the noise almost half the time
    near = apply_detector_effects(_flat(20, 0.19), DetectorEffects(dead_fraction=0.0), seed=2)
    assert (near.energy > 0).mean() == pytest.approx(0.434, abs=0.01)     # P(z > 0.01 / 0.06) = 0.434
    no_noise = apply_detector_effects(_flat(2, 0.19), DetectorEffects(noise_mip=0.0, dead_fraction=0.0))
    assert not no_noise.energy.any()


def test_detector_effects_refuse_bad_settings():
    with pytest.raises(InputError, match="dead fraction"):
        DetectorEffects(dead_fraction=1.5)
    with pytest.raises(InputError, match="noise"):
        DetectorEffects(noise_mip=-0.1)
    toy = geometry_from_spec({"type": "cartesian", "name": "toy-tb", "nx": 2, "ny": 2, "nz": 2,
                              "cell_size_mm": [30, 30]})
    with pytest.raises(InputError, match="MIP value"):
        apply_detector_effects(ShowerData([1e3], np.ones((1, 8), np.float32), toy))


def test_simulated_measured_showers_carry_the_detector_effects():
    s = simulate_measured("calice-ahcal-2018", np.full(12, 8e4), seed=4)
    dead = dead_cell_mask("calice-ahcal-2018")
    assert s.geometry.name == "calice-ahcal-2018" and not s.energy[:, dead].any()
    hit = s.energy[s.energy > 0]
    assert hit.min() >= 0.2 * MIP
    again = simulate_measured("calice-ahcal-2018", np.full(12, 8e4), seed=4)
    assert np.array_equal(s.energy, again.energy)


# -- the test-beam BIB-AE ---------------------------------------------------------------------------------------

def test_testbeam_presets_follow_the_thesis():
    full = resolve_config("bibae", "testbeam")
    assert full["labels"] == ["visible_energy"]
    p = full["params"]
    assert p["pp_start_epoch"] == 82 and full["training"]["max_epochs"] == 82 + 19
    assert p["pp_mmd_alphas"] == pytest.approx([1 / MIP ** 2, 0.1 / MIP ** 2])    # 1 and 0.1 per MIP^2
    assert p["mip_cut_mev"] == pytest.approx(0.2 * MIP) and p["rescale_visible"]
    assert (p["lr"], p["lr_decay"], p["beta_kld"], p["reset_critic"], p["minibatch"], p["kde"]) == \
        (5e-5, 0.97, 0.01, True, True, True)
    small = resolve_config("bibae", "testbeam-small")
    assert small["labels"] == ["visible_energy"] and small["params"]["width"] == 16


def _mini_testbeam(n_per_energy: int, seed: int = 0) -> ShowerData:
    """Showers of a 5 x 5 x 6 grid at 40 and 80 GeV whose visible energy (MeV, cells >= 1) differs per energy."""
    geo = geometry_from_spec({"type": "cartesian", "name": "mini-tb", "nx": 5, "ny": 5, "nz": 6,
                              "cell_size_mm": [30, 30]})
    rng = np.random.default_rng(seed)
    e_inc = np.repeat([4e4, 8e4], n_per_energy)
    e_vis = e_inc * 0.7 * rng.normal(1.0, 0.05, len(e_inc))
    energy = rng.exponential(1.0, (len(e_inc), geo.n_voxels)) * (rng.random((len(e_inc), geo.n_voxels)) < 0.4)
    energy *= (e_vis / energy.sum(1))[:, None]
    energy[energy < 1.0] = 0.0
    return ShowerData(e_inc, energy.astype(np.float32), geo)


def test_generated_showers_sum_to_the_drawn_visible_energy(tmp_path):
    data = _mini_testbeam(48)
    cfg = resolve_config("bibae", "testbeam-small")
    cfg["params"].update(width=4, latent_dim=3, noise_dim=4, n_critic=2, pp_start_epoch=1, pp_width=8, pp_depth=2,
                         pp_top_n=30, pp_window=10, pp_stride=5, mip_cut_mev=1.0, train_cut_mev=1.0)
    cfg["training"].update(batch_size=16, val_fraction=0.0)
    run = train("bibae", data, tmp_path / "run", cfg, max_epochs=2)
    gen = load_generator(run, which="last")
    assert gen.labels == ["visible_energy"]
    out = gen.sample(np.repeat([4e4, 8e4], 40), seed=1)                # visible energies drawn by the model
    drawn = out.labels["visible_energy"]
    # cells below the cut (1 MeV) were dropped before the rescaling; the rest sums to the drawn E_vis
    assert np.allclose(out.energy.sum(1, dtype=np.float64), drawn, rtol=1e-5)
    assert drawn.min() > 0 and (out.energy > 0).sum(1).min() > 0
    # the draws follow the training distribution of E_vis given E_inc (KDE of latent, E_inc and E_vis)
    for e in (4e4, 8e4):
        train_vis = data.visible_energy[data.incident_energy == e]
        d = drawn[out.incident_energy == e]
        assert d.mean() == pytest.approx(train_vis.mean(), rel=0.05)
        assert train_vis.min() * 0.85 < d.min() and d.max() < train_vis.max() * 1.15
    # a requested visible energy is met exactly
    asked = gen.sample(np.full(5, 4e4), labels={"visible_energy": np.full(5, 25e3)}, seed=2)
    assert np.allclose(asked.energy.sum(1), 25e3, rtol=1e-5)


# -- the study ------------------------------------------------------------------------------------------------

def test_testbeam_study_end_to_end_at_tiny_sizes(tmp_path):
    from typer.testing import CliRunner

    from hepgen.cli import app

    cfg = resolve_config("bibae", "testbeam-small")
    cfg["params"].update(width=4, latent_dim=3, noise_dim=4, n_critic=2, pp_start_epoch=1, pp_width=8, pp_depth=2,
                         pp_top_n=100, pp_window=20, pp_stride=10, minibatch=False, reset_critic=False)
    cfg["training"].update(batch_size=16, val_fraction=0.0)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "study"
    args = ["testbeam-study", "-o", str(out), "--energies", "40,160", "--n-train", "16", "--n-test", "14",
            "--config", str(tmp_path / "tiny.yaml"), "--max-epochs", "2", "--timing-repeats", "2",
            "--timing-showers", "4"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    res = json.loads((out / "testbeam_study.json").read_text())
    assert set(res["per_energy"]) == {"40", "160"}
    e160 = res["per_energy"]["160"]
    assert set(e160["mu90"]) == {"data", "bibae", "hadronic-a", "hadronic-b"}
    # the stand-in data went through the detector effects: no hit below 0.2 MIP, dead cells empty
    from hepgen.data import read_showers

    data = read_showers(out / "data" / "data.h5")
    assert not data.energy[:, dead_cell_mask("calice-ahcal-2018")].any()
    assert data.energy[data.energy > 0].min() >= 0.2 * MIP - 1e-3
    # without detector effects, the dead cells fire
    plain = read_showers(out / "data" / "hadronic-a.h5")
    assert plain.energy[:, dead_cell_mask("calice-ahcal-2018")].any()
    # generated showers sum (cells >= 0.2 MIP) to their drawn visible energies, which follow the data's
    gen = read_showers(out / "generated.h5")
    assert np.allclose(gen.energy.sum(1, dtype=np.float64), gen.labels["visible_energy"], rtol=1e-5)
    t = res["timing"]["per_energy"]["160"]
    assert t["bibae"]["repeats"] == 2 and t["hadronic_reference"]["mean_ms"] > 0
    for name in ("testbeam_study.md", "testbeam_study.png", "testbeam_mu90.png", "testbeam_correlations.png",
                 "testbeam_profiles.png", "testbeam_cells_start_cog.png"):
        assert (out / name).stat().st_size > 0
    assert "| 160 | bibae |" in (out / "testbeam_study.md").read_text()
    # a rerun without --overwrite is refused before any work, with one line
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "exists" in str(again.exception)
