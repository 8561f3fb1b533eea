import subprocess
import sys

import numpy as np
import pytest
from conftest import random_showers

from hepgen import __version__
from hepgen.cli import COMMANDS, main
from hepgen.data import read_showers, write_showers


def run(*args):
    return subprocess.run([sys.executable, "-m", "hepgen", *map(str, args)], capture_output=True, text=True)


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"hepgen {__version__}"
    r = run("--help")
    assert r.returncode == 0
    for _, _, name in COMMANDS:
        assert name in r.stdout


@pytest.mark.parametrize("name", sorted({c[2] for c in COMMANDS}))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert "Usage" in capsys.readouterr().out


def test_info_prints_what_a_physicist_wants(tmp_path, capsys):
    s = random_showers("calochallenge-2", 30, seed=1)
    write_showers(tmp_path / "ds2.h5", s)
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "info", str(tmp_path / "ds2.h5")])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "CaloChallenge HDF5" in out
    assert "showers          30" in out
    assert "calochallenge-2" in out
    assert f"{s.incident_energy.min() / 1e3:.4g} - {s.incident_energy.max() / 1e3:.4g} GeV" in out
    assert f"{s.n_hits().mean():.1f} per shower" in out
    assert f"{(s.visible_energy / s.incident_energy).mean():.4f} mean" in out
    assert "file size" in out


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    import h5py

    with h5py.File(tmp_path / "bad.h5", "w") as h5:
        h5["incident_energies"] = np.ones((2, 1)) * 1e4
    r = run("info", tmp_path / "bad.h5")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.h5" in lines[0] and "'showers'" in lines[0]
    r = run("info", tmp_path / "ds2.h5", "--geometry", "atlas")
    assert r.returncode == 2


def test_convert_refuses_to_overwrite(tmp_path):
    write_showers(tmp_path / "a.h5", random_showers("ild-ecal", 3))
    (tmp_path / "b.h5").write_bytes(b"precious")
    r = run("--quiet", "convert", tmp_path / "a.h5", tmp_path / "b.h5", "--to", "ild")
    assert r.returncode == 2 and "exists" in r.stderr
    assert (tmp_path / "b.h5").read_bytes() == b"precious"
    r = run("--quiet", "convert", tmp_path / "a.h5", tmp_path / "b.h5", "--to", "ild", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert read_showers(tmp_path / "b.h5").geometry.name == "ild-ecal"


def test_simulate_has_showers_and_jets_forms(capsys):
    with pytest.raises(SystemExit) as e:
        main(["simulate", "jets", "--help"])
    assert e.value.code == 0 and "--type" in capsys.readouterr().out
    r = run("simulate", "-d", "ild-ecal", "-n", "3", "-o", "x.h5")  # --energy missing
    assert r.returncode == 2 and "missing --energy" in r.stderr
