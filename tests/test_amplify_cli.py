"""``hepgen amplify`` end to end on small shower files, and the observables."""

import json

import numpy as np
import pytest

from hepgen.evaluate.observables import shower_observables
from hepgen.cli import main
from hepgen.data import ShowerData, write_showers


def _showers(n, seed, width=1.0):
    rng = np.random.default_rng(seed)
    e = np.zeros((n, 1, 10, 10), dtype=np.float32)
    cx, cy = 4.5 + rng.normal(0, 0.3, n), 4.5 + rng.normal(0, 0.3, n)
    yy, xx = np.mgrid[0:10, 0:10]
    total = rng.normal(1000, 30, n)
    for i in range(n):
        prof = np.exp(-((xx - cx[i]) ** 2 + (yy - cy[i]) ** 2) / (2 * width ** 2))
        e[i, 0] = total[i] * prof / prof.sum()
    return ShowerData(np.full(n, 1e3), e.reshape(n, -1), "belle2-ecl-10x10")


def test_observables_on_pooled_images():
    s = _showers(3, 0)
    obs = shower_observables(s.energy, s.incident_energy, s.geometry, threshold_mev=0.1, pool=2,
                             names=["E_vis", "E_peak", "CG_x", "CG_y", "E_pixel", "n_active"])
    assert np.all(obs["E_vis"] <= s.visible_energy + 1e-3) and np.all(obs["n_active"] <= 25)
    no_cut = shower_observables(s.energy, s.incident_energy, s.geometry, threshold_mev=0.0, pool=2,
                                names=["E_vis", "n_active"])
    assert no_cut["E_vis"] == pytest.approx(s.visible_energy, rel=1e-5) and np.all(no_cut["n_active"] == 25)
    assert np.all(obs["E_peak"] <= obs["E_vis"]) and np.all((obs["CG_x"] > 1.5) & (obs["CG_x"] < 3.5))
    assert obs["E_pixel"].min() >= 5.0 and len(obs["E_pixel"]) <= 3 * 25


def test_amplify_command_writes_table_json_and_plots(tmp_path, capsys):
    for name, n, seed in [("train", 300, 1), ("gen", 3000, 2), ("ref", 6000, 3)]:
        write_showers(tmp_path / f"{name}.h5", _showers(n, seed))
    out = tmp_path / "amp"
    args = ["--quiet", "amplify", "--train", str(tmp_path / "train.h5"), "--generated", str(tmp_path / "gen.h5"),
            "--reference", str(tmp_path / "ref.h5"), "-o", str(out), "--observable", "E_vis",
            "--observable", "CG_x+CG_y", "--observable", "E_pixel", "--sizes", "300,1000,3000", "--replicates", "3",
            "--pool", "2", "--baselines", "kde,hist", "--baseline-samples", "20000", "--hist-splits", "10",
            "--max-n-quant", "256"]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 0
    result = json.loads((out / "amplify.json").read_text())
    assert set(result["sets"]) == {"E_vis", "CG_x+CG_y", "E_pixel"}
    ev = result["sets"]["E_vis"]
    assert set(ev["curves"]) >= {"reference 300", "reference 1000", "reference 3000", "train", "generated", "kde", "hist"}
    # the generated sample is drawn from the truth: its equivalent size is about its own size, 3000
    fine = [e for e in ev["equivalent"]["generated"]["multinomial"] if e["n_quant"] == 256][0]
    assert 1500 < fine["value"] < 6000
    assert (out / "amplify_CG_x_CG_y.png").stat().st_size > 1000
    assert "| E_vis | generated |" in (out / "amplify.md").read_text()
    # a second run refuses to overwrite, with one line and exit code 2
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "exists" in capsys.readouterr().err


def test_amplify_command_rejects_unknown_observable(tmp_path, capsys):
    write_showers(tmp_path / "a.h5", _showers(20, 0))
    a = str(tmp_path / "a.h5")
    with pytest.raises(SystemExit) as exit_:
        main(["amplify", "--train", a, "--generated", a, "--reference", a, "-o", str(tmp_path / "o"),
              "--observable", "E_foo"])
    assert exit_.value.code == 2 and "E_foo" in capsys.readouterr().err
