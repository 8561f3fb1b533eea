"""Mass generation sharded over worker processes with Dask (``--workers N`` or ``--scheduler ADDRESS``).

Why Dask: it is a pip-installable pure-Python engine that runs the same code on a laptop
(``LocalCluster``), on a batch system (dask-jobqueue) or a Kubernetes cluster by changing only the
scheduler address, it reschedules the tasks of a worker that dies, and it needs no separate daemon
(Ray brings a large binary and its own object store, which shards written to files do not need).

Each task writes one shard file with its own seed (see :mod:`hepgen.data.shards`), so a shard's
content is fixed by its seed alone. Every attempt at a shard writes into its own private folder
(``.shard-00003.attempt-<random>/``) and renames the finished file onto the shard's final name
(``os.replace``, atomic): a task re-executed after its worker died, or two workers running the same
shard at once (a worker the scheduler gave up on that is still alive), can neither leave a
half-written shard under the final name nor mix their showers; the last rename wins with identical
content. A finished shard is a file under its final name, so a re-run skips it; a shard killed
half-way is redone from scratch. After the run the manifest is checked (every shard present with its
number of showers) and the attempt folders left by killed workers are removed. ``hepgen merge``
joins the shards.

>>> import tempfile
>>> from hepgen.data.shards import ShardManifest
>>> m = ShardManifest.plan(tempfile.mkdtemp(), n_total=4, shard_size=2, seed=1, geometry="belle2-ecl-5x5")
>>> run_sharded(_example_task, m, workers=1, engine="serial")
2
>>> sorted(p.name for p in m.folder.iterdir())
['manifest.json', 'shard-00000.h5', 'shard-00001.h5']
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Callable

from hepgen.data.shards import Shard, ShardManifest
from hepgen.errors import InputError

__all__ = ["run_sharded", "run_shard_attempt"]

ATTEMPT = ".attempt-"


def _example_task(shard: Shard, path: Path) -> None:
    import numpy as np

    from hepgen.data import ShowerData, write_showers

    rng = np.random.default_rng(shard.seed)
    write_showers(path, ShowerData(rng.uniform(1e3, 1e4, shard.n), rng.random((shard.n, 25)), "belle2-ecl-5x5"))


def run_shard_attempt(task: Callable[[Shard, Path], None], shard: Shard, path: str | Path) -> bool:
    """One attempt at a shard: ``task(shard, private_path)`` in a fresh attempt folder beside ``path``, then the
    written file renamed onto ``path`` (atomic). Returns False (and runs nothing) when ``path`` already exists.

    Idempotent: any number of attempts, in sequence or at the same time on different workers, leave one
    complete file under ``path`` (the task's output must depend on the shard's seed only).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "shard-00000.h5"
    >>> s = Shard(0, 3, 11, path.name)
    >>> run_shard_attempt(_example_task, s, path), run_shard_attempt(_example_task, s, path)
    (True, False)
    >>> sorted(p.name for p in path.parent.iterdir())
    ['shard-00000.h5']
    """
    path = Path(path)
    if path.exists():
        return False
    attempt = path.with_name(f".{path.stem}{ATTEMPT}{secrets.token_hex(8)}")
    attempt.mkdir()
    try:
        written = attempt / path.name
        task(shard, written)
        if not written.is_file():
            raise RuntimeError(f"the task for shard {shard.index} returned without writing {path.name}")
        os.replace(written, path)
    finally:
        shutil.rmtree(attempt, ignore_errors=True)
    return True


def _remove_stale_attempts(manifest: ShardManifest) -> None:
    """Delete the attempt folders that killed workers left behind (a live straggler's rename then fails)."""
    for shard in manifest.shards:
        for stale in manifest.folder.glob(f".{Path(shard.file).stem}{ATTEMPT}*"):
            shutil.rmtree(stale, ignore_errors=True)


def connect_timeout_s() -> float:
    """Seconds to wait for a Dask scheduler: Dask's ``distributed.comm.timeouts.connect`` setting (environment
    variable ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT``, e.g. ``10s``).

    >>> connect_timeout_s() > 0
    True
    """
    import dask.config
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s"))


def _connect(scheduler: str, timeout_s: float):
    """A Client of the scheduler at ``scheduler``, or one InputError line naming the address."""
    from distributed import Client

    try:
        return Client(scheduler, timeout=timeout_s)
    except (ValueError, TypeError) as exc:
        raise InputError(f"'{scheduler}' is not a Dask scheduler address ({str(exc).splitlines()[0]}); expected "
                         "tcp://host:port") from None
    except (OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "timed out" in reason.lower():
            reason = "timed out"
        raise InputError(f"cannot reach the Dask scheduler at {scheduler} within {timeout_s:g} s ({reason}); "
                         "start it with 'dask scheduler' or give its tcp://host:port") from None


def run_sharded(task: Callable[[Shard, Path], None], manifest: ShardManifest, workers: int = 2,
                engine: str = "dask", scheduler: str | None = None) -> int:
    """Run ``task(shard, path)`` for every unfinished shard; returns the number of shards run now.

    engine ``dask`` starts a local cluster of ``workers`` single-threaded processes, or, with ``scheduler``
    (e.g. ``tcp://host:8786``), sends the shards to that running Dask cluster (its workers must import
    hepgen and see the manifest's folder under the same path); ``serial`` runs in this process (for
    debugging). Each shard goes through :func:`run_shard_attempt`, so a task Dask re-runs after a worker
    died duplicates nothing. The finished manifest is checked: a missing shard or one with another number
    of showers raises :class:`InputError`.
    """
    from hepgen.progress import ProgressBar

    if engine not in ("dask", "serial"):
        raise InputError(f"unknown engine '{engine}': expected dask or serial")
    if scheduler is not None and engine != "dask":
        raise InputError(f"a scheduler address ({scheduler}) needs the dask engine, not '{engine}'")
    pending = manifest.pending()
    if pending:
        paths = {s.index: manifest.path_of(s).resolve() for s in pending}   # absolute: workers have other cwds
        done = len(manifest.shards) - len(pending)
        if engine == "serial":
            with ProgressBar(total=len(manifest.shards), description="shards", completed=done) as bar:
                for shard in pending:
                    run_shard_attempt(task, shard, paths[shard.index])
                    bar.advance()
        else:
            _run_on_dask(task, pending, paths, len(manifest.shards), done, workers, scheduler)
    manifest.check_complete()
    _remove_stale_attempts(manifest)
    return len(pending)


def _run_on_dask(task, pending: list[Shard], paths: dict, n_shards: int, done: int, workers: int,
                 scheduler: str | None) -> None:
    from distributed import LocalCluster, as_completed

    from hepgen.progress import ProgressBar, status

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = _connect(cluster.scheduler_address, connect_timeout_s())
    else:
        client = _connect(scheduler, connect_timeout_s())
    try:
        if scheduler is not None and not client.scheduler_info().get("workers"):
            status(f"the Dask scheduler at {scheduler} has no workers yet; the shards wait for them")
        run = secrets.token_hex(6)   # keys unique per run: a shared scheduler never mixes two runs' shards
        with ProgressBar(total=n_shards, description="shards", completed=done) as bar:
            futures = [client.submit(run_shard_attempt, task, s, paths[s.index], key=f"hepgen-{run}-shard-{s.index}",
                                     pure=False) for s in pending]
            for future in as_completed(futures):
                future.result()
                bar.advance()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
