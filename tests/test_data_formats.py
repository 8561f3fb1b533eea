import h5py
import numpy as np
import pytest
from conftest import random_showers

from hepgen.data import (JetData, ShowerData, ShowerFile, ShowerWriter, points_to_voxels, read_jets, read_points,
                         read_showers, voxels_to_points, write_jets, write_showers)
from hepgen.data.convert import convert_file
from hepgen.errors import InputError
from hepgen.geometry import get_geometry, preset_names


@pytest.mark.parametrize("name", preset_names())
def test_calochallenge_round_trip_every_geometry(tmp_path, name):
    s = random_showers(name, 5, seed=3)
    s.labels["visible_energy"] = s.visible_energy
    write_showers(tmp_path / "x.h5", s)
    back = read_showers(tmp_path / "x.h5")
    assert back.geometry == s.geometry
    assert np.array_equal(back.energy, s.energy)
    assert np.array_equal(back.incident_energy, s.incident_energy)
    assert np.allclose(back.labels["visible_energy"], s.visible_energy)


def test_file_is_in_the_official_calochallenge_layout(tmp_path, ds2_showers):
    write_showers(tmp_path / "ds2.h5", ds2_showers)
    with h5py.File(tmp_path / "ds2.h5") as h5:
        assert h5["incident_energies"].shape == (20, 1)
        assert h5["showers"].shape == (20, 6480)
        assert h5["showers"].compression == "gzip"
        assert h5["showers"].dtype == np.float32
        # voxel (layer 2, alpha 3, radius 4) sits at 2*144 + 3*9 + 4
        assert h5["showers"][0, 2 * 144 + 3 * 9 + 4] == ds2_showers.view()[0, 2, 3, 4]


@pytest.mark.parametrize("name,group,shape", [("ild-ecal", "30x30", (30, 30, 30)), ("ild-ahcal", "hcal_only", (48, 25, 25))])
def test_ild_layout_converts_gev(tmp_path, name, group, shape):
    s = random_showers(name, 4, seed=2)
    write_showers(tmp_path / "ild.h5", s, layout="ild")
    with h5py.File(tmp_path / "ild.h5") as h5:
        assert h5[f"{group}/layers"].shape == (4,) + shape
        assert np.allclose(h5[f"{group}/energy"][:, 0], s.incident_energy / 1e3)  # stored in GeV
    back = read_showers(tmp_path / "ild.h5")
    assert np.allclose(back.incident_energy, s.incident_energy)
    assert np.array_equal(back.energy, s.energy)


def test_reading_a_foreign_ild_file_without_attributes(tmp_path):
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "gh.hdf5", "w") as h5:
        h5["30x30/energy"] = rng.uniform(10, 100, (3, 1))
        h5["30x30/layers"] = rng.exponential(0.2, (3, 30, 30, 30)).astype(np.float32) * (rng.random((3, 30, 30, 30)) < 0.05)
    f = ShowerFile(tmp_path / "gh.hdf5")
    assert f.layout.name == "ild" and f.geometry.name == "ild-ecal"
    assert f.read().incident_energy.min() >= 1e4  # 10 GeV in MeV


def test_chunked_writing_equals_one_shot_and_streams(tmp_path):
    s = random_showers("belle2-ecl-10x10", 57, seed=4)
    with ShowerWriter(tmp_path / "chunks.h5", s.geometry, compression="lzf") as w:
        for c in s.chunks(10):
            w.append(c)
    f = ShowerFile(tmp_path / "chunks.h5")
    chunks = list(f.chunks(20))
    assert [len(c) for c in chunks] == [20, 20, 17]
    assert np.array_equal(ShowerData.concatenate(chunks).energy, s.energy)


def test_writer_resumes_a_partial_file_and_refuses_other_settings(tmp_path):
    s = random_showers("belle2-ecl-5x5", 30, seed=5)
    out = tmp_path / "sim.h5"
    w = ShowerWriter(out, s.geometry, resume=True, metadata={"seed": 1})
    w.append(s[:10])
    w.abort()  # killed
    assert not out.exists() and (tmp_path / "sim.partial.h5").exists()
    with pytest.raises(InputError, match="other settings"):
        ShowerWriter(out, s.geometry, resume=True, metadata={"seed": 2})
    w = ShowerWriter(out, s.geometry, resume=True, metadata={"seed": 1})
    assert w.n_written == 10
    w.append(s[10:])
    w.close()
    assert np.array_equal(read_showers(out).energy, s.energy)


def test_writers_never_overwrite(tmp_path, ds2_showers):
    out = tmp_path / "x.h5"
    write_showers(out, ds2_showers[:2])
    before = out.read_bytes()
    with pytest.raises(InputError, match="output file exists; pass --overwrite"):
        write_showers(out, ds2_showers)
    assert out.read_bytes() == before
    write_showers(out, ds2_showers, overwrite=True)
    assert len(ShowerFile(out)) == 20


def _bad_file(path, incident, showers, incident_key="incident_energies", showers_key="showers"):
    with h5py.File(path, "w") as h5:
        if incident is not None:
            h5[incident_key] = incident
        if showers is not None:
            h5[showers_key] = showers
    return path


@pytest.mark.parametrize("incident,showers,message", [
    (np.ones((2, 1)) * 1e4, None, "dataset 'showers': dataset missing"),
    (None, np.zeros((2, 6480)), "dataset 'incident_energies': dataset missing"),
    (np.ones((2, 1)) * 1e4, np.zeros((2, 6000)), "6000 voxels per shower match no built-in geometry"),
    (np.ones((3, 1)) * 1e4, np.zeros((2, 6480)), r"incident energies of shape \(3, 1\) for 2 showers"),
    (np.ones((0, 1)), np.zeros((0, 6480)), "file holds no showers"),
    (np.array([[1e4], [np.nan]]), np.zeros((2, 6480)), "index 1: NaN or infinite incident energy"),
    (np.ones((2, 1)) * 1e4, np.where(np.arange(6480) == 7, np.inf, 0.0)[None].repeat(2, 0), "index 0: NaN or infinite voxel"),
    (np.ones((2, 1)) * 1e4, np.where(np.arange(6480) == 7, -3.0, 0.0)[None].repeat(2, 0), "index 0: negative voxel energy -3"),
    (np.array([[10.0], [50.0]]), np.full((2, 6480), 0.01), "look like GeV where MeV is expected"),
])
def test_malformed_files_give_one_clear_error(tmp_path, incident, showers, message):
    path = _bad_file(tmp_path / "bad.h5", incident, showers)
    with pytest.raises(InputError, match=message) as err:
        read_showers(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_empty_and_wrong_kind_of_files(tmp_path, ds2_showers):
    write_showers(tmp_path / "ok.h5", ds2_showers)
    data = (tmp_path / "ok.h5").read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_showers(tmp_path / "trunc.h5")
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(InputError, match="file is empty"):
        read_showers(tmp_path / "empty.h5")
    with pytest.raises(InputError, match="file not found"):
        read_showers(tmp_path / "nope.h5")
    with pytest.raises(InputError, match="does not fit geometry 'calochallenge-3'"):
        read_showers(tmp_path / "ok.h5", geometry="calochallenge-3")


def test_point_cloud_round_trip_is_exact(tmp_path):
    for name in ("calochallenge-1-photons", "calochallenge-2", "ild-ecal"):
        s = random_showers(name, 6, seed=7, occupancy=0.05)
        pts = voxels_to_points(s)
        assert pts.n_hits.tolist() == s.n_hits().tolist()
        assert np.array_equal(points_to_voxels(pts).energy, s.energy)
        padded, mask = pts.padded()
        assert padded.shape == (6, pts.n_hits.max(), 4) and mask.sum() == pts.n_hits.sum()
    write_showers(tmp_path / "v.h5", s)
    convert_file(tmp_path / "v.h5", tmp_path / "p.h5", to="points")
    assert np.array_equal(points_to_voxels(read_points(tmp_path / "p.h5")).energy, s.energy)


def test_convert_calochallenge_to_ild_and_back(tmp_path):
    s = random_showers("ild-ecal", 8, seed=8)
    write_showers(tmp_path / "cc.h5", s)
    convert_file(tmp_path / "cc.h5", tmp_path / "ild.h5", to="ild", chunk_size=3)
    convert_file(tmp_path / "ild.h5", tmp_path / "cc2.h5", to="calochallenge", chunk_size=5)
    assert np.array_equal(read_showers(tmp_path / "cc2.h5").energy, s.energy)
    with pytest.raises(InputError, match="ILD layout holds"):
        write_showers(tmp_path / "x.h5", random_showers("belle2-ecl-5x5", 2), layout="ild")


@pytest.mark.parametrize("suffix", [".h5", ".npz", ".npy"])
def test_jetnet_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    p = np.zeros((10, 30, 4), np.float32)
    n = rng.integers(1, 30, 10)
    for i, k in enumerate(n):
        p[i, :k, 0:2] = rng.normal(0, 0.1, (k, 2))
        p[i, :k, 2] = np.sort(rng.dirichlet(np.ones(k)))[::-1]
        p[i, :k, 3] = 1
    jets = JetData(p, jet_type="t")
    write_jets(tmp_path / f"j{suffix}", jets)
    back = read_jets(tmp_path / f"j{suffix}")
    assert np.array_equal(back.particles, p)
    assert back.n_particles.tolist() == n.tolist()
    if suffix != ".npy":
        assert np.array_equal(back.jets, jets.jets)


def test_jet_features_are_physical():
    # two massless particles back to back in phi at small angle: m^2 = 2 pt1 pt2 (cosh(deta) - cos(dphi))
    p = np.zeros((1, 4, 4), np.float32)
    p[0, 0] = [0.0, 0.05, 0.5, 1]
    p[0, 1] = [0.0, -0.05, 0.5, 1]
    pt, eta, m, n = JetData(p).jets[0]
    assert m == pytest.approx(np.sqrt(2 * 0.25 * (1 - np.cos(0.1))), rel=1e-5)
    assert n == 2 and eta == pytest.approx(0.0, abs=1e-6)


def test_bad_jet_files(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((3, 30, 3), np.float32))
    with pytest.raises(InputError, match=r"expected shape \(N, n_particles, 4\)"):
        read_jets(tmp_path / "bad.npy")
    p = np.zeros((3, 5, 4), np.float32)
    p[1, 0, 2] = np.nan
    np.save(tmp_path / "nan.npy", p)
    with pytest.raises(InputError, match="index 1: NaN"):
        read_jets(tmp_path / "nan.npy")


def test_showerdata_operations():
    s = random_showers("calochallenge-2", 12, seed=9)
    assert s.view().shape == (12, 45, 16, 9)
    assert np.allclose(s.layer_energy().sum(1), s.visible_energy, rtol=1e-5)
    assert np.allclose(s.layer_energy()[:, 3], s.view()[:, 3].sum((1, 2)), rtol=1e-5)
    a, b = s.split(0.25, seed=1)
    assert (len(a), len(b)) == (3, 9)
    assert sorted(np.concatenate([a.incident_energy, b.incident_energy])) == sorted(s.incident_energy)
    assert len(s[3]) == 1 and len(s[-1]) == 1 and s[-1].incident_energy[0] == s.incident_energy[-1]
    with pytest.raises(InputError, match="expected energy of shape"):
        ShowerData(np.ones(2), np.zeros((2, 10)), "calochallenge-2")
    with pytest.raises(InputError, match="use layer"):
        random_showers("calochallenge-1-photons", 2).view()
    assert get_geometry("calochallenge-2") is s.geometry
