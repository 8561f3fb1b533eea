"""Energy and impact-position regressors (Irakkathil Jabbar, PhD thesis, KIT 2022, §3.4.1-3.4.2): they learn
from a small GFlash belle2-ecl-5x5 sample, work as the generator's auxiliary loss, and `hepgen regress`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepgen.errors import InputError
from hepgen.models.objectives import regressor_feedback_loss
from hepgen.models.regressors import (fit_regressor, load_regressor, predict, regression_summary, save_regressor,
                                      targets_of)
from hepgen.simulate import simulate_showers
from hepgen.units import parse_energy

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def belle2_sample():
    """GFlash electrons, 0.5-2.5 GeV without 2 GeV, impact uniform over the central 6 cm crystal."""
    e = parse_energy("discrete:0.5GeV,1GeV,1.5GeV,2.5GeV").sample(1200, seed=0)
    s = simulate_showers("belle2-ecl-5x5", e, "electron", seed=5, impact="crystal")
    return s[:1000], s[1000:]


@pytest.mark.parametrize("arch, max_e_bias, max_p_bias_mm", [("compact", 0.05, 3.0), ("thesis", 0.08, 8.0)])
def test_regressors_beat_the_trivial_baseline(belle2_sample, arch, max_e_bias, max_p_bias_mm):
    train, test = belle2_sample
    energy = fit_regressor(train, ["incident_energy"], steps=300, batch_size=100, seed=0, arch=arch)
    position = fit_regressor(train, ["impact_x_mm", "impact_y_mm"], steps=300, batch_size=100, seed=0, arch=arch)
    r_e = regression_summary(predict(energy, test), targets_of(test, energy.targets), energy.targets,
                             test.incident_energy)
    r_p = regression_summary(predict(position, test), targets_of(test, position.targets), position.targets)
    e = r_e["all"]["incident_energy"]
    # tolerance: RMS error below 1/4 of the baseline (predicting the mean: 0.72 GeV RMS), resolution < 15% of E
    assert e["rms"] < 0.25 * e["baseline_rms"], e
    assert abs(e["relative_bias"]) < max_e_bias and e["relative_resolution"] < 0.15, e
    assert set(r_e["per_energy"]) == {"0.5 GeV", "1 GeV", "1.5 GeV", "2.5 GeV"}
    for axis in ("impact_x_mm", "impact_y_mm"):
        p = r_p["all"][axis]
        # baseline: the centre, 60 mm / sqrt(12) = 17.3 mm RMS; the regressor is required below 60% of that
        assert p["rms"] < 0.6 * p["baseline_rms"] and abs(p["bias"]) < max_p_bias_mm, (axis, p)


def test_feedback_loss_pushes_the_generator_and_regressor_round_trip(belle2_sample, tmp_path):
    train, _ = belle2_sample
    reg = fit_regressor(train[:200], ["incident_energy"], steps=5, batch_size=50, seed=0, arch="compact")
    path = tmp_path / "r.pt"
    save_regressor(path, reg)
    back = load_regressor(path)
    x = torch.as_tensor(train.energy[:8])
    assert torch.allclose(back(x), reg(x)) and back.arch == "compact"
    fake = (x * 0.5).requires_grad_(True)
    target = torch.as_tensor(train.incident_energy[:8], dtype=torch.float32)
    loss = regressor_feedback_loss(reg.standardised, None, x, fake,
                                   energy=(target - reg.target_mean) / reg.target_std, kappa_e=0.0425)
    loss.backward()
    assert float(loss.detach()) > 0 and fake.grad is not None and float(fake.grad.abs().sum()) > 0
    same = regressor_feedback_loss(reg.standardised, None, x, x, energy=target, kappa_e=1.0)
    assert float(same.detach()) == 0.0
    with pytest.raises(InputError, match="not a hepgen regressor"):
        (tmp_path / "bad.pt").write_text("x")
        load_regressor(tmp_path / "bad.pt")
    with pytest.raises(InputError, match="regression target 'impact_x_mm'.*--impact"):
        targets_of(simulate_showers("belle2-ecl-5x5", np.full(2, 1e3), seed=0), ["impact_x_mm"])


def test_cli_regress_trains_reports_and_calibrates(belle2_sample, tmp_path):
    from hepgen.cli import main
    from hepgen.data import read_showers, write_showers

    train, test = belle2_sample
    write_showers(tmp_path / "train.h5", train[:300])
    write_showers(tmp_path / "gen.h5", test[:50])
    out = tmp_path / "reg"
    with pytest.raises(SystemExit) as exc:
        main(["-q", "regress", str(tmp_path / "train.h5"), "-o", str(out), "--apply", str(tmp_path / "gen.h5"),
              "--steps", "20", "--batch-size", "50"])
    assert exc.value.code in (0, None)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"incident_energy", "impact_x_mm", "impact_y_mm"} <= set(metrics["applied"]["all"])
    cal = read_showers(out / "calibrated.h5")
    assert cal.labels["calibrated_energy"].shape == (50,) and "reconstructed_impact_y_mm" in cal.labels
    assert cal.label_scales["reconstructed_impact_x_mm"] == "linear"
    with pytest.raises(SystemExit) as exc:   # reuse the trained regressors
        main(["-q", "regress", "-o", str(tmp_path / "again"), "--regressors", str(out), "--apply",
              str(tmp_path / "gen.h5"), "--targets", "energy"])
    assert exc.value.code in (0, None)
    with pytest.raises(SystemExit) as exc:
        main(["-q", "regress", "-o", str(tmp_path / "x"), "--targets", "mass"])
    assert exc.value.code == 2
