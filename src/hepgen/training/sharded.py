"""Mass generation sharded over worker processes with Dask (``hepgen generate --workers N``).

Why Dask: it is a pip-installable pure-Python engine that runs the same code on a laptop
(``LocalCluster``), on a batch system (dask-jobqueue) or a Kubernetes cluster by changing only the
scheduler address, it reschedules the tasks of a worker that dies, and it needs no separate daemon
(Ray brings a large binary and its own object store, which shards written to files do not need).

Each task writes one shard file with its own seed (see :mod:`hepgen.data.shards`); a finished shard
is a file under its final name, so re-running skips it, and a killed task leaves only a partial file
that the re-run continues. ``hepgen merge`` joins the shards.

>>> import tempfile
>>> from hepgen.data.shards import ShardManifest
>>> m = ShardManifest.plan(tempfile.mkdtemp(), n_total=4, shard_size=2, seed=1, geometry="belle2-ecl-5x5")
>>> run_sharded(_example_task, m, workers=1, engine="serial")
2
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hepgen.data.shards import Shard, ShardManifest
from hepgen.errors import InputError

__all__ = ["run_sharded"]


def _example_task(shard: Shard, path: Path) -> None:
    import numpy as np

    from hepgen.data import ShowerData, write_showers

    rng = np.random.default_rng(shard.seed)
    write_showers(path, ShowerData(rng.uniform(1e3, 1e4, shard.n), rng.random((shard.n, 25)), "belle2-ecl-5x5"))


def run_sharded(task: Callable[[Shard, Path], None], manifest: ShardManifest, workers: int = 2,
                engine: str = "dask", scheduler: str | None = None) -> int:
    """Run ``task(shard, path)`` for every unfinished shard; returns the number of shards run now.

    engine ``dask`` starts a local cluster of ``workers`` single-threaded processes (or connects to
    ``scheduler``, e.g. ``tcp://host:8786``); ``serial`` runs in this process (for debugging).
    """
    from hepgen.progress import ProgressBar

    pending = manifest.pending()
    if not pending:
        return 0
    done = len(manifest.shards) - len(pending)
    with ProgressBar(total=len(manifest.shards), description="shards", completed=done) as bar:
        if engine == "serial":
            for shard in pending:
                task(shard, manifest.path_of(shard))
                bar.advance()
            return len(pending)
        if engine != "dask":
            raise InputError(f"unknown engine '{engine}': expected dask or serial")
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40)
        client = Client(scheduler or cluster)
        try:
            futures = [client.submit(task, s, manifest.path_of(s), key=f"shard-{manifest.seed}-{s.index}", pure=False)
                       for s in pending]
            for future in as_completed(futures):
                future.result()
                bar.advance()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return len(pending)
