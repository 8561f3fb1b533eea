import os
from pathlib import Path

import numpy as np
import pytest

from hepgen.data import ShowerData, read_showers, write_showers
from hepgen.data.shards import Shard, ShardManifest, merge_shards
from hepgen.errors import InputError
from hepgen.training.sharded import run_sharded


def fake_generator(shard: Shard, path: Path, die_marker: str | None = None) -> None:
    """Writes shard.n showers whose incident energy encodes (seed, position): duplicates would show."""
    if die_marker and shard.index == 1 and not os.path.exists(die_marker):
        Path(die_marker).write_text("died once")
        from hepgen.data import ShowerWriter

        w = ShowerWriter(path, "belle2-ecl-5x5")  # half-written shard, then the worker dies
        w.append(ShowerData(np.ones(1) * 1e3, np.zeros((1, 25)), "belle2-ecl-5x5"))
        os._exit(1)
    e = 1e3 + shard.seed * 1e-3 + np.arange(shard.n)
    write_showers(path, ShowerData(e, np.random.default_rng(shard.seed).random((shard.n, 25)), "belle2-ecl-5x5"))


def expected_energies(m):
    return np.concatenate([1e3 + s.seed * 1e-3 + np.arange(s.n) for s in m.shards])


def test_two_dask_workers_survive_a_killed_worker(tmp_path):
    from functools import partial

    m = ShardManifest.plan(tmp_path / "shards", n_total=23, shard_size=5, seed=3, geometry="belle2-ecl-5x5")
    run = run_sharded(partial(fake_generator, die_marker=str(tmp_path / "died")), m, workers=2, engine="dask")
    assert run == 5 and (tmp_path / "died").exists()
    assert merge_shards(tmp_path / "shards", tmp_path / "all.h5") == 23
    merged = read_showers(tmp_path / "all.h5").incident_energy
    assert np.allclose(merged, expected_energies(m))  # none lost, none duplicated, in order


def test_rerun_skips_finished_shards_and_merge_refuses_incomplete(tmp_path):
    m = ShardManifest.plan(tmp_path, n_total=10, shard_size=4, seed=1, geometry="belle2-ecl-5x5")
    fake_generator(m.shards[0], m.path_of(m.shards[0]))
    with pytest.raises(InputError, match="2 of 3 shards are not finished"):
        merge_shards(tmp_path, tmp_path / "out.h5")
    before = m.path_of(m.shards[0]).stat().st_mtime_ns
    assert run_sharded(fake_generator, m, engine="serial") == 2
    assert m.path_of(m.shards[0]).stat().st_mtime_ns == before
    assert run_sharded(fake_generator, m, engine="serial") == 0
    with pytest.raises(InputError, match="manifest with other settings"):
        ShardManifest.plan(tmp_path, n_total=11, shard_size=4, seed=1, geometry="belle2-ecl-5x5")
    assert merge_shards(tmp_path, tmp_path / "out.h5") == 10
    assert len(set(read_showers(tmp_path / "out.h5").incident_energy)) == 10
