"""Sharded simulation on an existing Dask cluster from the command line (``--scheduler``): a scheduler and two
single-threaded workers run as separate processes on loopback; one worker is killed with SIGKILL mid-run, and the
merged file must still hold every shower exactly once, identical to running the same shards serially."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import hepgen
from hepgen.data import read_showers
from hepgen.data.shards import ShardManifest, merge_shards

distributed = pytest.importorskip("distributed")

SRC = str(Path(hepgen.__file__).resolve().parents[1])
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
       "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "20s"}
SHARD, N_SHARDS = 1000, 6   # belle2-ecl-5x5 GFlash: about 1 s per shard on one core, so the kill lands mid-run
SIM = ["simulate", "-d", "belle2-ecl-5x5", "-e", "uniform:1GeV:5GeV", "--impact", "crystal", "--seed", "5",
       "-n", str(SHARD * N_SHARDS), "--shard-size", str(SHARD)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hepgen_cli(*args) -> list[str]:
    return [sys.executable, "-m", "hepgen", "-q", *map(str, args)]


def stop(processes) -> None:
    for p in processes:
        if p.poll() is None:
            p.kill()
    for p in processes:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass


@pytest.fixture
def cluster(tmp_path):
    """(scheduler address, {worker address: worker process}) of a scheduler + 2 workers (nthreads 1, no nanny)."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "cluster.log", "w")
    processes = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                   "--port", str(port), "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT,
                                  env=ENV)]
    try:
        for i in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads",
                 "1", "--no-nanny", "--no-dashboard", "--memory-limit", "0", "--death-timeout", "60",
                 "--local-directory", str(tmp_path / f"worker{i}")], stdout=log, stderr=subprocess.STDOUT, env=ENV))
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            pids = {pid: a for a, pid in client.run(os.getpid).items()}
        yield address, {pids[p.pid]: p for p in processes[1:]}
    finally:
        stop(processes)
        log.close()


def serial_reference(folder: Path) -> dict:
    """The same manifest's shards simulated one after another in this process, concatenated."""
    from hepgen.cli.simulate import simulate_shard

    m = ShardManifest.load(folder)
    settings = dict(m.settings)
    parts = []
    for shard in m.shards:
        path = folder.parent / f"serial-{shard.file}"
        simulate_shard(shard, path, chunk_size=1000, **settings)
        parts.append(read_showers(path))
    return {"energy": np.concatenate([p.energy for p in parts]),
            "incident_energy": np.concatenate([p.incident_energy for p in parts]),
            "impact_x_mm": np.concatenate([p.labels["impact_x_mm"] for p in parts])}


def test_simulate_on_a_cluster_survives_a_killed_worker(cluster, tmp_path):
    from distributed import Client

    address, workers = cluster
    folder = tmp_path / "shards"
    run = subprocess.Popen(hepgen_cli(*SIM, "--scheduler", address, "-o", folder), env=ENV,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Client(address, timeout=30) as client:
            deadline = time.monotonic() + 45
            while not list(folder.glob("shard-*.h5")):   # the first finished shard: both workers are busy now
                assert run.poll() is None and time.monotonic() < deadline, run.communicate()
                time.sleep(0.02)
            busy = [a for a, keys in client.processing().items() if keys and a in workers]
            assert busy, "no worker was running a shard when the first one finished"
            finished_at_kill = len(list(folder.glob("shard-*.h5")))
            os.kill(workers[busy[0]].pid, signal.SIGKILL)    # a shard half-written in its attempt folder is lost
        out, err = run.communicate(timeout=50)
    finally:
        stop([run])
    assert run.returncode == 0, err
    assert finished_at_kill < N_SHARDS and workers[busy[0]].poll() == -signal.SIGKILL
    assert "wrote 6000 photon showers" in out
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json"] + [f"shard-{i:05d}.h5"
                                                                             for i in range(N_SHARDS)]
    merged = tmp_path / "all.h5"
    merge_shards(folder, merged)
    got = read_showers(merged)
    assert len(got) == SHARD * N_SHARDS
    assert len(np.unique(got.energy, axis=0)) == SHARD * N_SHARDS          # no shower twice
    want = serial_reference(folder)
    assert np.array_equal(got.energy, want["energy"])                       # none lost, none changed, in order
    assert np.array_equal(got.incident_energy, want["incident_energy"])
    assert np.array_equal(got.labels["impact_x_mm"], want["impact_x_mm"])


def test_unreachable_scheduler_is_one_line_naming_the_address(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**ENV, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    started = time.monotonic()
    r = subprocess.run(hepgen_cli(*SIM, "--scheduler", address, "-o", tmp_path / "s"), env=env, capture_output=True,
                       text=True)
    assert r.returncode == 2 and time.monotonic() - started < 30
    assert r.stderr.strip().splitlines() == [f"hepgen: error: cannot reach the Dask scheduler at {address} within "
                                             "1 s (timed out); start it with 'dask scheduler' or give its "
                                             "tcp://host:port"]
