"""Hit features, dequantisation, post-processing and the n_hits model (point-cloud showers)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepgen.data import ShowerData, ShowerPoints, points_to_voxels, voxels_to_points
from hepgen.data.hits import HitTransform, linear_dequantize
from hepgen.data.postprocess_hits import rotate_alpha, shift_duplicates
from hepgen.errors import InputError
from hepgen.models.nhits import NHitsModel
from tests.conftest import random_showers


@pytest.fixture(scope="module")
def points() -> ShowerPoints:
    return voxels_to_points(random_showers("calochallenge-2", 12, seed=3, occupancy=0.1))


def test_round_trip_exact_without_dequantisation(points):
    t = HitTransform.fit(points, dequantize="none")
    energy, idx = t.inverse(t.forward(points, np.random.default_rng(0)))
    assert np.array_equal(idx, points.indices)
    np.testing.assert_allclose(energy, points.energy, rtol=2e-5)
    back = points_to_voxels(ShowerPoints(points.incident_energy, points.n_hits, energy, idx, points.geometry))
    np.testing.assert_allclose(back.energy, points_to_voxels(points).energy, rtol=2e-5)


def test_dequantised_hits_stay_in_their_voxel_and_fill_it(points):
    t = HitTransform.fit(points, dequantize="linear", seed=1)
    raw = t._forward_raw(points.energy, points.indices, np.random.default_rng(5))
    for axis, n in enumerate(t.params["bins"]):
        v = 1 / (1 + np.exp(-raw[:, axis + 1]))
        offset = v * n - points.indices[:, axis]
        assert offset.min() >= 0 and offset.max() < 1
        assert offset.std() > 0.2          # spread over the voxel, not at its centre (uniform: 0.289)
    energy, idx = t.inverse(t.forward(points, np.random.default_rng(5)))
    assert np.array_equal(idx, points.indices)
    np.testing.assert_allclose(energy, points.energy, rtol=2e-5)


def test_standardised_features_and_saved_state(points):
    t = HitTransform.fit(points)
    f = t.forward(points, np.random.default_rng(0))
    assert np.all(np.abs(f.mean(0)) < 0.05) and np.all(np.abs(f.std(0) - 1) < 0.05)
    t2 = HitTransform.from_state(json.loads(json.dumps(t.state())))
    assert np.array_equal(t2.forward(points, np.random.default_rng(0)), f)
    # Box-Cox makes the exponential hit energies much closer to Gaussian than the raw energies
    from scipy.stats import skew
    assert abs(skew(f[:, 0])) < 0.5 * abs(skew(points.energy))


def test_linear_dequantisation_follows_the_interpolated_density():
    rng = np.random.default_rng(0)
    u = rng.random(200_000)
    x = linear_dequantize(np.zeros(len(u), int), np.array([1.0, 3.0, 3.0]), u)
    assert x.mean() == pytest.approx(7 / 12, abs=0.003)    # p(x) = (1 + 2x) / 2 on [0, 1)
    flat = linear_dequantize(np.ones(len(u), int), np.array([1.0, 3.0, 3.0]), u)
    assert flat.mean() == pytest.approx(1.5, abs=0.003)    # equal neighbours: uniform
    last = linear_dequantize(np.full(len(u), 2), np.array([1.0, 3.0, 3.0]), u)
    assert np.all((last >= 2) & (last < 3))


def test_fit_refuses_non_positive_hit_energies():
    pts = ShowerPoints([1e4], [2], [1.0, -0.5], [[0, 0, 0], [1, 0, 0]], "calochallenge-2")
    with pytest.raises(InputError, match="must be > 0 MeV"):
        HitTransform.fit(pts)


def test_shift_duplicates_never_loses_energy_and_keeps_the_hardest():
    rng = np.random.default_rng(0)
    n_hits = np.array([300, 50, 1])
    idx = np.column_stack([rng.integers(0, 3, 351), rng.integers(0, 4, 351), rng.integers(0, 3, 351)])
    energy = rng.exponential(1.0, 351).astype(np.float32)
    pts = ShowerPoints([1e4, 2e4, 3e4], n_hits, energy, idx, "calochallenge-2")
    out = shift_duplicates(pts)
    before = np.add.reduceat(energy.astype(np.float64), pts.offsets[:-1])
    after = np.add.reduceat(out.energy.astype(np.float64), out.offsets[:-1])
    np.testing.assert_allclose(after, before, rtol=1e-6)
    flat = out.geometry.flatten_indices(out.indices)
    for s in range(3):
        sl = slice(out.offsets[s], out.offsets[s + 1])
        assert len(np.unique(flat[sl])) == out.n_hits[s]      # one hit per voxel
    assert out.n_hits[2] == 1 and out.n_hits[1] == 50         # enough free cells: nothing merged
    # the hardest hit of a crowded voxel stays there (shower 0 is too crowded: some energy is merged into it)
    f_in = pts.geometry.flatten_indices(idx[:300])
    v = np.bincount(f_in).argmax()
    hardest = energy[:300][f_in == v].max()
    assert out.energy[:out.n_hits[0]][flat[:out.n_hits[0]] == v][0] >= hardest
    f1 = pts.geometry.flatten_indices(idx[300:350])
    v1 = np.bincount(f1).argmax()
    kept = out.energy[out.offsets[1]:out.offsets[2]][flat[out.offsets[1]:out.offsets[2]] == v1]
    assert kept.tolist() == [energy[300:350][f1 == v1].max()]


def test_shift_duplicates_merges_when_no_cell_is_free():
    # a full 45x16x9 shower plus 3 extra hits: nowhere to go, their energy joins the occupied voxel
    geo_idx = voxels_to_points(ShowerData([1e4], np.ones((1, 6480)), "calochallenge-2")).indices
    idx = np.concatenate([geo_idx, geo_idx[:3]])
    energy = np.concatenate([np.ones(6480), [5.0, 6.0, 7.0]]).astype(np.float32)
    out = shift_duplicates(ShowerPoints([1e4], [6483], energy, idx, "calochallenge-2"), max_distance=1)
    assert out.n_hits.tolist() == [6480]
    assert float(out.energy.sum()) == pytest.approx(6480 + 18)
    flat = out.geometry.flatten_indices(out.indices)
    assert np.all(out.energy[np.argsort(flat)][:3] >= [5.0, 6.0, 7.0])   # the hardest keep their voxels


def test_rotate_alpha_keeps_layer_and_radial_profiles(points):
    out = rotate_alpha(points, np.random.default_rng(0))
    a, b = points_to_voxels(points).view(), points_to_voxels(out).view()
    np.testing.assert_allclose(a.sum(2), b.sum(2), rtol=1e-6)   # per (layer, radius)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("kind", ["kde", "poly"])
def test_nhits_model_follows_the_energy_dependence(kind):
    rng = np.random.default_rng(1)
    e = np.exp(rng.uniform(np.log(1e3), np.log(1e5), 3000))
    n = np.round(80 * np.log(e / 300) + rng.normal(0, 8, len(e)))
    m = NHitsModel.from_state(json.loads(json.dumps(NHitsModel.fit(e, n, kind=kind).state())))
    for energy in (2e3, 3e4):
        s = m.sample(np.full(3000, energy), np.random.default_rng(2))
        assert s.mean() == pytest.approx(80 * np.log(energy / 300), abs=4)
        assert 5 < s.std() < 14
    with pytest.raises(InputError):
        NHitsModel.fit(e, n, kind="spline")


def test_inverse_of_wild_generated_features_stays_finite_and_on_the_grid(points):
    t = HitTransform.fit(points)
    f = np.array([[1e3, 0, 0, 0], [np.nan, np.inf, -np.inf, np.nan], [-1e3, 1e9, -1e9, 0]], np.float32)
    energy, idx = t.inverse(f)
    assert np.all(np.isfinite(energy)) and np.all(energy >= 0)
    assert energy.max() <= 10 * points.energy.max() * (1 + 1e-6)
    assert np.all(idx >= 0) and np.all(idx < np.asarray(t.params["bins"]))
