"""The segment-wise projection and the block-wise feature pass give the same numbers as the direct products."""

import numpy as np
import pytest
from scipy import sparse

from hepgen.data import ShowerData
from hepgen.evaluate.features import compute_features
from hepgen.evaluate.highlevel import _projection as highlevel_projection
from hepgen.evaluate.observables import _projection as observables_projection
from hepgen.evaluate.projection import SegmentProjection
from hepgen.geometry import get_geometry


def _showers(n, v, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.exponential(1.0, (n, v)) * (rng.random((n, v)) < 0.4)).astype(dtype)


def test_random_sparse_matrix_with_dense_and_sparse_rows_and_long_groups():
    rng = np.random.default_rng(3)
    v = 1300
    groups = np.repeat([0, 1, 2, 3], [700, 13, 300, 287])               # a group longer than max_len is split
    dense = rng.normal(size=(5, v))                                       # rows touching every voxel
    single = sparse.random(40, v, density=0.002, random_state=4).toarray()   # rows touching 1-3 voxels (remainder)
    m = sparse.csr_matrix(np.vstack([dense, single, np.zeros((1, v))]))
    p = SegmentProjection(m, groups, max_len=256)
    assert p.rest is not None and len(p.segments) == 3 + 1 + 2 + 2
    e = _showers(37, v).astype(np.float64)
    e[0] = 0.0
    np.testing.assert_allclose(p(e), (m @ e.T).T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p(e.astype(np.float32)), (m @ e.T).T, rtol=1e-12, atol=1e-12)
    counts = np.stack([(e[:, groups == g] > 0).sum(axis=1) for g in range(4)], axis=1)
    assert np.array_equal(p.count_positive(e), counts)
    assert p(e)[:, -1].tolist() == [0.0] * 37


@pytest.mark.parametrize("name", ["calochallenge-2", "calochallenge-1-pions", "ild-ecal", "belle2-ecl-5x5"])
def test_geometry_projections_equal_the_sparse_product(name):
    g = get_geometry(name)
    e = _showers(20, g.n_voxels, seed=1).astype(np.float64)
    projections = [observables_projection(g)[0]]
    if g.kind == "cylindrical":
        projections.append(highlevel_projection(g)[0])
    for p in projections:
        direct = np.asarray(p.matrix @ e.T).T
        np.testing.assert_allclose(p(e), direct, rtol=1e-12, atol=1e-9 * np.abs(direct).max())


@pytest.mark.parametrize("name", ["calochallenge-2", "ild-ecal"])
def test_features_do_not_depend_on_block_and_chunk_size(name):
    g = get_geometry(name)
    n = 45
    inc = np.geomspace(1e3, 1e5, n)
    data = ShowerData(inc, _showers(n, g.n_voxels, seed=2) * 3.0, g)
    a = compute_features(data, threshold_mev=0.2, block_size=7, chunk_size=20)
    b = compute_features(data, threshold_mev=0.2, block_size=1000, chunk_size=1000)
    assert sorted(a.scalars) == sorted(b.scalars) and len(a) == n
    for k in a.scalars:
        np.testing.assert_allclose(a.scalars[k], b.scalars[k], rtol=1e-12, atol=1e-12, err_msg=k)
    for k in a.profiles:
        np.testing.assert_array_equal(a.profiles[k], b.profiles[k])
    assert np.array_equal(a.cell_counts, b.cell_counts)
    # the threshold acted on the float32 values and the input was not modified in place
    above = np.where(data.energy >= np.float32(0.2), data.energy, 0)
    assert a.cell_counts.sum() == np.count_nonzero(above) and data.energy.min() == 0.0
    np.testing.assert_allclose(a.scalars["E_vis"], above.sum(axis=1, dtype=np.float64), rtol=1e-12)
    assert (data.energy[data.energy > 0] < 0.2).any()


def test_two_processes_give_the_features_of_one(tmp_path):
    from hepgen.data import write_showers
    from hepgen.evaluate.evaluation import _features_of_both

    g = get_geometry("calochallenge-1-photons")
    paths = []
    for i in range(2):
        inc = np.geomspace(1e5, 1e6, 30)
        paths.append(tmp_path / f"s{i}.h5")
        write_showers(paths[-1], ShowerData(inc, _showers(30, g.n_voxels, seed=10 + i) * (50.0 + 10 * i), g))
    one = _features_of_both(*paths, tmp_path / "one", 1.0, None, 16, workers=1)
    two = _features_of_both(*paths, tmp_path / "two", 1.0, None, 16, workers=2)
    assert (tmp_path / "two" / "generated_features.npz").exists()
    for a, b in zip(one, two):
        assert sorted(a.scalars) == sorted(b.scalars)
        for k in a.scalars:
            np.testing.assert_array_equal(a.scalars[k], b.scalars[k], err_msg=k)
        assert np.array_equal(a.cell_counts, b.cell_counts)
    assert not np.array_equal(one[0].scalars["E_vis"], one[1].scalars["E_vis"])   # reference and generated kept apart
