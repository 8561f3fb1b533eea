"""GPU check of every registered model: train 20 steps on the GPU, sample there, export to ONNX, time.

For each model of ``list_models()``: (1) its ``tiny_config`` run trains 20 steps with ``accelerator="gpu"``,
samples on the GPU with a fixed seed (compared with the same run sampled on the CPU: same draws, so the
difference is float round-off) and exports to ONNX (checked against PyTorch); (2) a run at the model's
default sizes trains 20 steps on the GPU and ``hepgen benchmark`` times the network (``forward``) and the
whole path to physical units (``sample``) at batch 100 and 10000 on the GPU (every call synchronised). One
line per step; a failing model prints its error and the check goes on. Data: 2000 GFlash calochallenge-2
electrons (1 GeV - 1 TeV) for shower and point-cloud models, Pythia 8 top jets (30 or 150 slots) and toy arrays.
Meant for a machine with a CUDA GPU (CI never runs it): ``bash benchmarks/gpu_check.sh OUT``.

    python benchmarks/gpu_check.py --out OUT [--models a,b] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

import numpy as np

STEPS = 20
JETNET150 = ("mdma-gan", "mdma-flow", "epic-gan")


def data_for(kind: str, model: str, showers):
    if kind in ("showers", "points"):
        return showers
    if kind == "jets":   # Pythia 8 top jets, as bench_all_models.py trains them
        from hepgen.simulate.jets import JetProduction, generate_chunk

        n_max = 150 if model in JETNET150 else 30
        return generate_chunk(JetProduction("t", STEPS * 16, max_particles=n_max, chunk_size=STEPS * 16, seed=11), 0)
    return np.random.default_rng(0).gamma(2.0, 10.0, (2000, 10, 10))


def check(model: str, out: Path, device: str, showers) -> dict:
    """The steps of one model; returns a JSON-able record."""
    import torch

    from hepgen.models.registry import get_model_class
    from hepgen.timing import benchmark_run
    from hepgen.training import load_generator, train
    from hepgen.training.onnx import export_onnx

    cls = get_model_class(model)
    accelerator = "gpu" if device.startswith("cuda") else "cpu"     # --device cpu: a dry run of the script
    data = data_for(cls.data_kind, model, showers)
    rec: dict = {"model": model, "kind": cls.data_kind}
    t0 = time.perf_counter()
    batch = 16
    tiny = {"params": dict(cls.tiny_config), "training": {"batch_size": batch, "val_fraction": 0.0}}
    run = train(model, data[:STEPS * batch], out / f"{model}-tiny", tiny, max_epochs=1, seed=0, accelerator=accelerator,
                resume=False)
    rec["train_tiny_s"] = round(time.perf_counter() - t0, 1)
    kw = {"incident_energy": np.geomspace(1e3, 1e6, 64)} if cls.data_kind in ("showers", "points") else {"n": 64}
    gpu = load_generator(run, device=device)
    cpu = load_generator(run)
    torch.manual_seed(0)
    a = gpu.sample(**kw, batch_size=32, seed=1)
    torch.manual_seed(0)
    b = cpu.sample(**kw, batch_size=32, seed=1)
    va, vb = (np.asarray(getattr(x, "energy", getattr(x, "particles", x)), dtype=np.float64) for x in (a, b))
    rec["gpu_vs_cpu_max_rel"] = float(np.abs(va - vb).max() / max(np.abs(vb).max(), 1e-30))
    report = export_onnx(run, out / f"{model}.onnx", n_check=16, overwrite=True)
    rec["onnx_max_rel"] = report.max_relative_deviation
    rec["onnx_passed"] = bool(report.passed)
    t0 = time.perf_counter()
    full = {"training": {"batch_size": batch, "val_fraction": 0.0}}
    run = train(model, data[:STEPS * batch], out / f"{model}-default", full, max_epochs=1, seed=0,
                accelerator=accelerator,
                resume=False)
    rec["train_default_s"] = round(time.perf_counter() - t0, 1)
    timing = benchmark_run(run, [100, 10000], ("torch",), ("forward", "sample"), reference=False, device=device,
                           max_point_s=60)
    rec["ms_per_item"] = {p: {b: r.get("mean_ms") for b, r in t.items()} for p, t in timing["timings"]["torch"].items()}
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--models", default=None, help="comma list (default: every registered model)")
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run of the script")
    args = ap.parse_args()
    import torch

    from hepgen.models.registry import list_models
    from hepgen.progress import set_quiet
    from hepgen.simulate import simulate_showers

    set_quiet(True)
    args.out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    print(f"torch {torch.__version__}, device {args.device}: {name}", flush=True)
    e = np.exp(np.random.default_rng(0).uniform(np.log(1e3), np.log(1e6), 2000))
    showers = simulate_showers("calochallenge-2", e, "electron", seed=3)
    records = []
    for model in (args.models.split(",") if args.models else list_models()):
        t0 = time.perf_counter()
        try:
            rec = check(model, args.out, args.device, showers)
        except Exception as exc:   # one model's failure must not hide the others'
            rec = {"model": model, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
        rec["wall_s"] = round(time.perf_counter() - t0, 1)
        records.append(rec)
        print(json.dumps({k: v for k, v in rec.items() if k != "trace"}), flush=True)
    (args.out / "gpu_check.json").write_text(json.dumps(records, indent=1))
    failed = [r["model"] for r in records if "error" in r or not r.get("onnx_passed", False)]
    print(f"{len(records) - len(failed)} of {len(records)} models passed" + (f"; failed: {failed}" if failed else ""))


if __name__ == "__main__":
    main()
