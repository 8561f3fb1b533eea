"""`hepgen benchmark` on runs of every data kind: a jet model, a point-cloud shower model, an array model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hepgen.cli import app
from hepgen.progress import set_quiet
from hepgen.timing import benchmark_run, consolidated_markdown
from conftest import TINY_PARAMS, toy_jets


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import torch

    from hepgen.simulate import simulate_showers
    from hepgen.training import train

    torch.set_num_threads(1)
    set_quiet(True)
    folder = tmp_path_factory.mktemp("runs")
    jets = train("mdma-gan", toy_jets(64, 12, seed=1), folder / "jets",
                 {"params": TINY_PARAMS["mdma-gan"],
                  "training": {"batch_size": 16, "num_threads": 1}}, max_epochs=1)
    rng = np.random.default_rng(0)
    showers = simulate_showers("calochallenge-2", np.exp(rng.uniform(np.log(1e3), np.log(4e3), 24)), "electron",
                               seed=3)
    points = train("mdma-calo-gan", showers, folder / "points",
                   {"params": TINY_PARAMS["mdma-calo-gan"], "training": {"batch_size": 8, "val_fraction": 0.0}},
                   max_epochs=1)
    arrays = train("ganplify-gan", rng.normal(size=(40, 2)), folder / "arrays",
                   {"params": TINY_PARAMS["ganplify-gan"], "training": {"batch_size": 10}}, max_epochs=1)
    return {"jets": jets, "points": points, "arrays": arrays}


def _bench(run, tmp_path, *extra):
    out = tmp_path / "b.json"
    r = CliRunner().invoke(app, ["--quiet", "benchmark", str(run), "--batch-sizes", "1,3", "--repeats", "2",
                                 "--threads", "1", "--json", str(out), "--markdown", str(tmp_path / "b.md"), *extra])
    assert r.exit_code == 0, r.output
    return json.loads(out.read_text()), (tmp_path / "b.md").read_text()


def test_benchmark_jet_run_per_jet_with_pythia_reference(runs, tmp_path):
    res, md = _bench(runs["jets"], tmp_path, "--paths", "forward,sample,write-gzip")
    assert res["model"] == "mdma-gan" and res["unit"] == "ms per jet" and res["n_max"] == 12
    assert list(res["timings"]) == ["torch"] and list(res["timings"]["torch"]) == ["forward", "sample", "write-gzip"]
    for row in res["timings"]["torch"].values():
        assert sorted(row) == ["1", "3"] and all(r["mean_ms"] > 0 and r["repeats"] == 2 for r in row.values())
    assert "ONNX" in res["unavailable"]["onnxruntime"]           # no crash: the table says why
    assert "| onnxruntime | - | not available" in md and "| torch | write-gzip |" in md
    assert 0 < res["parameters"]["generation"] < res["parameters"]["training"]    # the critic is not run
    from hepgen.training import load_generator

    # all of the generator, also the attention weights its blocks read without calling their Linear, except the key
    # bias, which cancels in the softmax and is never read (models/mdma.py)
    generator = load_generator(runs["jets"]).model.gen
    read = [p.numel() for name, p in generator.named_parameters() if not name.endswith("attn.k.bias")]
    assert res["parameters"]["generation"] == sum(read)
    ref = res["reference"]
    assert ref["simulator"].startswith("Pythia 8") and ref["1"]["mean_ms"] > 0 and "Pythia 8" in md
    # per jet: one chunk of 3 jets costs less per jet than three chunks of one (one initialisation)
    assert ref["3"]["mean_ms"] < ref["1"]["mean_ms"]


def test_benchmark_point_cloud_run_per_shower(runs, tmp_path):
    res, md = _bench(runs["points"], tmp_path, "--no-reference", "--paths", "forward,sample,write-lzf")
    assert res["model"] == "mdma-calo-gan" and res["kind"] == "points" and res["unit"] == "ms per shower"
    assert res["n_voxels"] == 6480 and "point cloud" in md
    assert set(res["timings"]["torch"]) == {"forward", "sample", "write-lzf"}
    assert all(r["mean_ms"] > 0 for row in res["timings"]["torch"].values() for r in row.values())
    assert "voxel-shower runs" in res["unavailable"]["onnxruntime"] and "reference" not in res
    assert res["parameters"]["generation"] > 0


def test_benchmark_array_run_per_sample_and_consolidated_table(runs, tmp_path):
    res = benchmark_run(runs["arrays"], [1, 5], backends=("torch", "onnxruntime"), repeats=1)
    assert res["unit"] == "ms per sample" and res["shape"] == [2]
    assert list(res["timings"]["torch"]) == ["forward", "sample"] and "write-gzip" in res["unavailable"]["paths"]
    assert "reference" not in res
    table = consolidated_markdown([res])
    lines = [line for line in table.splitlines() if line.startswith("| ganplify-gan")]
    assert len(lines) == 3 and "| ganplify-gan | sample | torch | forward |" in table
    assert "| ganplify-gan | sample | onnxruntime | - | not available" in table


def test_benchmark_skips_a_large_batch_that_would_not_fit_in_memory(runs, monkeypatch):
    """The warm-up at 1000 measures what one call needs; with no memory left batch 2000 is skipped and says why
    (the seed-size WGAN at batch 10000 was killed for memory), and runs when there is."""
    import hepgen.timing.benchmark as bench

    monkeypatch.setattr(bench, "available_memory_mib", lambda: 0.0)
    res = benchmark_run(runs["arrays"], [1, 2000], backends=("torch",), repeats=1)
    row = res["timings"]["torch"]["sample"]
    assert row["1"]["mean_ms"] > 0 and "GiB available" in row["2000"]["skipped"]
    monkeypatch.setattr(bench, "available_memory_mib", lambda: 1e9)
    row = benchmark_run(runs["arrays"], [1, 2000], backends=("torch",), repeats=1)["timings"]["torch"]["sample"]
    assert row["2000"]["mean_ms"] > 0 and row["2000"]["repeats"] == 1


@pytest.mark.parametrize("kind", ["jets", "points", "arrays"])
def test_hepgen_export_of_jet_point_and_array_runs_agrees_with_torch(runs, tmp_path, kind):
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    r = CliRunner().invoke(app, ["--quiet", "export", str(runs[kind]), "--onnx", str(out), "--n-check", "9"])
    assert r.exit_code == 0 and "PASS" in r.output, r.output
    names = [i.name for i in ort.InferenceSession(str(out)).get_inputs()]
    assert names == (["noise_0"] if kind == "arrays" else ["cond", "noise_0"]) + \
        (["noise_1", "noise_2"] if kind == "arrays" else [])  # ganplify-gan: noise, then its dropout masks

