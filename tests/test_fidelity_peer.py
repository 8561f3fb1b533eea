"""The peer adapter of the fidelity benchmark (benchmarks/peers): the parts that do not need the peer's code, i.e.
argument parsing, the peer's config, its commands, the training clock and the conversion of its output."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_fidelity  # noqa: E402
from peers import calodiffusion, parse_peer  # noqa: E402

from hepgen.data import ShowerData, ShowerFile  # noqa: E402
from hepgen.data.hdf5 import write_showers  # noqa: E402
from hepgen.errors import InputError  # noqa: E402

PEER_CONFIG = """{
    'FILES':['dataset_2_1.hdf5'],
    'EVAL':['dataset_2_2.hdf5'],
    'BIN_FILE': "/home/someone/binning_dataset_2.xml",
    'SHAPE_PAD':[-1,1,45,16,9],
    'BATCH':128,
    'NSTEPS': 400,
    'CHECKPOINT_NAME':'dataset2_mar19',
}
"""


def fake_checkout(root: Path, submodule: bool = True) -> Path:
    (root / "calodiffusion" / "configs").mkdir(parents=True)
    (root / "calodiffusion" / "configs" / "config_dataset2.json").write_text(PEER_CONFIG)
    for name in ("training.py", "inference.py"):
        (root / "calodiffusion" / name).write_text("")
    if submodule:
        (root / "HGCalShowers").mkdir()
        (root / "HGCalShowers" / "HGCalGeo.py").write_text("")
    return root


def test_peer_option_parsing():
    assert parse_peer("CaloDiffusion=/x/CaloDiffusion") == ("calodiffusion", Path("/x/CaloDiffusion"))
    for bad, message in (("calodiffusion", "NAME=CHECKOUT_PATH"), ("calodiffusion=", "NAME=CHECKOUT_PATH"),
                         ("calodream=/x", "unknown peer 'calodream'")):
        with pytest.raises(ValueError, match=message):
            parse_peer(bad)
    args = bench_fidelity.build_parser().parse_args(
        ["--workdir", "w", "--models", "", "--peer", "calodiffusion=/a", "--peer", "calodiffusion=/b"])
    assert args.peer == ["calodiffusion=/a", "calodiffusion=/b"] and args.peer_sample_steps == 200
    assert bench_fidelity.parse_models(args.models) == []


def test_checkout_check_names_the_missing_submodule(tmp_path):
    with pytest.raises(InputError, match="not a CaloDiffusion checkout"):
        calodiffusion.check_checkout(tmp_path)
    checkout = fake_checkout(tmp_path / "peer", submodule=False)
    with pytest.raises(InputError, match="HGCalShowers submodule"):
        calodiffusion.check_checkout(checkout)
    (checkout / "HGCalShowers").mkdir()
    (checkout / "HGCalShowers" / "HGCalGeo.py").write_text("")
    assert calodiffusion.check_checkout(checkout) == checkout.resolve()


def test_config_keeps_the_peers_hyperparameters_and_points_at_our_files(tmp_path):
    checkout = fake_checkout(tmp_path / "peer")
    out = tmp_path / "work" / "config.json"
    calodiffusion.write_config(checkout, "calochallenge-2", out, "train.hdf5", "reference.hdf5")
    config = json.loads(out.read_text())
    assert config["FILES"] == ["train.hdf5"] and config["EVAL"] == ["reference.hdf5"]
    assert config["CHECKPOINT_NAME"] == calodiffusion.CHECKPOINT_NAME
    assert Path(config["BIN_FILE"]).name == "binning_dataset_2.xml" and Path(config["BIN_FILE"]).is_file()
    assert (config["BATCH"], config["NSTEPS"], config["SHAPE_PAD"]) == (128, 400, [-1, 1, 45, 16, 9])
    with pytest.raises(InputError, match="not 'ild-ecal'"):
        calodiffusion.write_config(checkout, "ild-ecal", out, "a", "b")


def test_commands_use_paths_relative_to_the_checkout(tmp_path):
    checkout, folder = tmp_path / "peer", tmp_path / "work" / "peer-calodiffusion"
    cmd = calodiffusion.train_command("python", checkout, folder, "diffusion", resume=False)
    assert cmd[:3] == ["python", "-m", "calodiffusion.training"] and cmd[-1] == "diffusion" and "--load" not in cmd
    assert cmd[cmd.index("--checkpoint") + 1] == "../work/peer-calodiffusion/checkpoints"
    gen = calodiffusion.generate_command("python", checkout, folder, 300, folder / "out.h5", steps=50)
    assert gen[gen.index("-n") + 1] == "300" and gen[gen.index("--sample-steps") + 1] == "50"
    assert gen[gen.index("--batch-size") + 1] == "100"
    assert gen[gen.index("--layer-model") + 1] == "../work/peer-calodiffusion/checkpoints/hepgen_LayerModel/checkpoint.pth"
    links = calodiffusion.link_data(folder, tmp_path / "a.h5", tmp_path / "b.h5")
    assert sorted(p.name for p in links.iterdir()) == ["reference.hdf5", "train.hdf5"]


FAKE_PEER = textwrap.dedent("""
    import time
    print("loading data")
    time.sleep(0.5)
    for epoch in range(1000):
        print("Beginning epoch %i" % epoch, flush=True)
        time.sleep(0.3)
        print("SAVING")
        time.sleep(0.1)
""")


def test_the_training_clock_starts_at_the_first_epoch_and_stops_the_peer(tmp_path):
    script = tmp_path / "peer.py"
    script.write_text(FAKE_PEER)
    saved = []
    result = calodiffusion.supervise([sys.executable, str(script)], tmp_path, calodiffusion.peer_env(1, "cpu"),
                                     tmp_path / "log.txt", 1.5, lambda s, e: saved.append((s, e)))
    assert result["stopped"] and result["startup_s"] >= 0.4
    assert 1.5 <= result["trained_s"] < 3.0
    assert result["epochs_saved"] >= 2 and saved[-1][1] == result["epochs_saved"]
    assert all(s <= result["trained_s"] for s, _ in saved)
    assert "training budget spent" in (tmp_path / "log.txt").read_text()


def reference_file(path: Path, n: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    inc = np.exp(rng.uniform(np.log(1e3), np.log(1e6), n))
    write_showers(path, ShowerData(inc, rng.exponential(1e-3, (n, 6480)).astype(np.float32), "calochallenge-2"))
    return inc


def peer_file(path: Path, inc: np.ndarray, showers: np.ndarray) -> None:
    with h5py.File(path, "w") as h5:  # what the peer writes: float32 after its energy scaling round trip
        h5.create_dataset("showers", data=showers.astype(np.float32))
        h5.create_dataset("incident_energies", data=(inc.reshape(-1, 1) * 200.0).astype(np.float32) / 200.0)


def test_conversion_to_a_hepgen_file_at_the_reference_energies(tmp_path):
    inc = reference_file(tmp_path / "ref.h5")
    showers = np.full((4, 6480), 0.01, dtype=np.float32)
    showers[1, 7] = -0.005
    peer_file(tmp_path / "peer.h5", inc, showers)
    info = calodiffusion.convert(tmp_path / "peer.h5", tmp_path / "ref.h5", tmp_path / "gen.h5", "calochallenge-2")
    assert info["n"] == 4 and info["negative_voxels"] == 1 and info["max_energy_mismatch"] < 1e-6
    data = ShowerFile(tmp_path / "gen.h5").read()
    np.testing.assert_array_equal(data.incident_energy, inc)
    assert data.energy[1, 7] == 0.0 and data.energy.sum() == pytest.approx(0.01 * (4 * 6480 - 1), rel=1e-4)

    peer_file(tmp_path / "shuffled.h5", inc[::-1], showers)
    with pytest.raises(InputError, match="incident energies differ"):
        calodiffusion.convert(tmp_path / "shuffled.h5", tmp_path / "ref.h5", tmp_path / "x.h5", "calochallenge-2")
    showers[2, 3] = np.nan
    peer_file(tmp_path / "nan.h5", inc, showers)
    with pytest.raises(InputError, match="index 2: non-finite"):
        calodiffusion.convert(tmp_path / "nan.h5", tmp_path / "ref.h5", tmp_path / "x.h5", "calochallenge-2")


def test_the_peer_row_in_the_table():
    record = {"model": "CaloDiffusion (peer, own code abc1234)", "peer": True, "budget_s": 1800, "max_load": 1.2,
              "counts": True, "paper": calodiffusion.PAPER, "commit": "abc1234",
              "training": {"trained_s": 1795.0, "epochs": "layer 20 + diffusion 3",
                           "phases": {"layer": {"trained_s": 360}, "diffusion": {"trained_s": 1435}}},
              "generation": {"sample_steps": 200, "batch": 100}, "ms_per_shower": {"1": None, "100": 812.0},
              "evaluation": {"default": {"auc": {"low_level": {"value": 0.99, "error": 0.001}},
                                         "worst_separation_powers": []}}}
    text = bench_fidelity.markdown([record], None, "")
    assert "| CaloDiffusion (peer, own code abc1234) | 30 min | 1795 (layer 20 + diffusion 3) | 1.20 |" in text
    assert "| 812 |" in text and "arXiv:2308.03876" in text and "layer 360 s, diffusion 1435 s" in text
