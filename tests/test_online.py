"""Online training on a stream (hepgen.training.online): double buffering, bootstrap weights, SWA, resume."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from hepgen.data.stream import iter_chunks, rechunk, skip_events
from hepgen.errors import InputError
from hepgen.models.online_maf import OnlineMAF
from hepgen.progress import set_quiet
from hepgen.training.online import OnlineConfig, OnlineEnsemble

set_quiet(True)
torch.set_num_threads(1)
TINY = {"transforms": 1, "hidden": [8]}


def id_stream(n: int, sizes=(7, 13, 29)):
    """Events whose single feature is their index + 1, in chunks of varying size."""
    lo, k = 0, 0
    while lo < n:
        m = min(sizes[k % len(sizes)], n - lo)
        yield np.arange(lo + 1, lo + m + 1, dtype=np.float64)[:, None]
        lo, k = lo + m, k + 1


class Recorder(OnlineEnsemble):
    """Records the event ids of every mini-batch instead of training, and checks how far the reader ran ahead."""

    def __init__(self, *args, pulled=None, **kw) -> None:
        super().__init__(*args, **kw)
        self.batches: list[tuple[int, int, np.ndarray]] = []
        self.pulled = pulled
        self.ahead = 0

    def _train_step(self, member, x, weight):
        self.batches.append((self.buffers_done, member, x[:, 0].numpy().astype(int)))
        if self.pulled is not None:
            self.ahead = max(self.ahead, self.pulled[0] - self.events_seen)
        time.sleep(1e-4)   # slow training: a reader allowed to run ahead would
        return 0.0


def test_double_buffer_uses_each_event_once_per_pass_and_stores_nothing_more():
    n, n_buffer, n_batch, n_iter = 530, 100, 16, 3
    pulled = [0]

    def counted():
        for chunk in id_stream(n):
            pulled[0] += len(chunk)
            yield chunk

    ens = Recorder(1, OnlineConfig(n_buffer=n_buffer, n_batch=n_batch, n_iter=n_iter, n_ens=2, model=TINY),
                   pulled=pulled)
    summary = ens.run(counted(), quiet=True)
    assert summary["events"] == n and ens.buffers_done == 6 and ens.events_seen == n
    for b in range(6):
        ids = np.arange(b * n_buffer + 1, min((b + 1) * n_buffer, n) + 1)
        for member in range(2):
            seen = [x for (k, m, x) in ens.batches if k == b and m == member]
            assert all(len(x) <= n_batch for x in seen)
            flat = np.concatenate(seen)
            assert len(flat) == n_iter * len(ids)
            for p in range(n_iter):   # each pass: every event of the buffer exactly once, none of another buffer
                np.testing.assert_array_equal(np.sort(flat[p * len(ids):(p + 1) * len(ids)]), ids)
    # at most two buffers alive (the trained one, the one filling) plus the chunk being cut
    assert ens.max_resident_events <= 2 * n_buffer
    assert ens.ahead <= 2 * n_buffer + 29


def test_poisson_weights_have_mean_one_per_flow_and_are_independent():
    ens = OnlineEnsemble(1, OnlineConfig(n_ens=4, model=TINY))
    w = ens.poisson_weights(200_000, np.random.default_rng(1))
    assert w.shape == (4, 200_000) and np.all(w == np.round(w)) and w.min() == 0
    np.testing.assert_allclose(w.mean(axis=1), 1.0, atol=0.01)
    np.testing.assert_allclose(w.var(axis=1), 1.0, atol=0.02)
    corr = np.corrcoef(w)[np.triu_indices(4, 1)]
    assert np.all(np.abs(corr) < 0.01)
    no_boot = OnlineEnsemble(1, OnlineConfig(n_ens=2, bootstrap=False, model=TINY))
    assert np.all(no_boot.poisson_weights(10, np.random.default_rng(0)) == 1)


def seeded_stream(n=1200, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.exponential(1.0, (n, 1))
    return iter_chunks(x, 170)


def _states_equal(a: OnlineEnsemble, b: OnlineEnsemble) -> None:
    sa, sb = a.state(), b.state()
    assert sa["events_seen"] == sb["events_seen"] and sa["buffers_done"] == sb["buffers_done"]
    for key in ("members", "averages"):
        for da, db in zip(sa[key], sb[key]):
            assert da.keys() == db.keys()
            for name in da:
                assert torch.equal(da[name], db[name]), (key, name)
    for oa, ob in zip(sa["optimizers"], sb["optimizers"]):
        for pa, pb in zip(oa["state"].values(), ob["state"].values()):
            for name in pa:
                assert torch.equal(torch.as_tensor(pa[name]), torch.as_tensor(pb[name])), name


def test_resume_mid_stream_is_bit_identical(tmp_path):
    config = OnlineConfig(n_buffer=200, n_batch=50, n_iter=2, n_ens=2, swa_skip=1, seed=3, model=TINY)
    whole = OnlineEnsemble(1, config)
    whole.run(seeded_stream(), quiet=True)

    first = OnlineEnsemble(1, OnlineConfig(**{**config.__dict__}))
    first.run(seeded_stream(), checkpoint=tmp_path / "ens.pt", max_events=600, quiet=True)   # 3 of 6 buffers
    assert first.buffers_done == 3
    resumed = OnlineEnsemble.load(tmp_path / "ens.pt")
    assert resumed.events_seen == 600 and resumed.n_averaged(0) == 2
    resumed.run(seeded_stream(), checkpoint=tmp_path / "ens.pt", quiet=True)   # re-opened stream: skips 600
    _states_equal(whole, resumed)
    np.testing.assert_array_equal(whole.sample(50, 1, seed=0), resumed.sample(50, 1, seed=0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ens.pt"]   # atomic: no temporary files left


def test_swa_averages_the_weights_after_each_buffer_past_the_skipped_ones():
    snapshots = []
    ens = OnlineEnsemble(1, OnlineConfig(n_buffer=200, n_batch=50, n_iter=1, n_ens=2, swa_skip=2, model=TINY))
    ens.run(seeded_stream(1000), quiet=True,
            on_buffer=lambda e: snapshots.append([p.detach().clone() for p in e.members[1].parameters()]))
    assert ens.buffers_done == 5 and ens.n_averaged(1) == 3
    expected = [torch.stack(ps).mean(0) for ps in zip(*snapshots[2:])]
    got = list(ens.flow(1).parameters())
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)
    assert not all(torch.equal(g, p) for g, p in zip(got, ens.members[1].parameters()))
    assert ens.flow(1, averaged=False) is ens.members[1]
    assert torch.equal(ens.flow(1).log_mask, ens.members[1].log_mask)   # the preprocessing travels with it


def test_online_flow_learns_an_exponential_with_log_features():
    rng = np.random.default_rng(0)
    x = rng.exponential(1.0, (20_000, 1))
    ens = OnlineEnsemble(1, OnlineConfig(n_buffer=5000, n_batch=250, n_iter=2, n_ens=1, swa_skip=1,
                                         model={"lr": 3e-3}))
    assert ens.members[0].n_flow_features == 4 and ens.members[0].n_parameters() == 7400
    summary = ens.run(iter_chunks(x, 1000), quiet=True)
    assert bool(ens.members[0].log_mask[0]) and summary["train_rate"] > 0 and summary["stream_rate"] > 0
    s = ens.sample(20_000, 0, seed=1)
    assert s.min() > 0
    assert abs(s.mean() - 1.0) < 0.15 and abs(np.median(s) - np.log(2)) < 0.1


def test_online_maf_thesis_parameter_count():
    assert OnlineMAF((1,), 0, {**OnlineMAF.default_config, "context": 1}).n_parameters() == 7560


def test_stream_readers(tmp_path):
    import h5py

    x = np.arange(30.0).reshape(10, 3)
    np.save(tmp_path / "x.npy", x)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["features"] = x
        f["other"] = x
    for source, kw in [(tmp_path / "x.npy", {}), (f"{tmp_path / 'x.h5'}:features", {}),
                       (tmp_path / "x.h5", {"dataset": "other"})]:
        chunks = list(iter_chunks(source, 4, start=1, **kw))
        assert [len(c) for c in chunks] == [4, 4, 1]
        np.testing.assert_array_equal(np.concatenate(chunks), x[1:])
    with pytest.raises(InputError, match="name the dataset"):
        list(iter_chunks(tmp_path / "x.h5", 4))
    bad = x.copy()
    bad[6, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(InputError, match=r"bad\.npy: index 6: NaN"):
        list(iter_chunks(tmp_path / "bad.npy", 4))
    assert [len(c) for c in rechunk(skip_events(iter_chunks(x, 3), 2), 4)] == [4, 4]


def test_wrong_feature_count_and_bad_checkpoint(tmp_path):
    ens = OnlineEnsemble(2, OnlineConfig(n_buffer=10, n_batch=5, n_iter=1, n_ens=1, model=TINY))
    with pytest.raises(InputError, match="3 features, the ensemble 2"):
        ens.run([np.ones((10, 3))], quiet=True)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="junk.pt"):
        OnlineEnsemble.load(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="n_batch must be >= 1"):
        OnlineEnsemble(1, OnlineConfig(n_batch=0))


class LrRecorder(OnlineEnsemble):
    """Records the learning rate of every update (and trains nothing)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.lrs: list[tuple[int, int, float]] = []

    def _train_step(self, member, x, weight):
        self.lrs.append((self.buffers_done, member, self.optimizers[member].param_groups[0]["lr"]))
        return 0.0


def test_cosine_schedule_falls_from_lr_to_lr_min_within_every_buffer_and_resumes(tmp_path):
    config = dict(n_buffer=200, n_batch=50, n_iter=2, n_ens=2, model={**TINY, "lr": 0.01})
    ens = LrRecorder(1, OnlineConfig(**config, lr_schedule="cosine", lr_min=0.1))
    ens.run(seeded_stream(600), quiet=True)
    for buffer in range(3):   # 2 passes x 4 batches = 8 updates per buffer, the same for both flows
        lrs = [lr for b, m, lr in ens.lrs if b == buffer and m == 1]
        assert len(lrs) == 8 and lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(0.001)
        assert all(a > b for a, b in zip(lrs, lrs[1:]))
        assert lrs == [lr for b, m, lr in ens.lrs if b == buffer and m == 0]
    constant = LrRecorder(1, OnlineConfig(**config))   # the thesis's constant lr is the default
    constant.run(seeded_stream(400), quiet=True)
    assert {lr for _, _, lr in constant.lrs} == {0.01}
    with pytest.raises(InputError, match="lr_schedule"):
        OnlineConfig(lr_schedule="step").check()
    # resume with the cosine schedule stays bit-identical (the lr of the next buffer is set from its first update)
    cosine = OnlineConfig(n_buffer=200, n_batch=50, n_iter=2, n_ens=2, swa_skip=1, seed=3, lr_schedule="cosine",
                          model=TINY)
    whole = OnlineEnsemble(1, cosine)
    whole.run(seeded_stream(), quiet=True)
    first = OnlineEnsemble(1, OnlineConfig(**cosine.__dict__))
    first.run(seeded_stream(), checkpoint=tmp_path / "ens.pt", max_events=400, quiet=True)
    resumed = OnlineEnsemble.load(tmp_path / "ens.pt")
    resumed.run(seeded_stream(), quiet=True)
    _states_equal(whole, resumed)
