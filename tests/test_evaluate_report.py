"""End to end: evaluate_samples / evaluate_and_report / the CLI, and refusal of inconsistent samples."""

import json

import numpy as np
import pytest

from hepgen.data import ShowerData, write_showers
from hepgen.errors import InputError
from hepgen.evaluate import compute_features, evaluate_samples, quick_metrics


def _showers(n, seed, scale=1.0, geometry="belle2-ecl-5x5"):
    rng = np.random.default_rng(seed)
    inc = rng.choice([1e3, 5e3], n)
    from hepgen.geometry import get_geometry

    v = get_geometry(geometry).n_voxels
    return ShowerData(inc, rng.exponential(1.0, (n, v)) * inc[:, None] / v * scale, geometry)


def test_identical_samples_have_zero_separation_power_and_chi2():
    s = _showers(400, 0)
    r = evaluate_samples(s, s, classifier=False)
    for name, h in r["histograms"].items():
        assert h["separation_power"] == 0.0, name
        assert h["chi2"] == 0.0 and h.get("w1", 0.0) == 0.0 and h.get("ks", 0.0) == 0.0
    assert r["correlations"]["max_abs_difference"] == 0.0
    assert len(r["energy_bins"]) == 2 and r["energy_bins"][0]["mu90_ratio"] == 1.0


def test_shifted_sample_has_large_separation_power_and_worst_list():
    r = evaluate_samples(_showers(1000, 1), _showers(1000, 2, scale=1.3), classifier=False)
    assert r["histograms"]["E_vis/E_inc"]["separation_power"] > 0.2
    assert r["histograms"]["n_hits"]["separation_power"] < 0.05
    assert r["worst_separation_powers"][0]["name"] in ("E_vis/E_inc", "E_vis", "E_max", "E_peak")
    same = evaluate_samples(_showers(1000, 1), _showers(1000, 3), classifier=False)
    # FPD on max-normalised features (CaloChallenge convention): the shift stands well above two equal samples
    assert r["fpd"]["value"] > 5 * max(abs(same["fpd"]["value"]), same["fpd"]["error"])
    assert r["energy_bins"][0]["mu90_ratio"] == pytest.approx(1.3, rel=0.05)


def test_features_from_chunks_equal_features_at_once():
    s = _showers(300, 3, geometry="calochallenge-1-photons")
    a, b = compute_features(s), compute_features(s.chunks(70))
    assert sorted(a.scalars) == sorted(b.scalars) and "EC_eta_1" in a.scalars
    for k in a.scalars:
        np.testing.assert_array_equal(a.scalars[k], b.scalars[k])
    np.testing.assert_array_equal(a.cell_counts, b.cell_counts)


def test_inconsistent_samples_are_refused():
    ref = _showers(50, 4)
    with pytest.raises(InputError, match="differs from the reference"):
        evaluate_samples(ref, _showers(50, 5, geometry="belle2-ecl-10x10"), classifier=False)
    far = ShowerData(ref.incident_energy * 10, ref.energy, ref.geometry)
    with pytest.raises(InputError, match="lie outside the range both cover"):
        evaluate_samples(ref, far, classifier=False)
    nan = ShowerData(ref.incident_energy, ref.energy.copy(), ref.geometry)
    nan.energy[7, 3] = np.nan
    with pytest.raises(InputError, match="index 7: NaN"):
        evaluate_samples(ref, nan, classifier=False)


def test_quick_metrics_keys_and_values():
    q = quick_metrics(_showers(500, 6), _showers(500, 7, scale=2.0))
    assert q["sep_E_vis/E_inc"] > 0.5 and q["sep_n_hits"] < 0.1


def test_cli_writes_report_and_refuses_bad_input(tmp_path, capsys):
    from hepgen.cli import main

    write_showers(tmp_path / "ref.h5", _showers(600, 8))
    write_showers(tmp_path / "gen.h5", _showers(600, 9, scale=2.0))
    write_showers(tmp_path / "other.h5", _showers(100, 9, geometry="belle2-ecl-10x10"))
    out = tmp_path / "report"
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", "evaluate", str(tmp_path / "ref.h5"), str(tmp_path / "gen.h5"), "-o", str(out),
              "--hidden", "16", "--epochs", "2", "--no-figures", "--workers", "1"])
    assert exc.value.code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"low_level", "high_level"} <= set(metrics["classifier"])
    assert metrics["classifier"]["high_level"]["auc"] > 0.9        # twice the energy is visible
    page = (out / "index.html").read_text()
    assert "classifier AUC" in page and "FPD" in page
    assert "<strong>Clearly distinguishable: classifier AUC" in page   # the verdict on the first screen
    with pytest.raises(SystemExit) as exc:                          # existing report, no --overwrite
        main(["--quiet", "evaluate", str(tmp_path / "ref.h5"), str(tmp_path / "gen.h5"), "-o", str(out)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", "evaluate", str(tmp_path / "ref.h5"), str(tmp_path / "other.h5"), "-o", str(tmp_path / "r2"),
              "--no-classifier", "--no-figures"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("hepgen: error:") and "differs from the reference" in err[-1]


def test_report_figures_one_per_observable(tmp_path):
    from hepgen.report import evaluate_and_report

    write_showers(tmp_path / "ref.h5", _showers(300, 10, geometry="belle2-ecl-10x10"))
    write_showers(tmp_path / "gen.h5", _showers(300, 11, geometry="belle2-ecl-10x10"))
    index = evaluate_and_report(tmp_path / "ref.h5", tmp_path / "gen.h5", tmp_path / "rep", classifier=False)
    page = index.read_text()
    names = json.loads((tmp_path / "rep" / "metrics.json").read_text())["histograms"]
    for name in names:
        png = tmp_path / "rep" / "figures" / (name.replace("/", "_over_") + ".png")
        assert png.exists() and png.stat().st_size > 1000, name
        assert f"figures/{png.name}" in page
    assert (tmp_path / "rep" / "figures" / "profile_longitudinal.png").exists()


def test_feature_cache_round_trip_and_invalidation(tmp_path):
    from hepgen.evaluate.features import FeatureSet, cached_features

    write_showers(tmp_path / "a.h5", _showers(120, 12, geometry="calochallenge-1-photons"))
    cache = tmp_path / "cache" / "a.npz"
    first = cached_features(tmp_path / "a.h5", cache)
    again = FeatureSet.load(cache)
    assert again is not None and again.highlevel == first.highlevel and again.geometry == first.geometry
    for k in first.scalars:
        np.testing.assert_array_equal(first.scalars[k], again.scalars[k])
    assert cached_features(tmp_path / "a.h5", cache, threshold_mev=5.0).threshold_mev == 5.0   # other key: recomputed
    assert FeatureSet.load(cache, key="something else") is None


def test_independent_draws_of_one_spectrum_are_compared_on_their_common_range():
    """Two draws of one log-uniform spectrum never share their extremes: compare the overlap, say how many fell
    outside, refuse only a real mismatch."""
    def draw(seed):
        rng = np.random.default_rng(seed)
        inc = 10 ** rng.uniform(3, 6, 500)
        return ShowerData(inc, rng.exponential(1.0, (500, 25)) * inc[:, None] / 25, "belle2-ecl-5x5")

    a, b = draw(11), draw(12)
    assert a.incident_energy.max() != b.incident_energy.max()
    r = evaluate_samples(a, b, classifier=False)
    o = r["incident_energy_overlap"]
    assert 0 < o["n_reference_outside"] + o["n_generated_outside"] <= 10
    assert r["n_reference"] == 500 - o["n_reference_outside"] and r["n_generated"] == 500 - o["n_generated_outside"]
    assert any("outside the common range" in w for w in r["warnings"])
    narrow = ShowerData(np.clip(b.incident_energy, 1e3, 1e5), b.energy, b.geometry)   # a third piles up at 100 GeV
    with pytest.raises(InputError, match="at most 10 % or 5 showers of either outside"):
        evaluate_samples(a, narrow, classifier=False)


def test_values_outside_the_binning_are_reported_not_hidden():
    """One corrupt voxel (1e30 MeV) hides in the overflow of every histogram: the result must say so."""
    from hepgen.evaluate.evaluation import _compare_1d, binning_warnings

    ref, gen = _showers(1000, 21), _showers(1000, 22)
    broken = gen.energy.sum(1) / gen.incident_energy
    broken[5] = 1e30 / gen.incident_energy[5]
    r_vals = ref.energy.sum(1) / ref.incident_energy
    from hepgen.evaluate.histograms import auto_bins

    e = _compare_1d(r_vals, broken, auto_bins(np.concatenate([r_vals, broken])), w1=False)
    assert e["outside"]["generated"]["far"] == 1 and e["outside"]["reference"]["far"] == 0
    assert e["separation_power"] < 0.1                       # the histogram alone looks like a good match
    w = binning_warnings({"E_vis/E_inc": e}, 1000, 1000)
    assert len(w) == 1 and "1 far outside" in w[0] and "E_vis/E_inc" in w[0]
    # a real shower sample with a tail: no false alarm
    clean = evaluate_samples(ref, _showers(1000, 23), classifier=False)
    assert not any("outside the histogram range" in w for w in clean["warnings"])
    # and in a whole evaluation: a shower with its whole energy in one voxel, 1.9 E_inc, is over every range
    gen.energy[5] = 0.0
    gen.energy[5, 12] = 1.9 * gen.incident_energy[5]
    r = evaluate_samples(ref, gen, classifier=False)
    assert r["histograms"]["E_vis/E_inc"]["outside"]["generated"]["max"] == pytest.approx(1.9, rel=1e-5)


def test_an_empty_histogram_is_undefined_not_a_perfect_match():
    from hepgen.evaluate.histograms import separation_power

    assert np.isnan(separation_power([0, 0, 0], [1, 2, 3])) and np.isnan(separation_power([0, 0], [0, 0]))
    _ref, _gen = _showers(300, 31), _showers(300, 32)
    from hepgen.evaluate.evaluation import _compare_1d

    e = _compare_1d(np.full(300, 5.0), np.full(300, 5.0), np.linspace(0, 1, 11), w1=False)  # all outside
    assert np.isnan(e["separation_power"])
