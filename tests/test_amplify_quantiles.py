"""Quantile cells and the quantile JSD / MSE (Bieringer et al., arXiv:2202.07352, Sec. 3; S. Diefenbacher,
"Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), eq. 5.1.3)."""

import numpy as np
import pytest

from hepgen.amplify import build_quantile_cells, two_sample_jsd, jsd_curve, jsd_from_fractions, quantile_jsd, quantile_mse
from hepgen.amplify.quantiles import GridCells
from hepgen.errors import InputError


@pytest.mark.parametrize("dims,n_cells", [(1, 10), (2, 64), (3, 37), (4, 256)])
def test_cells_of_known_distribution_have_equal_measured_probability(dims, n_cells):
    rng = np.random.default_rng(dims)
    ref = rng.normal(size=(200_000, dims))
    cells = build_quantile_cells(ref, n_cells)
    assert cells.n_cells == n_cells
    assert cells.probabilities.sum() == pytest.approx(1.0)
    assert np.allclose(cells.probabilities, 1 / n_cells, atol=1.01 / len(ref))
    # an independent sample of the same density fills the cells equally up to the multinomial noise
    # of both the reference (which placed the edges) and the sample
    frac = cells.fractions(rng.normal(size=(400_000, dims)))
    sigma = np.sqrt((1 / n_cells) * (1 - 1 / n_cells) * (1 / 400_000 + 1 / len(ref)))
    assert np.max(np.abs(frac - 1 / n_cells)) < 5 * sigma


def test_splits_alternate_dimensions_kd_style():
    ref = np.random.default_rng(0).uniform(size=(100_000, 2))
    cells = build_quantile_cells(ref, 4)
    assert cells.dim[0] == 0 and cells.edge[0] == pytest.approx(0.5, abs=0.01)
    kids = [cells.left[0], cells.right[0]]
    assert all(cells.dim[k] == 1 for k in kids)
    # the four cells are the four quadrants of the unit square
    pts = np.array([[0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]])
    assert sorted(cells.assign(pts).tolist()) == [0, 1, 2, 3]


def test_ties_go_left_consistently_and_probabilities_are_measured():
    ref = np.array([0.0] * 70 + [1.0] * 30)            # the median is tied
    cells = build_quantile_cells(ref, 2)
    assert cells.probabilities.tolist() == [0.7, 0.3]
    assert cells.assign(np.array([0.0, 0.0, 1.0])).tolist() == [0, 0, 1]
    assert quantile_jsd(ref, cells) == 0.0


def test_one_dimensional_cells_are_ordered_empirical_quantiles():
    ref = np.arange(1000.0)
    cells = build_quantile_cells(ref, 10)
    a = cells.assign(ref)
    assert np.all(np.diff(a) >= 0) and np.bincount(a).tolist() == [100] * 10


def test_vectorised_assignment_of_a_million_points():
    rng = np.random.default_rng(1)
    cells = build_quantile_cells(rng.normal(size=(50_000, 2)), 1024)
    a = cells.assign(rng.normal(size=(1_000_000, 2)))
    assert a.shape == (1_000_000,) and a.min() >= 0 and a.max() < 1024


def test_jsd_identical_is_zero_disjoint_is_log2():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(20_000, 2))
    for k in (2, 16, 128):
        cells = build_quantile_cells(ref, k)
        assert quantile_jsd(ref, cells) == 0.0
        # a disjoint sample, binned in cells built on both samples together
        assert two_sample_jsd(ref, ref + 100.0, k) == pytest.approx(np.log(2), abs=1e-12)
        assert two_sample_jsd(ref, ref.copy(), k) == 0.0
    assert jsd_from_fractions(np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.5, 0.5])) == pytest.approx(np.log(2))


def test_jsd_matches_small_sample_expectation_and_sparsity_flags():
    rng = np.random.default_rng(4)
    ref = rng.normal(size=200_000)
    curve = jsd_curve([rng.normal(size=5000) for _ in range(10)], ref, [64, 256, 1024])
    expected = (np.array([64, 256, 1024]) - 1) / (8 * 5000)      # asymptotic multinomial value
    assert np.allclose(curve.mean, expected, rtol=0.25)
    assert curve.sparse.tolist() == [False, False, True]
    assert np.all(curve.std > 0)


def test_quantile_mse_of_analytic_grid():
    g = GridCells([np.array([0.5])])
    assert quantile_mse(np.array([0.1, 0.2, 0.3, 0.9]), g) == pytest.approx(0.0625)
    assert quantile_mse(np.array([0.1, 0.9]), g, root=True) == 0.0


def test_bad_input_raises_input_error():
    with pytest.raises(InputError, match="fewer than the 8 quantiles"):
        build_quantile_cells(np.arange(4.0), 8)
    with pytest.raises(InputError, match="finite"):
        build_quantile_cells(np.array([0.0, np.nan, 1.0]), 2)
    cells = build_quantile_cells(np.zeros((10, 2)) + np.arange(10)[:, None], 2)
    with pytest.raises(InputError, match="2-dimensional"):
        cells.assign(np.zeros((3, 3)))
