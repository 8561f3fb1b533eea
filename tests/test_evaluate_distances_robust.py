"""FPD/KPD never give a finite-looking number for what they cannot compute (issue 14): degenerate
features, non-finite values, a fit that did not converge; CaloChallenge defaults and size warnings."""

import math

import numpy as np
import pytest

from hepgen.evaluate import distances as D


def _pair(n=2000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (n, d)), rng.normal(0, 1, (n, d))


def _fast_fpd(x, y, **kw):
    return D.fpd(x, y, min_samples=500, max_samples=2000, num_batches=3, num_points=4, **kw).as_dict()


def test_feature_with_reference_max_1e8_is_left_out_and_listed():
    # a width in an almost empty layer: reference round-off ~1e-8, one generated shower at 0.05
    x, y = _pair()
    rng = np.random.default_rng(1)
    x = np.c_[x, rng.uniform(0, 1e-8, len(x))]
    y = np.c_[y, rng.uniform(0, 1e-8, len(y))]
    y[7, -1] = 0.05
    f = _fast_fpd(x, y)
    k = D.kpd(x, y, batch_size=500, num_batches=4).as_dict()
    clean = _fast_fpd(x[:, :-1], y[:, :-1])
    assert [e["index"] for e in f["excluded_features"]] == [4] and "no spread" in f["excluded_features"][0]["reason"]
    assert f["value"] == pytest.approx(clean["value"], rel=1e-9) and f["value"] < 0.05 and f["reason"] is None
    assert [e["index"] for e in k["excluded_features"]] == [4] and abs(k["value"]) < 0.01 and k["error"] < 0.01


def test_constant_reference_feature_with_generated_spread_is_left_out():
    x, y = _pair()
    x = np.c_[x, np.full(len(x), 2.0)]
    y = np.c_[y, np.random.default_rng(2).normal(2.0, 1.0, len(y))]
    f = _fast_fpd(x, y)
    assert [e["index"] for e in f["excluded_features"]] == [4]
    assert f["value"] == pytest.approx(_fast_fpd(x[:, :-1], y[:, :-1])["value"], rel=1e-9)


def test_feature_constant_in_both_samples_is_kept_as_jetnet_keeps_it():
    x, y = _pair(n=600)
    x, y = np.c_[x, np.zeros(len(x))], np.c_[y, np.zeros(len(y))]
    k = D.kpd(x, y, num_batches=2, batch_size=300)
    assert k.notes["excluded_features"] == [] and k.notes["reason"] is None
    # jetnet: maxes == 0 -> 1, the zero column still counts in the kernel's d
    xn, yn = D._normalise(x, y)
    g = np.random.default_rng(42)
    ix, iy = g.choice(len(x), 300), g.choice(len(y), 300)
    assert D._kpd_batch(xn, yn, 0, 300, 42, 4) == pytest.approx(D.mmd_poly_unbiased_reference(xn[ix], yn[iy]), rel=1e-9)
    # a feature that is 1 up to float32 round-off in both samples (the d = 0 EFP, sum of pt_rel) is kept too
    rng = np.random.default_rng(5)
    x1 = np.c_[x, 1 + rng.normal(0, 1e-7, len(x))]
    y1 = np.c_[y, 1 + rng.normal(0, 1e-7, len(y))]
    assert D.kpd(x1, y1, num_batches=2, batch_size=300).notes["excluded_features"] == []


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_value_gives_nan_and_reason(bad):
    x, y = _pair(n=600)
    y[3, 1] = bad
    for name, r in (("fpd", _fast_fpd(x, y)), ("kpd", D.kpd(x, y, batch_size=300, num_batches=2).as_dict())):
        assert math.isnan(r["value"]) and math.isnan(r["error"]), name
        assert "non-finite values in the generated sample" in r["reason"], name


def test_unconverged_fit_gives_nan_and_flag(monkeypatch):
    # values ~1e10 (unnormalised features of scale 1e5): jetnet's curve_fit stops at its start a = 1 +- 0;
    # the well-scaled fit reaches the least-squares intercept, and jetnet's result is only a note
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1e5, (400, 3)), rng.normal(0, 1e5, (400, 3))
    d = D.fpd(x, y, 100, 400, num_batches=3, num_points=4, normalise=False)
    assert d.notes["jetnet_curve_fit"]["value"] == 1.0 and d.notes["jetnet_curve_fit"]["error"] == 0.0
    assert d.value > 1e8 and 0 < d.error < d.value and d.notes["reason"] is None
    # a fit that stops at its starting point is caught, whatever the scale
    import scipy.optimize

    monkeypatch.setattr(scipy.optimize, "curve_fit", lambda f, t, v, **kw: (np.array([1.0, 1.0]), np.zeros((2, 2))))
    x, y = _pair(n=600)
    d = D.fpd(x, y + 0.3, 100, 400, num_batches=3, num_points=4)
    assert math.isnan(d[0]) and math.isnan(d[1]) and "did not converge" in d.notes["reason"]
    r = D.fpd(x, y + 0.3, min_samples=100, max_samples=400, num_batches=3, num_points=4).as_dict()
    assert math.isnan(r["value"]) and "did not converge" in r["reason"]


def test_converged_fit_is_the_least_squares_line():
    # jetnet's raw curve_fit stops early on these (flat FD, 1/N ~ 1e-4): intercept 0.0020974 instead of 0.0020372
    t = 1 / np.array([10000, 11111, 12500, 14285, 16666, 20000, 25000, 33333, 50000, 100000.0])
    v = 0.0020372 + 1.0 * t + 1e-5 * np.array([1, -1, 2, -2, 0.5, -0.5, 1, -1, 0, 0])
    a, err, reason, jetnet_fit = D._fit_intercept(t, v)
    exact = np.linalg.lstsq(np.c_[np.ones_like(t), t], v, rcond=None)[0][0]
    assert reason is None and a == pytest.approx(exact, rel=1e-6) and 0 < err < 1e-4


def test_calochallenge_defaults_and_size_warning():
    x, y = _pair(n=300, d=2)
    k = D.kpd(x, y, **{**D.CALOCHALLENGE_KPD, "num_batches": 2}).as_dict()
    # the official code draws batches of 10000 with replacement whatever the sample size
    assert k["batch_size"] == 10_000 and k["n_reference"] == 300
    assert (k["value"], k["error"]) == pytest.approx(tuple(D.kpd(x, y, num_batches=2, batch_size=10_000)), rel=1e-12)
    assert "below the 50000 recommended" in k["warnings"][0] and "300 reference" in k["warnings"][0]
    assert D.CALOCHALLENGE_FPD == {"min_samples": 10_000, "max_samples": 50_000, "num_batches": 20, "num_points": 10,
                                   "seed": 42}
    assert D.CALOCHALLENGE_KPD == {"batch_size": 10_000, "num_batches": 10, "seed": 42}


def test_small_samples_of_one_distribution_give_distances_consistent_with_zero():
    """Below the official batch sizes, draws with replacement only repeat rows: the intercept is then the
    distance between the two finite samples (far from zero). ``auto`` subsamples without replacement."""
    from hepgen.evaluate.distances import fpd, kpd

    rng = np.random.default_rng(3)
    x, y = rng.gamma(2.0, 1.0, (400, 30)), rng.gamma(2.0, 1.0, (400, 30))
    biased = fpd(x, y, min_samples=1000, max_samples=2000, num_batches=4, num_points=6)
    assert biased.value > 3 * biased.error
    f = fpd(x, y, min_samples=1000, max_samples=2000, num_batches=4, num_points=6, sampling="auto")
    assert f.notes["sampling"] == "subsample" and abs(f.value) < 3 * f.error
    assert any("without replacement" in w for w in f.notes["warnings"])
    k = kpd(x, y, num_batches=10, batch_size=1000, sampling="auto")
    assert k.notes["sampling"] == "subsample" and abs(k.value) < 3 * k.error
    shifted = fpd(x, y * 1.3, min_samples=1000, max_samples=2000, num_batches=4, num_points=6, sampling="auto")
    assert shifted.value > 3 * shifted.error
