"""`hepgen online-flow train / sample`: an ensemble trained on a file stream, resumed, and sampled."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from hepgen.cli import main
from hepgen.training.online import OnlineEnsemble

SMALL = ["--n-buffer", "2000", "--n-batch", "200", "--n-iter", "2", "--n-ens", "2", "--swa-skip", "1",
         "--transforms", "1", "--hidden", "8"]


def _run(args):
    with pytest.raises(SystemExit) as exit_:
        main(["--quiet", *args])
    return exit_.value.code


def test_train_resume_sample(tmp_path, capsys):
    torch.set_num_threads(1)
    stream = tmp_path / "masses.npy"
    np.save(stream, np.random.default_rng(0).exponential(1.0, (8000, 1)))
    whole, part = tmp_path / "whole.pt", tmp_path / "part.pt"
    assert _run(["online-flow", "train", str(stream), "-o", str(whole), *SMALL]) in (0, None)
    assert _run(["online-flow", "train", str(stream), "-o", str(part), "--max-events", "4000", *SMALL]) in (0, None)
    assert OnlineEnsemble.load(part).events_seen == 4000
    assert _run(["online-flow", "train", str(stream), "-o", str(part), "--resume"]) in (0, None)
    a, b = OnlineEnsemble.load(whole), OnlineEnsemble.load(part)
    assert a.events_seen == b.events_seen == 8000 and a.buffers_done == 4
    for x, y in zip(a.averages[1].state_dict().values(), b.averages[1].state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=0)          # resumed mid-stream: bit-identical
    out = tmp_path / "events.h5"
    assert _run(["online-flow", "sample", str(whole), "-n", "3000", "-o", str(out)]) in (0, None)
    with h5py.File(out) as h5:
        events, member = h5["events"][:], h5["member"][:]
    assert events.shape == (6000, 1) and np.bincount(member).tolist() == [3000, 3000]
    assert np.all(events > 0) and 0.3 < np.median(events) < 1.2   # log-preprocessed exponential, median ln 2
    capsys.readouterr()
    assert _run(["online-flow", "train", str(stream), "-o", str(whole)]) == 2   # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert _run(["online-flow", "sample", str(whole), "-n", "5", "-o", str(tmp_path / "x.npy"), "--member", "7"]) == 2
    assert "flow 7 does not exist" in capsys.readouterr().err


def test_logged_feature_at_zero_after_the_first_buffer_stays_finite():
    from hepgen.models.online_maf import OnlineMAF

    m = OnlineMAF((2,), 0, {**OnlineMAF.default_config, "transforms": 1, "hidden": [4]})
    m.fit_features(np.array([[1.0, 0.5], [2.0, 0.7], [3.0, 0.9]]))        # both positive: both logged
    assert m.log_mask.tolist() == [True, True]
    x = torch.tensor([[2.0, 0.0]])                                        # tau_21 = 0 of a one-particle jet
    assert bool(torch.isfinite(m.encode(x)).all()) and bool(torch.isfinite(m.log_prob(x)).all())
