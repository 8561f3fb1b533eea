"""The OnlineFlow bump hunt (hepgen.studies.bumphunt): toy, background fit, BumpHunter scan, flow significance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepgen.errors import InputError
from hepgen.progress import set_quiet
from hepgen.studies.bumphunt import (BumpModel, bump_events, bump_scan, classical_bump_hunt, crossover_prescale,
                                     fit_background, flow_bump_hunt, mass_bins)

set_quiet(True)
torch.set_num_threads(1)
EDGES = mass_bins()


def test_toy_has_the_thesis_shape():
    x = bump_events(400_000, 0.05, seed=0)
    near = np.abs(x - 1.0) < 0.12
    expected_bkg = 0.95 * 400_000 * (np.exp(-0.88) - np.exp(-1.12))
    assert abs(near.sum() - expected_bkg - 0.05 * 400_000 * 0.997) < 5 * np.sqrt(near.sum())
    assert BumpModel() == BumpModel(1.0, 1.0, 0.04, 0.005)
    with pytest.raises(InputError, match="signal fraction"):
        bump_events(10, 1.5)


def test_fit_recovers_a_known_exponential_slope():
    for b in (0.5, 1.0, 2.0):
        x = bump_events(200_000, 0.0, seed=1, model=BumpModel(b=b))
        counts = np.histogram(x, EDGES)[0]
        assert abs(fit_background(counts, EDGES, degree=1).slope() + b) < 0.03 * b
        fit5 = fit_background(counts, EDGES, degree=5)
        truth = 200_000 * (np.exp(-b * EDGES[:-1]) - np.exp(-b * EDGES[1:]))
        big = truth > 100
        assert np.all(np.abs(fit5.expected[big] - truth[big]) < 4 * np.sqrt(truth[big]))
        assert 0.5 < fit5.chi2_per_dof < 2.0


def test_scan_finds_an_injected_bump_at_the_right_mass():
    counts = np.full(50, 100.0)
    counts[31:34] += 80
    r = bump_scan(counts, np.full(50, 100.0), EDGES)
    assert (r["first_bin"], r["last_bin"]) == (31, 33)
    assert r["observed"] == 540 and r["expected"] == 300
    assert r["significance"] == pytest.approx(240 / np.sqrt(300))
    many = bump_scan(np.stack([counts, np.roll(counts, 5)]), np.full(50, 100.0), EDGES)   # vectorised over histograms
    assert many["first_bin"].tolist() == [31, 36]
    with pytest.raises(InputError, match="window widths"):
        bump_scan(counts[:1], counts[:1], EDGES[:2])


def test_classical_analysis_finds_a_five_percent_bump_and_null_is_small():
    found = classical_bump_hunt(bump_events(100_000, 0.05, seed=3), EDGES)
    assert found["lo"] <= 1.0 <= found["hi"] and found["hi"] - found["lo"] <= 0.31
    assert found["significance"] > 8
    null = [classical_bump_hunt(bump_events(100_000, 0.0, seed=10 + s), EDGES)["significance"] for s in range(5)]
    assert max(null) < 4.0 and 0.5 < np.mean(null) < 3.0


def test_flow_significance_follows_the_thesis_formulae():
    base = np.histogram(bump_events(200_000, 0.0, seed=4), EDGES)[0].astype(float)
    bump = base.copy()
    bump[9:11] += 400
    identical = flow_bump_hunt(np.stack([bump] * 4), EDGES)
    assert (identical["first_bin"], identical["last_bin"]) == (9, 10)
    assert identical["delta_observed"] == 0 and identical["delta_expected"] == 0
    o, b = identical["observed"], identical["expected"]
    assert identical["significance"] == pytest.approx((o - b) / np.sqrt(b))
    spread = flow_bump_hunt(np.stack([bump, bump, bump * 0.9, bump * 1.1]), EDGES)
    # second half: O_i = 0.9 O, 1.1 O -> sigma(O_i) = 0.1 O, delta_O = (2 / N_ens) sigma = 0.05 O
    assert spread["delta_observed"] == pytest.approx(0.05 * o, rel=1e-6)
    assert spread["significance"] < identical["significance"]
    with pytest.raises(InputError, match=">= 2 flows"):
        flow_bump_hunt(bump[None], EDGES)


def test_crossover_prescale():
    assert crossover_prescale([1, 2, 4, 8], [8, 6, 4, 3], 4) == pytest.approx(4.0)
    assert crossover_prescale([1, 2, 4], [8, 6, 4], 8) == pytest.approx(1.0)
    assert crossover_prescale([1, 2, 4], [8, 6, 4], 2) == pytest.approx(16.0)   # sqrt law beyond the points


def test_flow_ensemble_finds_a_five_percent_bump():
    """Seconds of online training: the spline flow resolves a 5 % bump (wider than the truth, as in the thesis);
    the affine MAF of the thesis needs far longer training (measured: docs/onlineflow.md). 45k events: with 30k
    this seed found the bump on an Intel Xeon (significance > 3) and nothing on an AMD EPYC (0.19), the CPU's
    arithmetic alone deciding; with 45k the AMD machine gives 6.2 in 0.7-1.2."""
    from hepgen.studies.bumphunt import _flow_histograms, bump_stream
    from hepgen.training.online import OnlineConfig, OnlineEnsemble

    ens = OnlineEnsemble(1, OnlineConfig(n_buffer=5000, n_batch=250, n_iter=3, n_ens=2, swa_skip=2, seed=1,
                                         model={"lr": 3e-3, "transform": "spline", "transforms": 2}))
    ens.run(bump_stream(45_000, 0.05, seed=2), quiet=True)
    result = flow_bump_hunt(_flow_histograms(ens, EDGES, 50_000, seed=0), EDGES)
    assert result["lo"] <= 1.0 <= result["hi"] <= 1.5, result
    assert result["significance"] > 3, result


def test_cli_writes_json_table_and_figure(tmp_path):
    from typer.testing import CliRunner

    from hepgen.cli import app

    runner = CliRunner()
    assert "prescale" in runner.invoke(app, ["online-bumphunt", "--help"]).output
    args = ["online-bumphunt", "-o", str(tmp_path), "--events", "20000", "--repetitions", "1", "--null-repetitions",
            "1", "--n-ens", "2", "--n-iter", "1", "--samples-per-flow", "20000", "--prescales", "1,2",
            "--fractions", "0.5,1", "--signal-fraction", "0.05", "--transform", "spline", "--bins", "16",
            "--noise-dims", "0", "--transforms", "1", "--lr-schedule", "cosine", "--swa-skip", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "bumphunt.json").read_text())
    assert data["settings"]["bins"] == 16 and data["settings"]["noise_dims"] == 0
    assert "spline (16 bins)" in result.output and "cosine" in result.output
    assert set(data["flow_significance"]) == {"0.5", "1.0"} and set(data["classical_significance"]) == {"1.0", "2.0"}
    assert data["crossover_prescale"] > 0 and "null_flow_significance" in data
    assert "Crossover prescale" in (tmp_path / "bumphunt.md").read_text()
    assert (tmp_path / "bumphunt.png").read_bytes()[:4] == b"\x89PNG"
    again = runner.invoke(app, args)
    assert again.exit_code != 0   # refuses to overwrite without --overwrite
    wrong = runner.invoke(app, args[:3] + ["--noise-dims", "three", "--overwrite"])   # main() prints it, exit 2
    assert isinstance(wrong.exception, InputError) and "--noise-dims" in str(wrong.exception)
    wrong = runner.invoke(app, args[:3] + ["--lr-schedule", "step", "--overwrite"])
    assert isinstance(wrong.exception, InputError) and "lr schedule" in str(wrong.exception)
