"""Separation power, chi2 and the metric functions."""

import numpy as np
import pytest

from hepgen.evaluate import chi2, fpd, kpd, one_d_metrics, prdc, separation_power, w1
from hepgen.evaluate.distances import CALOCHALLENGE_FPD
from hepgen.evaluate.histograms import challenge_bins, separation_power_error


def test_separation_power_identical_zero_disjoint_one_and_normalisation():
    h = np.array([3.0, 0.0, 7.0, 2.0])
    assert separation_power(h, h) == 0.0 and separation_power(h, 5 * h) == 0.0
    assert separation_power([1, 0, 0], [0, 0, 4]) == pytest.approx(1.0)
    # hand value: p = (0.5, 0.5), q = (1, 0): 0.5 * (0.25/1.5 + 0.25/0.5) = 1/3
    assert separation_power([1, 1], [1, 0]) == pytest.approx(1 / 3)
    assert separation_power_error(h, h) == 0.0 and separation_power_error([10, 30], [30, 10]) > 0


def test_chi2_identical_is_zero_and_counts_degrees_of_freedom():
    assert chi2([5, 10, 0, 20], [5, 10, 0, 20]) == (0.0, 2)
    value, ndf = chi2([100, 0], [0, 100])
    assert value == pytest.approx(200.0) and ndf == 1


def test_challenge_bins_follow_the_official_rules():
    ref = np.array([1.0, 500.0])
    e = challenge_bins("E_layer_3", ref, 2, 0.5e-3 / 0.033)
    assert len(e) == 40 and e[0] == pytest.approx(0.5e-3 / 0.033) and e[-1] == pytest.approx(500.0)
    assert challenge_bins("width_phi_13", ref, 1, 1.0)[-1] == 400.0
    assert challenge_bins("EC_eta_2", ref, 1, 1.0)[0] == -100.0
    assert len(challenge_bins("E_tot/E_inc", ref, 3, 0.01)) == 101


def test_one_dimensional_metrics():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0, 1, 20_000)
    assert w1(a, a) == 0.0 and one_d_metrics(a, a, n_bootstrap=0)["w1"] == 0.0
    assert w1(a, b + 1.0) == pytest.approx(1.0, abs=0.03)
    assert one_d_metrics(a, b + 1.0, n_bootstrap=0)["w1"] == pytest.approx(w1(a, b + 1.0), rel=1e-12)
    assert (one_d_metrics(a, b, n_bootstrap=0)["ks_p_value"] > 0.001
            and one_d_metrics(a, b + 0.2, n_bootstrap=0)["ks_p_value"] < 1e-6)


def test_fpd_kpd_prdc_separate_equal_from_shifted():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(3000, 6)), rng.normal(size=(3000, 6))
    c = rng.normal(0.5, 1.0, size=(3000, 6))
    same, shifted = fpd(a, b, **CALOCHALLENGE_FPD).as_dict(), fpd(a, c, **CALOCHALLENGE_FPD).as_dict()
    assert abs(same["value"]) < 5 * same["error"] + 0.02
    # features are normalised by the reference's max |x| (jetnet / CaloChallenge convention)
    scale2 = (np.abs(a).max(axis=0) ** 2)
    assert shifted["value"] == pytest.approx((0.25 / scale2).sum(), rel=0.15)
    assert fpd(a, c, 2000, 3000, 5, 5, normalise=False)[0] == pytest.approx(6 * 0.25, rel=0.1)
    assert kpd(a, c, batch_size=3000).value > 10 * abs(kpd(a, b, batch_size=3000).value)
    p_same, p_far = prdc(a, b), prdc(a, c + 3)
    assert p_same["coverage"] > 0.9 and p_same["precision"] > 0.7
    assert p_far["precision"] < 0.05 and p_far["coverage"] < 0.05


def test_one_merged_sort_equals_scipy_w1_ks_and_resampled_w1():
    from scipy.stats import ks_2samp, wasserstein_distance

    from hepgen.evaluate.metrics import SortedPair, one_d_metrics

    rng = np.random.default_rng(5)
    cases = [(rng.integers(0, 15, 300).astype(float), rng.integers(2, 18, 250).astype(float)),   # many ties
             (rng.normal(0, 1, 2000), rng.normal(0.1, 1.2, 1500)),
             (rng.exponential(1.0, 12_000), rng.exponential(1.05, 11_000))]                      # asymptotic p
    for r, g in cases:
        m, ks = one_d_metrics(r, g, n_bootstrap=3), ks_2samp(r, g)
        assert m["w1"] == pytest.approx(wasserstein_distance(r, g), rel=1e-12, abs=1e-15)
        assert m["ks"] == pytest.approx(ks.statistic, abs=1e-15)
        assert m["ks_p_value"] == pytest.approx(ks.pvalue, rel=1e-9, abs=1e-300)
        pair = SortedPair(r, g)
        ir, ig = rng.integers(0, len(r), len(r)), rng.integers(0, len(g), len(g))
        counts_r, counts_g = np.bincount(ir, minlength=len(r)), np.bincount(ig, minlength=len(g))
        assert pair.w1_weighted(counts_r, counts_g) == pytest.approx(wasserstein_distance(r[ir], g[ig]), rel=1e-12)
    assert np.isnan(one_d_metrics(np.array([0.0, np.nan]), np.ones(3))["w1"])


def test_w1_bootstrap_error_matches_the_spread_of_independent_samples():
    from hepgen.evaluate.metrics import one_d_metrics

    rng = np.random.default_rng(6)
    values = [one_d_metrics(rng.normal(0, 1, 40_000), rng.normal(0.2, 1, 40_000), n_bootstrap=0)["w1"]
              for _ in range(20)]
    err = one_d_metrics(rng.normal(0, 1, 40_000), rng.normal(0.2, 1, 40_000), n_bootstrap=20)["w1_error"]
    assert 0.5 < err / np.std(values) < 2.0     # subsampled bootstrap (20k), scaled to 40k


def test_blocked_kernel_sums_and_eigh_frechet_equal_the_direct_formulas():
    from hepgen.evaluate.distances import (frechet_distance, frechet_distance_reference, mmd_poly_unbiased,
                                           mmd_poly_unbiased_reference, poly_kernel_sum)

    rng = np.random.default_rng(7)
    x, y = rng.normal(0, 1, (53, 4)), rng.normal(0.3, 1, (41, 4))
    for degree in (1, 2, 3, 4):
        k = (x @ x.T / 4 + 1) ** degree
        total, trace = poly_kernel_sum(x, degree=degree, block_rows=7)   # several blocks, symmetric half
        assert total == pytest.approx(k.sum(), rel=1e-12) and trace == pytest.approx(np.trace(k), rel=1e-12)
        assert poly_kernel_sum(x, y, degree, block_rows=10)[0] == pytest.approx(((x @ y.T / 4 + 1) ** degree).sum(),
                                                                                 rel=1e-12)
        assert mmd_poly_unbiased(x, y, degree) == pytest.approx(mmd_poly_unbiased_reference(x, y, degree), rel=1e-9)
    a = rng.normal(0, 1, (500, 6)) @ rng.normal(0, 1, (6, 6))
    b = rng.normal(0.2, 1, (500, 6)) @ rng.normal(0, 1, (6, 6))
    args = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance(*args) == pytest.approx(frechet_distance_reference(*args), rel=1e-9)


def test_kpd_is_jetnets_batches_and_independent_of_worker_processes():
    from hepgen.evaluate.distances import _normalise, kpd, mmd_poly_unbiased_reference

    rng = np.random.default_rng(8)
    x, y = rng.normal(0, 1, (6000, 3)), rng.normal(0.05, 1, (6000, 3))
    value, error = kpd(x, y, num_batches=3, batch_size=4000)
    xn, yn = _normalise(x, y)
    direct = []
    for i in range(3):   # jetnet's draws: default_rng(seed + 1000 i), reference rows first
        g = np.random.default_rng(42 + 1000 * i)
        ix, iy = g.choice(len(x), 4000), g.choice(len(y), 4000)
        direct.append(mmd_poly_unbiased_reference(xn[ix], yn[iy]))
    assert value == pytest.approx(np.median(direct), rel=1e-9, abs=1e-15)
    assert kpd(x, y, num_batches=3, batch_size=4000, n_jobs=2) == pytest.approx((value, error), rel=1e-12)
