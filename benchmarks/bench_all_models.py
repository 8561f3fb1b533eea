"""The CaloChallenge timing protocol (`hepgen benchmark`) for EVERY registered model, one consolidated table.

For each model of ``hepgen.models.registry.list_models()`` the script trains a tiny run at the model's
default sizes (one short epoch on small data it makes itself: the weights do not change the cost), then
runs ``python -m hepgen -q benchmark RUN ...`` in a fresh process per model and writes per model
``OUT/NAME.json`` / ``OUT/NAME.md`` and the consolidated table ``OUT/all.md`` / ``OUT/all.json`` over
every model with a JSON in OUT (so ``--models a,b`` re-times some models and keeps the others).

Data per kind: voxel and point-cloud shower models on calochallenge-2 (16 GFlash electrons, log-uniform
1 GeV - 1 TeV, so the point-cloud n_hits model covers the timed energies); jet models on Pythia 8 top
jets (JetNet150 for mdma-gan, mdma-flow, epic-gan as in Table 5.5 of B. Käch, "Generative Modelling in
High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024), JetNet30 for jet-flow and
tgan); array models on a 2-d Gaussian toy (ganplify-gan) and on 10x10 pooled ild-ecal GFlash images
(vaegan). The reference simulator (GFlash per shower, Pythia 8 per jet) is timed once per kind, with
the first model of that kind; the vaegan's reference (GFlash ild-ecal photon showers pooled to images)
is timed here with the same protocol and added to its JSON.

    PYTHONPATH=src python benchmarks/bench_all_models.py --out OUT [--runs RUNS] [--models a,b]
        [--max-point-s 30] [--paths forward,sample,write-gzip] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

JETNET150 = ("mdma-gan", "mdma-flow", "epic-gan")


def _showers(kind_seed: int = 3):
    from hepgen.simulate import simulate_showers

    e = np.exp(np.random.default_rng(0).uniform(np.log(1e3), np.log(1e6), 16))
    return simulate_showers("calochallenge-2", e, "electron", seed=kind_seed)


def tiny_run(model: str, runs: Path) -> Path:
    """A one-epoch run of ``model`` at its default sizes in ``runs/model`` (reused when present)."""
    from hepgen.models.registry import get_model_class
    from hepgen.training import train

    run = runs / model
    if (run / "checkpoints" / "last.ckpt").is_file():
        return run
    kind = get_model_class(model).data_kind
    if kind in ("showers", "points"):
        cfg = {"training": {"batch_size": 8, "val_fraction": 0.0}}
        if model == "bibae":
            cfg["params"] = {"pp_start_epoch": 0}
        return train(model, _showers(), run, cfg, max_epochs=1)
    if kind == "jets":
        from hepgen.simulate.jets import JetProduction, generate_chunk

        n_max = 150 if model in JETNET150 else 30
        jets = generate_chunk(JetProduction("t", 64, max_particles=n_max, chunk_size=64, seed=11), 0)
        return train(model, jets, run, {"training": {"batch_size": 16, "num_threads": 1}}, max_epochs=1)
    from hepgen.amplify.calomplification import simulate_images, train_vaegan

    if model == "vaegan":
        return train_vaegan(simulate_images(64, seed=1, threshold_mev=0.0), run, {"training": {"batch_size": 16}},
                            max_epochs=1)
    x = np.random.default_rng(0).normal(size=(256, 2))
    return train(model, x, run, {"training": {"batch_size": 32}}, max_epochs=1)


def vaegan_reference(batch_sizes: list[int], max_point_s: float) -> dict:
    """GFlash ild-ecal 50 GeV photons pooled to 10x10 images (the Calomplification training data), per image."""
    from hepgen.amplify.calomplification import simulate_images
    from hepgen.timing import time_per_item

    out: dict = {"simulator": "GFlash ild-ecal photons 50 GeV, pooled 10x10"}
    est = None
    for b in batch_sizes:
        reps = 10 if b <= 1 else 5 if b <= 1000 else 1
        if est is not None and est * b * reps / 1e3 > max_point_s:
            out[str(b)] = {"skipped": f"predicted {est * b * reps / 1e3:.0f} s > max_point_s"}
            continue
        r = time_per_item(lambda: simulate_images(b, seed=2, threshold_mev=0.1), b, reps,
                          warmup=lambda: simulate_images(min(b, 100), seed=2))
        est = r["mean_ms"]
        out[str(b)] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for the JSON and Markdown tables")
    ap.add_argument("--runs", default=None, help="folder for the tiny runs (default OUT/runs)")
    ap.add_argument("--models", default=None, help="comma list (default: every registered model)")
    ap.add_argument("--batch-sizes", default="1,100,10000")
    ap.add_argument("--paths", default="forward,sample,write-gzip")
    ap.add_argument("--backend", default="torch,onnxruntime")
    ap.add_argument("--max-point-s", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=None, help="override hepgen benchmark's 10 / 5 / 1")
    args = ap.parse_args()

    import torch

    from hepgen.models.registry import get_model_class, list_models
    from hepgen.progress import set_quiet
    from hepgen.timing import consolidated_markdown, machine_info, parse_batch_sizes

    torch.set_num_threads(args.threads)
    set_quiet(True)
    out = Path(args.out)
    runs = Path(args.runs) if args.runs else out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",") if args.models else list_models()
    referenced: set[str] = set()
    t_all = time.perf_counter()
    for name in models:
        t0 = time.perf_counter()
        run = tiny_run(name, runs)
        t_train = time.perf_counter() - t0
        kind = get_model_class(name).data_kind
        ref_kind = {"points": "showers"}.get(kind, kind)
        cmd = [sys.executable, "-m", "hepgen", "-q", "benchmark", str(run), "--threads", str(args.threads),
               "--batch-sizes", args.batch_sizes, "--paths", args.paths, "--backend", args.backend,
               "--max-point-s", f"{args.max_point_s:g}", "--json", str(out / f"{name}.json"),
               "--markdown", str(out / f"{name}.md"), "--overwrite"]
        if args.repeats:
            cmd += ["--repeats", str(args.repeats)]
        if ref_kind in referenced or ref_kind == "arrays":
            cmd.append("--no-reference")
        referenced.add(ref_kind)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        res = json.loads((out / f"{name}.json").read_text())
        if name == "vaegan":
            res["reference"] = vaegan_reference(parse_batch_sizes(args.batch_sizes), args.max_point_s)
        res["command"] = " ".join(["python"] + cmd[1:]).replace(str(out), "OUT").replace(str(runs), "RUNS")
        (out / f"{name}.json").write_text(json.dumps(res, indent=1))
        print(f"{name}: tiny run {t_train:.0f} s (0 when reused), benchmark {time.perf_counter() - t0:.0f} s, "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
    # the table covers every registered model with a result in OUT (also those of earlier invocations)
    results = [json.loads((out / f"{m}.json").read_text()) for m in list_models() if (out / f"{m}.json").is_file()]
    commands = [r.get("command", "") for r in results]
    table = consolidated_markdown(results)
    info = machine_info()
    head = (f"{info['date']}; nproc {info['nproc']}, {info['cpu']}, load at the end {info.get('load_average')}; "
            f"torch {info.get('torch')}; {args.threads} thread(s); "
            f"this invocation {time.perf_counter() - t_all:.0f} s; "
            "ms per object (the 'per' column), mean ± std over repeats 10 / 5 / 1 at batch 1 / 100 / 10000, "
            "fewer where they would exceed --max-point-s ('1 run': one repeat)\n\n")
    (out / "all.md").write_text(head + table + "\nCommands:\n\n" + "\n".join(f"    {c}" for c in commands) + "\n")
    (out / "all.json").write_text(json.dumps({"machine": info, "commands": commands, "results": results}, indent=1))
    print(head + table)


if __name__ == "__main__":
    main()
