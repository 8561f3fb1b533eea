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
    import json

    ref, gen = tmp_path / "ref.h5", tmp_path / "gen.h5"
    write_jets(ref, _jets(80, 0.0, 1))
    write_jets(gen, _jets(40, 0.1, 2))
    html, out_dir = tmp_path / "r.html", tmp_path / "report"
    args = ["--quiet", "evaluate-jets", str(ref), str(gen), "--n-eval", "40", "--batches", "2", "--fpd-min", "20",
            "--fpd-max", "40", "--kpd-batch", "20", "--html", str(html), "-o", str(out_dir)]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "| gen |" in out and "| IN |" in out and html.exists() and "<img" in html.read_text()
    assert "W1P ×10³ per feature" in out and "eta_rel" in out and "pt_rel" in out and "40 / 40 jets" in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    row = metrics["rows"]["gen"]
    per = [row["W1P_per_feature"][k]["value"] for k in ("eta_rel", "phi_rel", "pt_rel")]
    assert row["W1P"]["value"] == pytest.approx(np.mean(per), rel=1e-9) and per[0] > per[1]
    assert len(row["W1EFP_per_efp"]) == 5 and "plain mean" in metrics["combination"]
    assert set(row["FPD"]) == {"value", "error", "notes"} and row["n_reference"] == 40
    assert set(metrics["rows"]) == {"gen", "IN"} and metrics["settings"]["kpd_batch_size"] == 20
    before = (out_dir / "metrics.json").read_bytes()
    with pytest.raises(SystemExit) as exc:
        main(args)  # report exists, no --overwrite: refused before any work, nothing changed
    assert exc.value.code == 2 and "exists" in capsys.readouterr().err
    assert (out_dir / "metrics.json").read_bytes() == before
    with pytest.raises(SystemExit) as exc:
        main(args + ["--overwrite", "--seed", "7"])
    assert exc.value.code == 0 and (out_dir / "metrics.json").read_bytes() != before
    assert not list(out_dir.glob(".*tmp*"))


def test_evaluate_jets_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate-jets", str(tmp_path / "nope.h5"), str(tmp_path / "gen.h5")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "nope.h5" in err and len(err.strip().splitlines()) == 1
