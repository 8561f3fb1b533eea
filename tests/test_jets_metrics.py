"""JetNet metrics on small hand-checked arrays (W1, inverse-variance mean, EFPs, FD, MMD, FPD, KPD)."""

import numpy as np
import pytest

from hepgen.data import JetData
from hepgen.errors import InputError
from hepgen.evaluate import jets as M


def toy_jets(n_jets=200, n_max=30, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    p = np.zeros((n_jets, n_max, 4), np.float32)
    for i in range(n_jets):
        k = rng.integers(3, n_max + 1)
        pt = np.sort(rng.dirichlet(np.ones(k)))[::-1]
        p[i, :k, 0] = rng.normal(shift, 0.1, k)
        p[i, :k, 1] = rng.normal(0, 0.1, k)
        p[i, :k, 2] = pt
        p[i, :k, 3] = 1
    return JetData(p, jet_type="t")


def test_w1_hand_values():
    assert M.w1([0, 1, 2], [1, 2, 3]) == pytest.approx(1.0)
    assert M.w1([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(0.25)


def test_inverse_variance_mean():
    v, s = M.inverse_variance_mean([1.0, 2.0], [1.0, 0.5])  # weights 1 and 4
    assert v == pytest.approx((1 + 8) / 5) and s == pytest.approx(np.sqrt(1 / 5))


def test_relative_mass_two_particles():
    p = np.zeros((1, 4, 4), np.float32)
    p[0, :2] = [[0.1, 0.05, 0.6, 1], [-0.2, -0.1, 0.4, 1]]
    m2 = 2 * 0.6 * 0.4 * (np.cosh(0.3) - np.cos(0.15))
    assert M.relative_mass(p)[0] == pytest.approx(np.sqrt(m2), rel=1e-5)


def test_w1_of_identical_samples_is_zero():
    j = toy_jets(100)
    assert M.w1m(j, j, num_batches=0) == (0.0, 0.0)
    assert np.all(M.w1p(j, j, num_batches=0)[0] == 0.0)
    assert np.all(M.w1efp(j, j, num_batches=0)[0] == 0.0)
    k = toy_jets(100, shift=0.02, seed=9)
    assert M.w1p(j, k, num_batches=0)[0][0] > 0.01 and M.w1m(j, j, 100, 3)[0] > 0  # resampling noise


def test_w1p_excludes_masked_and_sees_shift():
    a, b = toy_jets(300, seed=1), toy_jets(300, shift=0.05, seed=2)
    means, stds = M.w1p(a, b, 300, 3)
    assert means[0] == pytest.approx(0.05, abs=0.015)  # eta shift, padded zeros not counted
    assert means[1] < 0.02 and means.shape == (3,) and np.all(stds >= 0)


def test_efps_hand_values_and_energyflow_agreement():
    graphs = M.efp_graphs()
    assert len(graphs) == 36
    assert len(M._W1EFP_GRAPHS()) == 5 and all(g in graphs for g in M._W1EFP_GRAPHS())
    p = np.zeros((1, 5, 4), np.float32)
    p[0, :2] = [[0.0, 0.0, 0.7, 1], [0.3, 0.4, 0.3, 1]]
    e = M.efps(p)[0]
    assert e[graphs.index((1, ()))] == pytest.approx(1.0)  # sum of z
    assert e[graphs.index((2, ((0, 1),)))] == pytest.approx(2 * 0.7 * 0.3 * 0.5, rel=1e-6)  # theta = 0.5
    j = toy_jets(6, 20, seed=3)
    j.particles[0, 0, 1], j.particles[0, 1, 1] = 3.1, -3.1  # phi wrap
    a, b = M.efps(j), M.efps(j, backend="energyflow")
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)


def test_frechet_distance_gaussian_closed_form():
    fd = M.frechet_distance(np.array([0.0]), np.array([[4.0]]), np.array([1.0]), np.array([[1.0]]))
    assert fd == pytest.approx(1 + (2 - 1) ** 2)


def test_mmd_matches_direct_sum():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    k = lambda a, b: (a @ b / 3 + 1) ** 4
    direct = (sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / 42
              + sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
              - 2 * np.mean([k(a, b) for a in x for b in y]))
    assert M.mmd_poly_unbiased(x, y) == pytest.approx(direct)


def test_fpd_kpd_detect_shift():
    rng = np.random.default_rng(1)
    x, y, z = rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)) + 0.3
    same = M.fpd(x, y, 500, 2000, num_batches=3, num_points=4, normalise=False)
    shifted = M.fpd(x, z, 500, 2000, num_batches=3, num_points=4, normalise=False)
    assert same[0] < 0.01 and shifted[0] == pytest.approx(2 * 0.3**2, rel=0.25)
    k_same, k_err = M.kpd(x, y, num_batches=5, batch_size=500)
    k_shift, _ = M.kpd(x, z, num_batches=5, batch_size=500)
    assert abs(k_same) < 3 * k_err + 1e-3 and k_shift > 10 * abs(k_same)


def test_evaluate_rows_units_and_table():
    ref, gen = toy_jets(120, seed=4), toy_jets(60, shift=0.05, seed=5)
    rows = M.evaluate_jets(ref, {"shifted": gen}, num_eval_samples=60, num_batches=2, fpd_min_samples=30,
                           fpd_max_samples=60, kpd_batch_size=30)
    assert set(rows) == {"shifted", "IN"}
    assert rows["shifted"]["W1P"][0] > rows["IN"]["W1P"][0] > 0  # x 1e3 units
    assert rows["shifted"]["W1P"][0] == pytest.approx(0.05e3 / 3, rel=0.6)  # eta: 50, phi/pt ~0: weighted
    table = M.format_table(rows)
    assert table.splitlines()[0].startswith("| Model | W1M ×10³") and "| IN |" in table
    with pytest.raises(InputError, match="at least 4"):
        M.evaluate_jets(ref[:3], {"g": gen})


def test_w1p_combined_is_the_plain_mean_with_the_spread_over_resamplings():
    # eta shifted by 0.05: W1 of eta ~50e-3, phi and pt ~0 with smaller spreads; the inverse-variance mean
    # would follow the feature with the smallest spread, the plain mean is (eta + phi + pt) / 3
    ref, gen = toy_jets(150, seed=6), toy_jets(150, shift=0.05, seed=7)
    rows = M.score_jets(ref, gen, num_eval_samples=100, num_batches=4, fpd_min_samples=50, fpd_max_samples=100,
                        kpd_batch_size=50)
    per = rows["details"]["W1P_per_feature"]
    assert list(per) == ["eta_rel", "phi_rel", "pt_rel"]
    assert rows["W1P"][0] == pytest.approx(np.mean([v for v, _ in per.values()]), rel=1e-12)
    batches = M._w1p_batches(ref, gen, 100, 4, 42)
    assert rows["W1P"][1] == pytest.approx(1e3 * np.std(batches.mean(axis=1)), rel=1e-12)
    assert rows["W1P"][0] != pytest.approx(1e3 * M.inverse_variance_mean(*M.w1p(ref, gen, 100, 4))[0], rel=0.05)
    assert len(rows["details"]["W1EFP_per_efp"]) == 5 and "plain mean" in rows["details"]["combination"]
    assert "below the 50000" in rows["details"]["warnings"][0]
