"""The sampling benchmarks (benchmarks/bench_sampling_rules.py, bench_sampling_steps.py): settings parsed and
refused in one line, and the side-by-side timing run end to end on a tiny trained run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_sampling_rules  # noqa: E402
import bench_sampling_steps  # noqa: E402

from hepgen.errors import InputError  # noqa: E402


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_settings_and_variants_are_parsed_or_refused():
    assert bench_sampling_steps.parse_settings(["cell_steps=2", "cell_ode_one_hit=false"]) == {
        "cell_steps": 2, "cell_ode_one_hit": False}
    assert bench_sampling_rules.parse_variants(["a:cell_steps=2", "b:"]) == {"a": {"cell_steps": 2}, "b": {}}
    for bad in (["cell_steps"], ["=2"]):
        with pytest.raises(InputError, match="is not KEY=VALUE"):
            bench_sampling_steps.parse_settings(bad)
    for bad in (["no-colon"], ["a:x=1", "a:x=2"], [":x=1"]):
        with pytest.raises(InputError, match="is not a new NAME:KEY=VALUE"):
            bench_sampling_rules.parse_variants(bad)


def test_side_by_side_timing_of_a_tiny_run(tmp_path):
    from conftest import tiny_config, tiny_data

    from hepgen.training import train

    cfg = tiny_config("calo-cfm", batch_size=24, val_fraction=0.0, num_threads=1)
    run = train("calo-cfm", tiny_data("showers")[:48], tmp_path / "run", cfg, max_epochs=1, seed=0)
    out = tmp_path / "out"
    done = run_benchmark("bench_sampling_rules.py", "--run", str(run), "--out", str(out), "--threads", "1",
                         "--rounds", "2", "--repeats", "1", "--variants", "two:cell_steps=2", "one:cell_steps=1")
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "sampling_rules.json").read_text())
    assert set(result["variants"]) == {"two", "one"} and result["rounds"] == 2
    for row in result["variants"].values():
        assert len(row["ms_per_shower_100"]) == 2 and row["median_ms"] > 0
    assert result["variants"]["one"]["settings"] == {"cell_steps": 1}
    bad = run_benchmark("bench_sampling_rules.py", "--run", str(run), "--out", str(tmp_path / "bad"),
                        "--variants", "x:no_such_setting=1")
    assert bad.returncode == 2 and "no setting no_such_setting" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()
