"""Di-jet analogue of the LHC Olympics data and the CWoLa anomaly search (OnlineFlow, thesis Sec. 9.3)."""

from __future__ import annotations

import numpy as np
import pytest

from hepgen.errors import InputError
from hepgen.simulate import dijets
from hepgen.simulate.dijets import DIJET_FEATURES, DijetProduction, generate_dijet_chunk, nsubjettiness
from hepgen.studies import cwola


def test_nsubjettiness_two_prongs():
    rng = np.random.default_rng(0)
    # two narrow prongs 0.6 apart: tau_2 << tau_1
    y = np.r_[rng.normal(-0.3, 0.02, 50), rng.normal(0.3, 0.02, 50)]
    phi = rng.normal(0, 0.02, 100)
    pt = np.ones(100)
    tau1 = nsubjettiness(pt, y, phi, np.array([[0.0, 0.0]]))
    tau2 = nsubjettiness(pt, y, phi, np.array([[-0.3, 0.0], [0.3, 0.0]]))
    assert tau1 == pytest.approx(0.3, abs=0.01)
    assert tau2 / tau1 < 0.1


def test_wprime_events_have_the_resonances():
    events = generate_dijet_chunk(DijetProduction("wprime", 30, seed=4, chunk_size=30), 0)
    assert events.shape == (30, len(DIJET_FEATURES))
    mjj, m1, dm = events[:, 0], events[:, 1], events[:, 2]
    m2 = m1 - dm
    assert 3000 < np.median(mjj) < 3800                       # W' at 3.5 TeV
    assert 400 < np.median(np.maximum(m1, m2)) < 560          # X at 500 GeV
    assert 80 < np.median(np.minimum(m1, m2)) < 160           # Y at 100 GeV
    assert np.all((events[:, 3:] >= 0) & (events[:, 3:] <= 1.5))
    assert np.median(events[:, 3:]) < 0.45                    # two-prong jets


def test_qcd_selection_and_chunk_cache(tmp_path, monkeypatch):
    prod = DijetProduction("qcd", 12, seed=3, chunk_size=6)
    first = dijets.simulate_dijets(prod, tmp_path)
    assert first.shape == (12, 5)
    assert np.all(first[:, 0] > 2 * 1000)                     # leading jet pT > 1.2 TeV: m_jj well above 2 TeV
    monkeypatch.setattr(dijets, "generate_dijet_chunk", lambda *a: (_ for _ in ()).throw(AssertionError("rerun")))
    np.testing.assert_array_equal(dijets.simulate_dijets(prod, tmp_path), first)   # resumed from the chunks


def test_unknown_process_is_refused():
    with pytest.raises(InputError, match="unknown di-jet process 'zprime'"):
        DijetProduction("zprime", 10)


def test_cwola_finds_a_localised_excess():
    rng = np.random.default_rng(2)
    sb = rng.normal(0, 1, (6000, 2))
    sr = np.concatenate([rng.normal(0, 1, (3000, 2)), rng.normal([2.5, 2.5], 0.3, (300, 2))])
    test = np.concatenate([rng.normal(0, 1, (4000, 2)), rng.normal([2.5, 2.5], 0.3, (400, 2))])
    truth = np.r_[np.zeros(4000), np.ones(400)]
    scores = cwola.train_cwola(sr, sb, test, cwola.CWoLaSettings(epochs=6, n_best=3))
    assert cwola.max_sic(scores, truth) > 5.0


def test_sic_needs_both_classes():
    with pytest.raises(InputError, match="signal and background"):
        cwola.sic_curve(np.ones(3), np.ones(3))


def _fake_events(prod, folder, workers=1):
    rng = np.random.default_rng([prod.seed, len(prod.process)])
    n = prod.n_events
    if prod.process == "qcd":
        mjj = 2500 + rng.exponential(600, n)
        m1, m2 = rng.exponential(100, n), rng.exponential(100, n)
        tau = rng.uniform(0.3, 0.9, (n, 2))
    else:
        mjj = rng.normal(3500, 80, n)
        m1, m2 = rng.normal(500, 20, n), rng.normal(100, 10, n)
        tau = rng.uniform(0.05, 0.3, (n, 2))
    return np.column_stack([mjj, m1, m1 - m2, tau]).astype(np.float32)


def test_study_rows_on_synthetic_events(monkeypatch, tmp_path):
    monkeypatch.setattr(dijets, "simulate_dijets", _fake_events)
    s = cwola.StudySettings(n_background=8000, signal_fraction=0.05, n_test_background=4000, n_test_signal=500,
                            fractions=(1.0, 0.25), n_buffer=4000, n_iter=1, transforms=1, hidden=[16],
                            transform="affine", n_generated=8000, repetitions=1,
                            classifier=cwola.CWoLaSettings(epochs=4, n_best=2))
    result = cwola.run_study(s, tmp_path)
    assert set(result["rows"]) == {"data x 1", "data x 0.25", "flow"}
    assert result["rows"]["data x 0.25"]["events"] == pytest.approx(result["stream"]["events"] / 4, abs=1)
    assert result["stream"]["signal"] == 421                  # 8000 * 0.05 / 0.95
    assert result["supervised_max_sic"] > 5.0                 # the signal is separable
    assert result["rows"]["data x 1"]["max_sic"] > 2.0        # and CWoLa finds it on the full stream
    assert "| flow |" in cwola.study_markdown(result)
    cwola.study_figure(result, tmp_path / "sic.png")
    assert (tmp_path / "sic.png").stat().st_size > 1000


def test_cli_refuses_existing_outputs(tmp_path, capsys):
    from hepgen.cli import main

    (tmp_path / "cwola.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_:
        main(["--quiet", "online-cwola", "-o", str(tmp_path)])
    assert exit_.value.code == 2
    assert "cwola.json: output file exists" in capsys.readouterr().err
    assert (tmp_path / "cwola.json").read_text() == "{}"
