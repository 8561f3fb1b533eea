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
SHARD, N_SHARDS = 600, 6   # belle2-ecl-5x5 GFlash: about 0.5 s per shard on one core, so the kill lands mid-run
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


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """(address, log file) of a Dask scheduler process on a free loopback port."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("dask") / "scheduler.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                "--port", str(port), "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=ENV)
    try:
        yield f"tcp://127.0.0.1:{port}", log
    finally:
        stop([process])
        log.close()


@pytest.fixture
def cluster(scheduler, tmp_path):
    """(scheduler address, {worker address: worker process}) with 2 fresh workers (nthreads 1, no nanny)."""
    from distributed import Client

    address, log = scheduler
    workers = []
    try:
        for i in range(2):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads",
                 "1", "--no-nanny", "--no-dashboard", "--memory-limit", "0", "--death-timeout", "60",
                 "--local-directory", str(tmp_path / f"worker{i}")], stdout=log, stderr=subprocess.STDOUT, env=ENV))
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            pids = {pid: a for a, pid in client.run(os.getpid).items()}
        yield address, {pids[p.pid]: p for p in workers}
    finally:
        stop(workers)
        with Client(address, timeout=30) as client:   # the next test starts with no worker of this one
            deadline = time.monotonic() + 30
            while client.scheduler_info(n_workers=-1)["workers"] and time.monotonic() < deadline:
                time.sleep(0.05)


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
    assert f"wrote {SHARD * N_SHARDS} photon showers" in out
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


def test_unreachable_scheduler_is_one_line_naming_the_address(tmp_path, capsys):
    import dask.config

    from hepgen.cli import main

    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(SystemExit) as e:
        main(["-q", *SIM, "--scheduler", address, "-o", str(tmp_path / "s")])
    assert e.value.code == 2 and time.monotonic() - started < 20
    assert capsys.readouterr().err.strip().splitlines() == [
        f"hepgen: error: cannot reach the Dask scheduler at {address} within 1 s (timed out); start it with "
        "'dask scheduler' or give its tcp://host:port"]


def test_generate_on_a_cluster_matches_the_serial_shards(cluster, tmp_path):
    from conftest import TINY_PARAMS, random_showers

    from hepgen.data import write_showers
    from hepgen.progress import set_quiet
    from hepgen.training import generate, train

    address, _ = cluster
    set_quiet(True)
    write_showers(tmp_path / "train.h5", random_showers("belle2-ecl-5x5", 64, seed=3))
    run = train("wgan", tmp_path / "train.h5", tmp_path / "run",
                {"params": TINY_PARAMS["wgan"], "training": {"batch_size": 16}}, max_epochs=1)
    options = ["-n", 40, "-e", "uniform:1GeV:5GeV", "--seed", 2, "--shard-size", 10, "--batch-size", 8]
    r = subprocess.run(hepgen_cli("generate", run, *options, "--scheduler", address, "-o", tmp_path / "cluster"),
                       env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    generate(run, 40, "uniform:1GeV:5GeV", tmp_path / "serial", seed=2, shard_size=10, batch_size=8, engine="serial")
    assert merge_shards(tmp_path / "cluster", tmp_path / "cluster.h5") == 40
    assert merge_shards(tmp_path / "serial", tmp_path / "serial.h5") == 40
    got, want = read_showers(tmp_path / "cluster.h5"), read_showers(tmp_path / "serial.h5")
    assert np.array_equal(got.incident_energy, want.incident_energy)
    assert np.allclose(got.energy, want.energy, rtol=1e-6, atol=1e-9) and len(np.unique(got.energy, axis=0)) == 40


def test_two_attempts_at_one_shard_at_once_leave_one_complete_file(tmp_path):
    import threading

    from hepgen.data import ShowerData, write_showers
    from hepgen.data.shards import Shard
    from hepgen.training.sharded import run_shard_attempt

    both_writing = threading.Barrier(2, timeout=10)

    def task(shard, path):   # both attempts are half-way through the same shard at the same moment
        rng = np.random.default_rng(shard.seed)
        data = ShowerData(rng.uniform(1e3, 2e3, shard.n), rng.random((shard.n, 25)), "belle2-ecl-5x5")
        path.write_bytes(b"half-written")
        both_writing.wait()
        write_showers(path, data, overwrite=True)

    shard, final = Shard(0, 7, 42, "shard-00000.h5"), tmp_path / "shard-00000.h5"
    ran = []
    threads = [threading.Thread(target=lambda: ran.append(run_shard_attempt(task, shard, final))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ran == [True, True]   # both ran to the end (an exception would leave ran short)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-00000.h5"]
    assert np.array_equal(read_showers(final).incident_energy, np.random.default_rng(42).uniform(1e3, 2e3, 7))


def test_a_shard_with_too_few_showers_fails_the_run(tmp_path):
    from hepgen.data import ShowerData, write_showers
    from hepgen.errors import InputError
    from hepgen.training.sharded import run_sharded

    def short_task(shard, path):
        write_showers(path, ShowerData(np.full(shard.n - 1, 1e3), np.zeros((shard.n - 1, 25)), "belle2-ecl-5x5"))

    m = ShardManifest.plan(tmp_path, n_total=6, shard_size=3, seed=1, geometry="belle2-ecl-5x5")
    with pytest.raises(InputError, match="shard-00000.h5: shard holds 2 entries, the manifest says 3"):
        run_sharded(short_task, m, engine="serial")
