"""Data-parallel training with Lightning DDP: 2 CPU processes (gloo) through the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from hepgen.data import write_showers


def test_train_two_process_ddp_splits_batches_and_rank0_writes(tmp_path, make_showers):
    write_showers(tmp_path / "d.h5", make_showers("belle2-ecl-10x10", 64, seed=3))
    (tmp_path / "c.yaml").write_text("params: {width: 8, noise_dim: 4, constrainer_steps: 2}\n"
                                     "training: {batch_size: 8, val_fraction: 0.0}\n")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "hepgen", "-q", "train", "-d", str(tmp_path / "d.h5"), "-o", str(tmp_path / "run"),
           "-m", "wgan", "-c", str(tmp_path / "c.yaml"), "--max-epochs", "2", "--devices", "2", "--strategy", "ddp"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("trained; run directory") == 2  # both ranks finished
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["status"] == "finished" and state["n_parameters"] > 0
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    # 64 showers / batch 8 = 8 batches per epoch, split over 2 ranks: 4 per rank and epoch; 2 epochs
    # minus 2 constrainer pre-training steps = 6 critic steps (one process alone would make 14)
    assert int(ckpt["state_dict"]["model.critic_steps"]) == 6
    assert len((tmp_path / "run" / "logs" / "metrics.jsonl").read_text().splitlines()) == 2  # rank 0 logs only
    assert not list((tmp_path / "run" / "checkpoints").glob(".*tmp*"))  # no stray temporary checkpoints
