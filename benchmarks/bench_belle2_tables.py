"""KS and timing tables of the Belle II thesis's models on 5×5 crystal arrays (issue 19, part 6).

J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses using Deep Learning", PhD thesis,
KIT (2022), Tables 4.1 and 4.2: electrons at 0.5, 1, 1.5, 2.5 GeV for training and 2 GeV held out, impact point
uniform over ±30 mm (GFlash here, GEANT4 there), pixels < 1 MeV zeroed. The script simulates the samples, trains
the VAE-WGAN and the ID-GAN for fixed wall-clock budgets (labels E, P_x, P_y), generates as many showers as the
reference holds per energy (with the reference's impact points), and writes ``OUT/belle2_tables.md`` and
``OUT/belle2_tables.json``: KS p-values per observable and energy (with the thesis's Table 4.1 beside them) and ms
per shower of GFlash and of each model at batch 1000 (the thesis's Table 4.2 used a GPU for the networks).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_belle2_tables.py --out OUT \\
        [--n-train 20000] [--n-eval 2000] [--minutes 4,3] [--width 0.25]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

TRAIN_GEV = (0.5, 1.0, 1.5, 2.5)
ALL_GEV = (0.5, 1.0, 1.5, 2.0, 2.5)
LABELS = ["impact_x_mm", "impact_y_mm"]


def _threshold(showers, mev: float = 1.0):
    showers.energy = np.where(showers.energy >= mev, showers.energy, 0.0).astype(np.float32)
    return showers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--n-eval", type=int, default=2000, help="reference showers per energy")
    ap.add_argument("--minutes", default="4,3", help="training budgets of vae-wgan,id-gan (minutes)")
    ap.add_argument("--width", type=float, default=0.25, help="channel multiplier of the thesis's tables")
    ap.add_argument("--epochs", default="3,3", help="VAE pre-training epochs of vae-wgan,id-gan")
    ap.add_argument("--models", default="vae-wgan,id-gan")
    args = ap.parse_args()

    import torch

    from hepgen.progress import set_quiet
    from hepgen.simulate import simulate_showers
    from hepgen.studies.belle2_tables import (THESIS_KS_4_1, ks_markdown, ks_table, time_per_shower,
                                              timing_markdown)
    from hepgen.training import load_generator, train
    from hepgen.training.run import RunDir

    torch.set_num_threads(1)
    set_quiet(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    rng_e = np.repeat(np.array(TRAIN_GEV) * 1e3, args.n_train // len(TRAIN_GEV))
    ref_train = _threshold(simulate_showers("belle2-ecl-5x5", rng_e, "electron", seed=1, impact="uniform:-30:30"))
    e_eval = np.repeat(np.array(ALL_GEV) * 1e3, args.n_eval)
    ref_eval = _threshold(simulate_showers("belle2-ecl-5x5", e_eval, "electron", seed=2, impact="uniform:-30:30"))
    labels = {k: ref_eval.labels[k] for k in LABELS}

    def gflash(e_gev):
        return lambda n: simulate_showers("belle2-ecl-5x5", np.full(n, e_gev * 1e3), "electron", seed=5,
                                          impact="uniform:-30:30")

    timing = {f"{e:g} GeV": {"GFlash": time_per_shower(gflash(e), 1000)} for e in ALL_GEV}
    minutes = [float(v) for v in args.minutes.split(",")]
    vae_epochs = [int(v) for v in args.epochs.split(",")]
    params = {
        "vae-wgan": {"width": args.width, "n_critic": 2, "lr_vae": 1e-3, "beta_period": 4, "regressor_epochs": 10 ** 6,
                     "beta_fixed_after": 15, "lr_regressor": 1e-3, "regressor_arch": "compact",
                     "lr_generator_steps": [], "lr_critic_steps": []},
        "id-gan": {"width": args.width, "lr_regressor": 1e-3, "regressor_arch": "compact"},
    }
    tables, summary = {}, {}
    for k, name in enumerate(args.models.split(",")):
        t0 = time.perf_counter()
        cfg = {"params": {**params[name], "vae_epochs": vae_epochs[k]}, "training": {"batch_size": 250},
               "labels": [f"{lab}:linear" for lab in LABELS]}
        run = train(name, ref_train, out / "runs" / name, cfg, max_time=60 * minutes[k], max_epochs=10 ** 6, seed=0,
                    resume=False)
        t_train = time.perf_counter() - t0
        metrics = RunDir(run).metrics
        records = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.is_file() else []
        gen = load_generator(run, which="last", threads=1)
        generated = _threshold(gen.sample(ref_eval.incident_energy, labels=labels, batch_size=1000, seed=3))
        tables[name] = ks_table(ref_eval, generated, threshold_mev=1.0, active_mev=40.0)
        points = np.random.default_rng(4).uniform(-30, 30, (2, 1000))
        for e in ALL_GEV:
            timing[f"{e:g} GeV"][name] = time_per_shower(
                lambda n, e=e: gen.sample(np.full(n, e * 1e3), labels={"impact_x_mm": points[0, :n],
                                                                      "impact_y_mm": points[1, :n]},
                                          batch_size=1000, seed=0), 1000)
        summary[name] = {"train_s": round(t_train, 1), "epochs": len(records),
                         "last_epoch": {kk: round(v, 5) for kk, v in (records[-1] if records else {}).items()},
                         "n_parameters": sum(p.numel() for p in gen.model.parameters()),
                         "mean_E_vis_ratio": {f"{e:g} GeV": float(generated.visible_energy[generated.incident_energy
                                                                                           == e * 1e3].mean()
                                                                 / ref_eval.visible_energy[ref_eval.incident_energy
                                                                                           == e * 1e3].mean())
                                              for e in ALL_GEV}}
        print(name, summary[name], flush=True)
    load_after = os.getloadavg()
    cmd = "python " + " ".join(sys.argv)
    head = (f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}, "
            f"nproc {os.cpu_count()}, 1 thread, torch {torch.__version__}; load average before "
            f"{load_before[0]:.2f}, after {load_after[0]:.2f}; total {time.perf_counter() - t_start:.0f} s\n\n"
            f"`{cmd}`\n\n")
    md = head + "KS p-values (2 GeV held out, *):\n\n" + ks_markdown(tables, held_out=["2 GeV"], thesis=THESIS_KS_4_1)
    md += "\n\nms per shower (1 thread, batch 1000):\n\n" + timing_markdown(timing) + "\n\n"
    md += "```json\n" + json.dumps(summary, indent=1) + "\n```\n"
    (out / "belle2_tables.md").write_text(md)
    (out / "belle2_tables.json").write_text(json.dumps({"ks": tables, "timing": timing, "summary": summary,
                                                         "command": cmd}, indent=1))
    print(md)


if __name__ == "__main__":
    main()
