"""Equivalent sample size, baselines and toys."""

import numpy as np
import pytest

from hepgen.amplify import (build_quantile_cells, equivalent_size_from_reference, equivalent_size_multinomial,
                            expected_jsd, jsd_curve)
from hepgen.amplify.baselines import HistogramBaseline, KDEBaseline, MixtureBaseline
from hepgen.amplify.toys import get_toy


def test_expected_jsd_matches_simulation():
    rng = np.random.default_rng(0)
    p = np.full(256, 1 / 256)
    from hepgen.amplify import jsd_from_fractions

    sim = [jsd_from_fractions(rng.multinomial(5000, p) / 5000, p) for _ in range(300)]
    assert expected_jsd(p, 5000) == pytest.approx(np.mean(sim), rel=0.03)


@pytest.mark.parametrize("true_n", [2000, 8000])
def test_equivalent_n_recovers_true_size_of_reference_subset(true_n):
    rng = np.random.default_rng(true_n)
    truth, pool = rng.gamma(3.0, size=300_000), rng.gamma(3.0, size=100_000)
    ks = [16, 64, 256]
    cells = {k: build_quantile_cells(truth, k) for k in ks}
    sizes = [1000, 5000, 20000]
    refs = [jsd_curve([pool[rng.choice(len(pool), n, replace=False)] for _ in range(8)], cells, ks) for n in sizes]
    test = jsd_curve([rng.gamma(3.0, size=true_n) for _ in range(8)], cells, ks)
    j = 2
    by_mult = equivalent_size_multinomial(test.mean[j], cells[256].probabilities, test.std[j], n_reference=len(truth))
    by_ref = equivalent_size_from_reference(sizes, [r.mean[j] for r in refs], test.mean[j], test.std[j])
    assert by_mult.n_equiv == pytest.approx(true_n, rel=0.2)
    assert by_ref.n_equiv == pytest.approx(true_n, rel=0.2)
    assert by_ref.low <= by_ref.n_equiv <= by_ref.high and by_ref.bound == ""
    assert by_ref.factor(1000).n_equiv == pytest.approx(by_ref.n_equiv / 1000)


def test_equivalent_size_bounds_and_rmse_inversion():
    e = equivalent_size_from_reference([1000, 5000], [0.03, 0.006], 0.001)
    assert e.bound == ">" and e.n_equiv > 5000
    p = np.full(20, 0.05)
    assert equivalent_size_multinomial(np.sqrt(19 / (400 * 280)), p, metric="rmse").n_equiv == pytest.approx(280)
    assert not np.isfinite(equivalent_size_multinomial(0.0, p).n_equiv)


def test_kde_and_histogram_baselines_fit_and_sample():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(1000, 2)) * [1.0, 10.0]
    kde = KDEBaseline().fit(train)
    s = kde.sample(50_000, seed=2)
    # a Gaussian-kernel sample has the training variance plus the kernel's: s² (1 + h²) per column
    assert s.shape == (50_000, 2) and 0.1 < kde.bandwidth < 0.8
    assert np.allclose(s.std(axis=0), train.std(axis=0) * np.sqrt(1 + kde.bandwidth ** 2), rtol=0.03)
    hist = HistogramBaseline(n_splits=30).fit(train)
    assert len(hist.bins) == 2 and all(3 <= b <= 60 for b in hist.bins)
    h = hist.sample(50_000, seed=3)
    assert np.all(h >= hist.low) and np.all(h <= hist.high)
    assert np.allclose(h.mean(axis=0), train.mean(axis=0), atol=0.1 * np.array([1.0, 10.0]))


def test_fit_baseline_amplifies_camel_back():
    toy = get_toy("camel")
    rng = np.random.default_rng(5)
    u = toy.uniformise(toy.sample(200_000, rng))
    assert np.histogram(u, 10, (0, 1))[0].min() > 19_000       # exact CDF makes samples uniform
    fit = MixtureBaseline().fit(toy.sample(100, rng))
    means = np.sort(fit.model.means_.ravel())
    assert np.allclose(means, [-4, 4], atol=0.5)


def test_toy_study_training_sample_is_worth_itself():
    from hepgen.amplify.study import toy_study

    r = toy_study("ring", [10], baselines=[], repeats=60, coordinates=[(0,), (0, 1)], seed=3)
    for key in ("r", "r+phi"):
        row = r["results"][key]["train"][0]
        assert row["factor_from_mean_mse"] == pytest.approx(1.0, abs=0.25)
    assert r["results"]["r+phi"]["train"][0]["n_quant"] == 100
