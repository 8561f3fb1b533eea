"""CALICE-style ROOT hit trees: import (uproot), export, exact round trips, cuts, selections, bad input."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from hepgen.cli import main
from hepgen.data import ShowerData, read_showers, write_showers
from hepgen.data.calice import HitTreeLayout, import_hit_tree, read_hit_tree, select_showers, write_hit_tree
from hepgen.data.convert import convert_file
from hepgen.errors import InputError
from hepgen.geometry import get_geometry

GEO = get_geometry("calice-ahcal-2018")


def write_tree(path, events, tree="bigtree", beam=True, names=None, energy_dtype=np.float64, extra=None):
    """A ROOT file written with uproot: ``events`` = list of (event number, beam GeV, [(I, J, K, E_MIP), ...])."""
    names = names or dict(i="ahc_hitI", j="ahc_hitJ", k="ahc_hitK", energy="ahc_hitEnergy")
    counts = np.array([len(h) for _, _, h in events])
    hits = np.array([h for _, _, hh in events for h in hh], dtype=np.float64).reshape(-1, 4)
    data = {names["i"]: ak.unflatten(hits[:, 0].astype(np.int32), counts),
            names["j"]: ak.unflatten(hits[:, 1].astype(np.int32), counts),
            names["k"]: ak.unflatten(hits[:, 2].astype(np.int32), counts),
            names["energy"]: ak.unflatten(hits[:, 3].astype(energy_dtype), counts),
            "eventNumber": np.array([e for e, _, _ in events], dtype=np.int64)}
    if beam:
        data["beamEnergy"] = np.array([b for _, b, _ in events], dtype=np.float64)
    data.update(extra or {})
    with uproot.recreate(path) as f:
        t = f.mktree(tree, {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()})
        t.extend(data)
    return path


def random_events(n, seed=0, n_hits=40):
    """Events with distinct cells, 1-based CALICE indices, energies on a 1/16 MIP grid in [0.25, 60] MIP."""
    rng = np.random.default_rng(seed)
    events = []
    for ev in range(n):
        cells = rng.choice(GEO.n_voxels, n_hits, replace=False)
        k, j, i = np.unravel_index(cells, GEO.shape)
        e = rng.integers(4, 960, n_hits) / 16.0
        events.append((1000 + 3 * ev, [40.0, 80.0, 160.0][ev % 3],
                       list(zip(i + 1, j + 1, k + 1, e))))
    return events


def dense(events, mip_mev):
    out = np.zeros((len(events), GEO.n_voxels), np.float32)
    for row, (_, _, hits) in enumerate(events):
        for i, j, k, e in hits:
            out[row, np.ravel_multi_index((k - 1, j - 1, i - 1), GEO.shape)] = np.float32(e * mip_mev)
    return out


def hits_of(path, tree="bigtree"):
    t = uproot.open(path)[tree]
    a = t.arrays(["ahc_hitI", "ahc_hitJ", "ahc_hitK", "ahc_hitEnergy", "eventNumber", "beamEnergy"], library="np")
    out = []
    for n in range(len(a["eventNumber"])):
        cells = sorted(zip(a["ahc_hitK"][n].tolist(), a["ahc_hitJ"][n].tolist(), a["ahc_hitI"][n].tolist(),
                           a["ahc_hitEnergy"][n].tolist()))
        out.append((int(a["eventNumber"][n]), float(a["beamEnergy"][n]), cells))
    return out


def test_root_round_trip_is_exact(tmp_path):
    events = random_events(7)
    src = write_tree(tmp_path / "tb.root", events)
    # ROOT -> HDF5: every hit lands in its cell with energy x MIP value, beam energy in MeV, event numbers kept
    assert convert_file(src, tmp_path / "tb.h5", root={"mip_mev": 0.5}) == 7
    s = read_showers(tmp_path / "tb.h5")
    assert s.geometry.name == "calice-ahcal-2018"
    assert np.array_equal(s.energy, dense(events, 0.5))
    assert s.incident_energy.tolist() == [e * 1e3 for _, e, _ in events]
    assert s.labels["event_number"].tolist() == [float(n) for n, _, _ in events]
    # HDF5 -> ROOT: the same hits (cell order aside), energies in MIP, bit for bit
    assert convert_file(tmp_path / "tb.h5", tmp_path / "back.root", to="root", root={"mip_mev": 0.5}) == 7
    original = [(n, b, sorted((k, j, i, e) for i, j, k, e in h)) for n, b, h in events]
    assert hits_of(tmp_path / "back.root") == original
    # with the calibrated test-beam MIP (26.8 MeV, not a power of two) HDF5 -> ROOT -> HDF5 is exact
    convert_file(tmp_path / "tb.root", tmp_path / "cal.h5")
    convert_file(tmp_path / "cal.h5", tmp_path / "cal.root", to="root")
    convert_file(tmp_path / "cal.root", tmp_path / "cal2.h5", root={"cut_mip": 0.0})
    a, b = read_showers(tmp_path / "cal.h5"), read_showers(tmp_path / "cal2.h5")
    assert np.array_equal(a.energy, b.energy) and np.array_equal(a.incident_energy, b.incident_energy)
    assert np.array_equal(a.energy, dense(events, 26.8))


def test_export_of_simulated_showers_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    e = (rng.exponential(30.0, (5, GEO.n_voxels)) * (rng.random((5, GEO.n_voxels)) < 0.02)).astype(np.float32)
    s = ShowerData(np.array([4e4, 4e4, 8e4, 8e4, 1.6e5]), e, GEO)
    assert write_hit_tree(tmp_path / "s.root", s) == 5
    back = ShowerData.concatenate(list(read_hit_tree(tmp_path / "s.root", cut_mip=0.0, chunk_size=2)))
    assert np.array_equal(back.energy, s.energy)
    assert np.array_equal(back.incident_energy, s.incident_energy)
    assert back.labels["event_number"].tolist() == [0, 1, 2, 3, 4]


def test_training_cut_and_custom_layout(tmp_path):
    hits = [(1, 1, 1, 0.1), (2, 1, 1, 0.19), (3, 1, 1, 0.2), (4, 1, 1, 0.5), (5, 1, 1, 7.0), (5, 1, 1, 1.0)]
    names = dict(i="I", j="J", k="K", energy="E_mip")
    src = write_tree(tmp_path / "t.root", [(5, 40.0, hits)], tree="hits", names=names, beam=False)
    layout = HitTreeLayout.parse("tree=hits,i=I,j=J,k=K,energy=E_mip")
    s = next(read_hit_tree(src, layout=layout, mip_mev=1.0, beam_energy_gev=40.0))
    expected = np.array([0.0, 0.0, 0.2, 0.5, 8.0, 0.0], np.float32)       # < 0.2 MIP dropped; one cell summed
    assert np.array_equal(s.energy[0, :6], expected)
    assert np.count_nonzero(s.energy) == 3 and s.incident_energy.tolist() == [4e4]
    s = next(read_hit_tree(src, layout=layout, mip_mev=1.0, beam_energy_gev=40.0, cut_mip=0.0))
    assert np.count_nonzero(s.energy) == 5
    with pytest.raises(InputError, match="key=value"):
        HitTreeLayout.parse("branch=x")


def shower_event(number, start_layer, beam=40.0, n_layers=37):
    """A MIP track (1.4 MIP, one hit per layer) up to ``start_layer``, then 12 hits of 5 MIP per layer."""
    hits = [(12, 12, k + 1, 1.4) for k in range(min(start_layer, n_layers))]
    for k in range(start_layer, n_layers):
        hits += [(10 + c % 4, 10 + c // 4, k + 1, 5.0) for c in range(12)]
    return (number, beam, hits)


def test_selections_start_layer_and_punch_through(tmp_path):
    events = [shower_event(1, 37), shower_event(2, 2), shower_event(3, 20), shower_event(4, 0), shower_event(5, 4)]
    src = write_tree(tmp_path / "sel.root", events)
    counts = import_hit_tree(src, tmp_path / "sel.h5", max_start_layer=5, min_hits=40)   # the track has 37 hits
    assert counts == {"events": 5, "written": 3, "few_hits": 1, "no_start": 0, "late_start": 1}
    assert read_showers(tmp_path / "sel.h5").labels["event_number"].tolist() == [2, 4, 5]
    counts = import_hit_tree(src, tmp_path / "start.h5", require_start=True)
    assert counts["no_start"] == 1 and counts["written"] == 4
    s = read_showers(tmp_path / "start.h5")
    mask, c = select_showers(s, max_start_layer=3)
    assert s.labels["event_number"][mask].tolist() == [2, 4] and c["late_start"] == 2
    with pytest.raises(InputError, match="no event of 5 passes"):
        import_hit_tree(src, tmp_path / "none.h5", min_hits=10_000)
    assert not (tmp_path / "none.h5").exists()


def test_back_layers_are_dropped_only_when_asked(tmp_path):
    src = write_tree(tmp_path / "k.root", [(1, 40.0, [(1, 1, 37, 2.0), (1, 1, 38, 3.0), (2, 2, 39, 4.0)])])
    with pytest.raises(InputError, match=r"bigtree/ahc_hitK'.*index 0.*index 38 outside .* expected 1-37"):
        next(read_hit_tree(src))
    s = next(read_hit_tree(src, drop_back_layers=True, mip_mev=1.0))
    assert s.energy.sum() == 2.0


@pytest.mark.parametrize("case, pattern", [
    ("tree", r"bad.root: tree 'bigtree' not found; the file holds other"),
    ("branch", r"bad.root: dataset 'bigtree/ahc_hitEnergy': branch missing"),
    ("beam", r"bad.root: dataset 'bigtree/beamEnergy': branch missing: expected the beam energy"),
    ("index", r"bad.root: dataset 'bigtree/ahc_hitI': index 2: index 25 outside the geometry 'calice-ahcal-2018': "
              r"expected 1-24"),
    ("nan", r"bad.root: dataset 'bigtree/ahc_hitEnergy': index 1: hit 1 has energy nan: expected finite"),
    ("lengths", r"bad.root: dataset 'bigtree/ahc_hitJ': index 0: 1 hits where 'ahc_hitI' has 2"),
    ("zero_beam", r"bad.root: dataset 'bigtree/beamEnergy': index 1: beam energy 0.0: expected a finite energy > 0"),
    ("not_root", r"bad.root: not a readable ROOT file"),
])
def test_bad_input_is_one_line_and_overwrites_nothing(tmp_path, capsys, case, pattern):
    path = tmp_path / "bad.root"
    good = [(0, 40.0, [(1, 1, 1, 1.0), (2, 1, 1, 2.0)]), (1, 40.0, [(1, 1, 1, 1.0), (3, 3, 3, 1.0)]),
            (2, 40.0, [(4, 4, 4, 1.0)])]
    if case == "tree":
        write_tree(path, good, tree="other")
    elif case == "branch":
        write_tree(path, good, names=dict(i="ahc_hitI", j="ahc_hitJ", k="ahc_hitK", energy="E"))
    elif case == "beam":
        write_tree(path, good, beam=False)
    elif case == "index":
        write_tree(path, good[:2] + [(2, 40.0, [(25, 1, 1, 1.0)])])
    elif case == "nan":
        write_tree(path, [good[0], (1, 40.0, [(1, 1, 1, 1.0), (2, 2, 2, np.nan)])])
    elif case == "lengths":
        with uproot.recreate(path) as f:
            data = {"ahc_hitI": ak.Array([[1, 2]]), "ahc_hitJ": ak.Array([[1]]), "ahc_hitK": ak.Array([[1, 1]]),
                    "ahc_hitEnergy": ak.Array([[1.0, 2.0]]), "beamEnergy": np.array([40.0])}
            t = f.mktree("bigtree", {k: (v.type.content if isinstance(v, ak.Array) else v.dtype)
                                     for k, v in data.items()})
            t.extend(data)
    elif case == "zero_beam":
        write_tree(path, [good[0], (1, 0.0, good[1][2])])
    else:
        path.write_bytes(b"this is not ROOT" * 10)
    target = tmp_path / "out.h5"
    write_showers(target, ShowerData([4e4], np.zeros((1, GEO.n_voxels)), GEO))
    before = target.read_bytes()
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "convert", str(path), str(target), "--overwrite"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("hepgen: error: ")
    import re
    assert re.search(pattern, err), err  # noqa: E501
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.root", "out.h5"]


def test_cli_convert_with_selections_and_export(tmp_path, capsys):
    src = write_tree(tmp_path / "run.root", [shower_event(1, 37), shower_event(2, 1), shower_event(3, 30)])
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "convert", str(src), str(tmp_path / "run.h5"), "--max-start-layer", "5"])
    assert e.value.code == 0 and "wrote 1 entries" in capsys.readouterr().out
    s = read_showers(tmp_path / "run.h5")
    assert s.labels["event_number"].tolist() == [2] and s.geometry.name == "calice-ahcal-2018"
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "convert", str(tmp_path / "run.h5"), str(tmp_path / "out.root"), "--to", "root"])
    assert e.value.code == 0
    (n, beam, cells), = hits_of(tmp_path / "out.root")
    assert (n, beam) == (2, 40.0) and len(cells) == 1 + 36 * 12
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "convert", str(tmp_path / "run.h5"), str(tmp_path / "o2.root"), "--to", "root",
              "--geometry", "ild-ecal"])
    assert e.value.code == 2
