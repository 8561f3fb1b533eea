"""The analysis-level morphing of B. Käch, PhD thesis (2024), Sec. 7.2 on hepgen's Pythia analogue: the event
generation, the OT-CFM morph between two event files and the three-paradigm significance study."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepgen.cli import main
from hepgen.simulate.susy import FEATURES, SusyProduction, load_susy_events, signal_region, simulate_susy

torch.set_num_threads(1)


def _fake_events(path, n, shift, weight_fb, process="signal", seed=0):
    """Synthetic events in the file format, all inside the signal region; ``shift`` moves the momenta."""
    rng = np.random.default_rng(seed)
    f = np.zeros((n, len(FEATURES)), np.float32)
    col = {name: i for i, name in enumerate(FEATURES)}
    f[:, col["lep_pt"]] = 30 + rng.exponential(100 * (1 + shift), n)
    for name in ("lep_eta", "jet1_eta", "jet2_eta"):
        f[:, col[name]] = rng.normal(0, 1, n)
    for name in ("lep_phi", "jet1_phi", "jet2_phi", "met_phi"):
        f[:, col[name]] = rng.uniform(-np.pi, np.pi, n)
    f[:, col["jet1_pt"]] = 300 + 400 * max(shift, 0) + rng.exponential(200, n)
    f[:, col["jet2_pt"]] = 100 + 200 * max(shift, 0) + rng.exponential(100, n)
    f[:, col["ht"]] = f[:, col["jet1_pt"]] + f[:, col["jet2_pt"]] + 300 + rng.exponential(200, n)
    f[:, col["n_jets"]] = rng.integers(5, 9, n)
    f[:, col["jet1_mass"]] = rng.gamma(4, 20 + 20 * shift, n)
    f[:, col["jet2_mass"]] = rng.gamma(4, 15, n)
    f[:, col["met"]] = 300 + rng.exponential(200 + 300 * shift, n)
    meta = {"settings": {"process": process, "pthat_min": 400.0, "pthat_max": None}, "n_accepted_by_pythia": n,
            "sigma_fb": weight_fb * n}
    with open(path, "wb") as fh:
        np.savez(fh, features=f, delta_phi=rng.uniform(0, np.pi, n), lt=f[:, col["met"]] + f[:, col["lep_pt"]],
                 n_b=np.zeros(n, np.int64), weight_fb=np.full(n, weight_fb), meta=np.array(json.dumps(meta)))
    return path


def test_pythia_gluino_events_carry_the_chargino_mass_and_pass_the_lepton_selection(tmp_path):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    meta = simulate_susy(SusyProduction("signal", 60, epsilon=0.75, seed=3), tmp_path / "s.npz")
    assert meta["chargino_mass_gev"] == pytest.approx(1675.0) and 1e-3 < meta["sigma_fb"] < 10   # 2.2 TeV gluinos
    ev = load_susy_events(tmp_path / "s.npz", signal_region_only=False)
    f = ev["features"]
    assert 5 <= len(f) <= 40                      # exactly one isolated e/μ: about a third of W W decays
    assert np.all(f[:, FEATURES.index("lep_pt")] > 25) and np.all(f[:, FEATURES.index("n_jets")] >= 2)
    assert np.median(f[:, FEATURES.index("ht")]) > 1000          # two 2.2 TeV gluinos -> TeV-scale jets
    np.testing.assert_allclose(ev["weight_fb"] * 0.3 ** -ev["n_b"], meta["sigma_fb"] / 60)
    assert np.all(ev["delta_phi"] <= np.pi) and np.all(ev["pthat"] > 0)
    with pytest.raises(Exception, match="epsilon"):
        SusyProduction("signal", 10, epsilon=1.5)


def test_morph_is_monotone_in_time_and_reaches_the_target():
    """OT-CFM from N(0, 1) to N(3, 1) in 3-D: the mean moves monotonically along the ODE time, the end point
    matches the target (⟨S²⟩, ECDF distance far below the source's) and backwards it returns to the source."""
    from hepgen.studies.susy_morphing import morph_distance, train_morph

    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (2000, 3)).astype(np.float32)
    b = rng.normal(3, 1, (2000, 3)).astype(np.float32)
    field, info = train_morph(a[:1500], b[:1500], steps=300, width=64, validation=(a[1500:], b[1500:]), n_checks=3)
    x = torch.from_numpy(a[1500:])
    means = [float(field.transport(x, t, 50).mean()) for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert means == sorted(means) and means[2] == pytest.approx(1.5, abs=0.3), means
    end = field.transport(x, 1.0, 100).numpy()
    assert morph_distance(b[1500:], end)["ecdf"] < 0.2 * morph_distance(b[1500:], a[1500:])["ecdf"]
    back = field.transport(torch.from_numpy(b[1500:]), 0.0, 100, t0=1.0).numpy()
    assert abs(back.mean() - 0.0) < 0.3 and info["best_step"] in (100, 200, 300)


def test_susy_morphing_study_and_commands_on_synthetic_events(tmp_path, capsys):
    from hepgen.studies.susy_morphing import susy_morphing_study

    files = {eps: _fake_events(tmp_path / f"s{eps}.npz", 400, eps, 1e-4, seed=k)
             for k, eps in enumerate((0.25, 0.5, 0.75))}
    bkg = [_fake_events(tmp_path / "b1.npz", 600, -0.5, 0.01, "ttbar", seed=7),
           _fake_events(tmp_path / "b2.npz", 600, -0.5, 0.01, "ttbar", seed=8)]   # same kind: weights halved
    r = susy_morphing_study(files, bkg, morph_steps=40, classifier_steps=30, repeats=2, n_time_steps=10)
    assert r["signal_region_yields"]["ttbar_fb"] == pytest.approx(6.0)        # 2 x 600 x 0.01 / 2
    assert r["counts"]["training_signal_per_paradigm"] == 400
    for name in ("baseline", "interpolation", "sanity"):
        assert len(r["rows"][name]["runs"]) == 2 and r["rows"][name]["luminosity_fb"] > 0
    assert {"forward_at_75", "backward_at_25", "forward_t_half_vs_50"} <= set(r["morph"]["quality"])
    assert signal_region(load_susy_events(files[0.5], signal_region_only=False)).all()

    out = tmp_path / "m"
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "morph", str(files[0.25]), str(files[0.75]), "--steps", "20", "--t", "0.5,1", "--backward",
              "--out", str(out)])
    assert e.value.code == 0
    half = np.load(out / "samples_t0.5.npz")["features"]
    assert half.shape == (400, len(FEATURES)) and (out / "samples_back_t1.npz").exists() and (out / "morph.pt").exists()
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "morph", str(files[0.25]), str(files[0.75]), "--out", str(out)])
    assert e.value.code == 2 and "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "susy-morphing", "--signal-25", str(files[0.25]), "--signal-50", str(files[0.5]),
              "--signal-75", str(files[0.75]), "-b", str(bkg[0]), "--morph-steps", "10", "--classifier-steps", "10",
              "--repeats", "2", "--out", str(tmp_path / "st")])
    assert e.value.code == 0 and "| interpolation |" in (tmp_path / "st" / "susy_morphing.md").read_text()
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "susy-morphing", "--signal-25", str(tmp_path / "missing.npz"), "--signal-50",
              str(files[0.5]), "--signal-75", str(files[0.75]), "-b", str(bkg[0]), "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "missing.npz" in capsys.readouterr().err
