"""Separation power, chi2 and the metric registry."""

import numpy as np
import pytest

from hepgen.evaluate import METRICS, chi2, separation_power
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
    e = challenge_bins("E_layer_3", ref, "calochallenge-2", 0.5e-3 / 0.033)
    assert len(e) == 40 and e[0] == pytest.approx(0.5e-3 / 0.033) and e[-1] == pytest.approx(500.0)
    assert challenge_bins("width_phi_13", ref, "calochallenge-1-pions", 1.0)[-1] == 400.0
    assert challenge_bins("EC_eta_2", ref, "calochallenge-1-photons", 1.0)[0] == -100.0
    assert len(challenge_bins("E_tot/E_inc", ref, "calochallenge-3", 0.01)) == 101


def test_one_dimensional_metrics():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0, 1, 20_000)
    assert METRICS["w1"](a, a)["value"] == 0.0
    assert METRICS["w1"](a, b + 1.0)["value"] == pytest.approx(1.0, abs=0.03)
    assert METRICS["ks"](a, b)["p_value"] > 0.001 and METRICS["ks"](a, b + 0.2)["p_value"] < 1e-6


def test_fpd_kpd_prdc_separate_equal_from_shifted():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(3000, 6)), rng.normal(size=(3000, 6))
    c = rng.normal(0.5, 1.0, size=(3000, 6))
    same, shifted = METRICS["fpd"](a, b), METRICS["fpd"](a, c)
    assert abs(same["value"]) < 5 * same["error"] + 0.02
    # features are normalised by the reference's max |x| (jetnet / CaloChallenge convention)
    scale2 = (np.abs(a).max(axis=0) ** 2)
    assert shifted["value"] == pytest.approx((0.25 / scale2).sum(), rel=0.15)
    from hepgen.evaluate.distances import fpd as raw_fpd

    assert raw_fpd(a, c, 2000, 3000, 5, 5, normalise=False)[0] == pytest.approx(6 * 0.25, rel=0.1)
    assert METRICS["kpd"](a, c)["value"] > 10 * abs(METRICS["kpd"](a, b)["value"])
    p_same, p_far = METRICS["prdc"](a, b), METRICS["prdc"](a, c + 3)
    assert p_same["coverage"] > 0.9 and p_same["precision"] > 0.7
    assert p_far["precision"] < 0.05 and p_far["coverage"] < 0.05
