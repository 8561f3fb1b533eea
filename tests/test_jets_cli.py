"""``hepgen evaluate-jets`` end to end on small files; bad input -> one line, exit code 2."""

import numpy as np
import pytest

from hepgen.cli import main
from hepgen.data import JetData, write_jets


def _jets(n, shift, seed):
    rng = np.random.default_rng(seed)
    p = np.zeros((n, 30, 4), np.float32)
    p[:, :8, 0] = rng.normal(shift, 0.1, (n, 8))
    p[:, :8, 1] = rng.normal(0, 0.1, (n, 8))
    p[:, :8, 2] = rng.dirichlet(np.ones(8), n)
    p[:, :8, 2] = -np.sort(-p[:, :8, 2], axis=1)
    p[:, :8, 3] = 1
    return JetData(p, jet_type="t")


def test_evaluate_jets_cli(tmp_path, capsys):
    ref, gen = tmp_path / "ref.h5", tmp_path / "gen.h5"
    write_jets(ref, _jets(80, 0.0, 1))
    write_jets(gen, _jets(40, 0.1, 2))
    html = tmp_path / "r.html"
    args = ["--quiet", "evaluate-jets", str(ref), str(gen), "--n-eval", "40", "--batches", "2", "--fpd-min", "20",
            "--fpd-max", "40", "--kpd-batch", "20", "--html", str(html)]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "| gen |" in out and "| IN |" in out and html.exists() and "<img" in html.read_text()
    with pytest.raises(SystemExit) as exc:
        main(args)  # report exists, no --overwrite
    assert exc.value.code == 2 and "exists" in capsys.readouterr().err


def test_evaluate_jets_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate-jets", str(tmp_path / "nope.h5"), str(tmp_path / "gen.h5")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "nope.h5" in err and len(err.strip().splitlines()) == 1
