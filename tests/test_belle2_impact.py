"""GFlash impact points: per-shower labels, the shower centroid follows the impact point, presets, files."""

from __future__ import annotations

import numpy as np
import pytest

from hepgen.data import ShowerFile, read_showers
from hepgen.errors import InputError
from hepgen.simulate import simulate_showers, simulate_to_file
from hepgen.simulate.impact import parse_impact
from hepgen.simulate.presets import sample_preset


def centroid_mm(showers) -> np.ndarray:
    """(N, 2) energy-weighted mean of the crystal centres (mm)."""
    pos = showers.geometry.voxel_positions()
    w = showers.energy.astype(np.float64)
    return np.column_stack([w @ pos["x"], w @ pos["y"]]) / w.sum(1, keepdims=True)


def test_fixed_impact_moves_the_centroid_onto_the_impact_point_30x30():
    # 1 cm crystals: the centroid reproduces the impact point to well below a crystal (Moliere radius ~3.5 cm)
    e = np.full(64, 10e3)
    for point in [(0.0, 0.0), (12.0, -7.0), (-35.0, 20.0)]:
        s = simulate_showers("belle2-ecl-30x30", e, "electron", seed=1, impact=f"{point[0]},{point[1]}")
        c = centroid_mm(s).mean(0)
        assert np.allclose(c, point, atol=1.0), (point, c)
        assert np.allclose(s.labels["impact_x_mm"], point[0]) and s.label_scales["impact_x_mm"] == "linear"


def test_uniform_impact_centroid_tracks_position_5x5_with_the_s_shape():
    s = simulate_showers("belle2-ecl-5x5", np.full(320, 1e3), "electron", seed=2, impact="crystal")
    x = s.labels["impact_x_mm"]
    assert x.min() >= -30 and x.max() < 30 and x.std() > 15               # uniform over the 6 cm crystal
    c = centroid_mm(s)
    for axis, name in enumerate(("impact_x_mm", "impact_y_mm")):
        p = s.labels[name]
        assert np.corrcoef(p, c[:, axis])[0, 1] > 0.9
        slope = np.polyfit(p, c[:, axis], 1)[0]
        assert 0.1 < slope < 1.0        # 6 cm crystals: the centroid is pulled to the crystal centre (s-shape)


def test_no_impact_and_centre_impact_give_the_same_showers():
    e = np.full(40, 1e3)
    a = simulate_showers("belle2-ecl-5x5", e, "electron", seed=3)
    b = simulate_showers("belle2-ecl-5x5", e, "electron", seed=3, impact="center")
    assert np.array_equal(a.energy, b.energy) and not a.labels and sorted(b.labels) == ["impact_x_mm", "impact_y_mm"]


def test_impact_specs_and_errors():
    assert parse_impact("gauss:30").sample(20000, np.random.default_rng(0)).std(0) == pytest.approx([30, 30], rel=0.03)
    assert parse_impact("crystal").resolve("belle2-ecl-30x30").values == (-5.0, 5.0, -5.0, 5.0)
    for bad in ("uniform:3:1", "gauss:-1", "1,2,3", "left"):
        with pytest.raises(InputError, match="impact"):
            parse_impact(bad)
    with pytest.raises(InputError, match="impact points: expected 2 finite"):
        simulate_showers("belle2-ecl-5x5", np.full(2, 1e3), impact=np.zeros((3, 2)))


def test_presets_file_labels_and_resume_identity(tmp_path):
    p = sample_preset("belle2-ecl-5x5-train")
    assert p == {"detector": "belle2-ecl-5x5", "particle": "electron",
                 "energy": "discrete:0.5GeV,1GeV,1.5GeV,2.5GeV", "impact": "uniform:-30:30"}
    assert sample_preset("belle2-ecl-30x30-all")["energy"] == "discrete:10GeV,13GeV,15GeV,20GeV,25GeV"
    with pytest.raises(InputError, match="unknown sample preset"):
        sample_preset("belle2-ecl-7x7-train")
    path = tmp_path / "train.h5"
    simulate_to_file(path, p["detector"], p["energy"], 100, p["particle"], seed=4, impact=p["impact"], quiet=True,
                     chunk_size=32)
    s = read_showers(path)
    assert sorted(np.unique(s.incident_energy)) == [500.0, 1000.0, 1500.0, 2500.0]     # 2 GeV held out
    assert s.label_scales == {"impact_x_mm": "linear", "impact_y_mm": "linear"}
    assert ShowerFile(path).attrs["impact"] == "uniform:-30:30,-30:30"
    # the same seed in one chunk gives the same file (labels included), and equals simulate_showers
    other = tmp_path / "other.h5"
    simulate_to_file(other, p["detector"], p["energy"], 100, p["particle"], seed=4, impact=p["impact"], quiet=True)
    t = read_showers(other)
    assert np.array_equal(s.energy, t.energy) and np.array_equal(s.labels["impact_y_mm"], t.labels["impact_y_mm"])
    direct = simulate_showers("belle2-ecl-5x5", s.incident_energy, "electron", seed=4, impact=p["impact"])
    assert np.array_equal(direct.energy, s.energy)
    assert np.array_equal(direct.labels["impact_x_mm"], s.labels["impact_x_mm"])


def test_cli_preset(tmp_path):
    from hepgen.cli import main

    out = tmp_path / "h.h5"
    with pytest.raises(SystemExit) as exc:
        main(["-q", "simulate", "--preset", "belle2-ecl-5x5-holdout", "-n", "32", "-o", str(out), "--seed", "1",
              "--particle", "photon"])
    assert exc.value.code in (0, None)
    f = ShowerFile(out)
    assert f.attrs["particle"] == "photon" and np.all(f.incident_energy() == 2000.0)
    assert f.label_names == ["impact_x_mm", "impact_y_mm"]
