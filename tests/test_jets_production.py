"""Pythia 8 + FastJet production: 100 jets per type, JetNet layout, physics sanity, seeds, resume."""

import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from hepgen.data import JetData, read_jets  # noqa: E402
from hepgen.data.jetwriter import JetChunkStore  # noqa: E402
from hepgen.errors import InputError  # noqa: E402
from hepgen.simulate.jets import JetProduction, generate_chunk, jet_to_particles, simulate_jets  # noqa: E402


@pytest.fixture(scope="module")
def samples():
    return {t: generate_chunk(JetProduction(t, 100, 30, seed=7, chunk_size=100), 0) for t in "gqtwz"}


def test_layout_and_features(samples):
    for t, j in samples.items():
        p = j.particles
        assert p.shape == (100, 30, 4) and j.jet_type == t
        pt = p[..., 2]
        assert np.all(np.diff(pt, axis=1) <= 1e-7)  # ordered by decreasing pt
        assert np.all((p[..., 1] >= -np.pi) & (p[..., 1] < np.pi))
        assert np.all(pt.sum(1) <= 1 + 1e-5)
        assert np.all(p[..., :3][p[..., 3] == 0] == 0)
        np.testing.assert_array_equal(j.jets[:, 3], j.n_particles)
        assert 800 < np.median(j.jets[:, 0]) < 1100  # jet pt GeV around the 1 TeV partons


def test_mass_peaks(samples):
    mass = {t: j.jets[:, 2] for t, j in samples.items()}
    assert 65 < np.median(mass["w"]) < 95
    assert 75 < np.median(mass["z"]) < 105
    assert np.mean((mass["t"] > 140) & (mass["t"] < 210)) > 0.3
    assert np.median(mass["t"]) > np.median(mass["w"])


def test_jet_to_particles_wraps_phi():
    px, py = np.array([100.0, 50.0]), np.array([-1.0, 1.0])  # phi just below and above pi
    px, py = -px, np.array([-1.0, 1.0])
    p, j = jet_to_particles(px, py, np.zeros(2), np.hypot(px, py), 4)
    assert np.all(np.abs(p[:2, 1]) < 0.05)


def test_seed_reproducible_and_resume(tmp_path):
    prod = JetProduction("w", 20, 30, seed=3, chunk_size=10)
    first = generate_chunk(prod, 1)
    np.testing.assert_array_equal(first.particles, generate_chunk(prod, 1).particles)
    assert not np.array_equal(first.particles, generate_chunk(prod, 0).particles)
    out = tmp_path / "w.h5"
    from dataclasses import asdict

    store = JetChunkStore(out, asdict(prod))
    marker = JetData(np.tile(first.particles[:1], (10, 1, 1)), jet_type="w")
    store.save(1, marker)  # a finished chunk from an "interrupted" run is kept
    simulate_jets(prod, out, workers=1)
    got = read_jets(out)
    assert len(got) == 20
    np.testing.assert_array_equal(got.particles[10:], marker.particles)
    np.testing.assert_array_equal(got.particles[:10], generate_chunk(prod, 0).particles)
    with pytest.raises(InputError, match="exists"):
        simulate_jets(prod, out)


def test_resume_with_other_settings_refused(tmp_path):
    out = tmp_path / "t.h5"
    JetChunkStore(out, {"jet_type": "t", "seed": 1})
    with pytest.raises(InputError, match="seed"):
        JetChunkStore(out, {"jet_type": "t", "seed": 2})
    with pytest.raises(InputError, match="unknown jet type 'b'"):
        JetProduction("b", 10)
