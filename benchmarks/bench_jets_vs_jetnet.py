"""hepgen's JetNet metrics beside the jetnet library's on the same jets and the same random draws.

Reads one JetNet file (e.g. Pythia top jets from ``hepgen simulate jets``), splits it into two
independent halves (reference, generated), computes W1M, W1P, W1EFP (per feature), FPD and KPD on the
36 EFPs with hepgen, then runs ``jetnet.evaluation`` (``w1m``, ``w1p``, ``w1efp``,
``get_fpd_kpd_jet_features``, ``fpd``, ``kpd`` at their defaults) in a separate interpreter given with
--jetnet-python (jetnet needs numpy < 2, so it lives in its own environment and is never a dependency of
hepgen). jetnet draws the W1 resamplings from one module-level generator; it is reseeded with the same
seed before each call, which makes its draws those of hepgen. Prints both side by side, and the
combined W1P / W1EFP under both conventions (hepgen's plain mean over features with the spread over
resamplings; the seed thesis' inverse-variance mean). Nothing is fetched at run time.

    python benchmarks/bench_jets_vs_jetnet.py JETS.h5 --jetnet-python JETNET_VENV/bin/python --workdir WORK
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

JETNET_SIDE = r"""
import json, sys, time, numpy as np
import jetnet.evaluation as E
from jetnet.evaluation import gen_metrics as G
d = np.load(sys.argv[1]); seed = int(sys.argv[3]); n_eval = int(sys.argv[4]); batches = int(sys.argv[5])
ref, gen = d["ref"], d["gen"]          # (N, n, 4): eta_rel, phi_rel, pt_rel, mask
r3, g3 = ref[..., :3].astype(np.float64), gen[..., :3].astype(np.float64)
mr, mg = ref[..., 3] > 0.5, gen[..., 3] > 0.5
out = {}
t0 = time.perf_counter()
G.rng = np.random.default_rng(seed)
out["w1m"] = [float(v) for v in E.w1m(r3, g3, num_eval_samples=n_eval, num_batches=batches)]
G.rng = np.random.default_rng(seed)
m, s = E.w1p(r3, g3, mask1=mr, mask2=mg, num_eval_samples=n_eval, num_batches=batches)
out["w1p"] = [m.tolist(), s.tolist()]
G.rng = np.random.default_rng(seed); m, s = E.w1efp(r3, g3, num_eval_samples=n_eval, num_batches=batches, efp_jobs=1)
out["w1efp"] = [m.tolist(), s.tolist()]
fr, fg = E.get_fpd_kpd_jet_features(r3, efp_jobs=1), E.get_fpd_kpd_jet_features(g3, efp_jobs=1)
np.save(sys.argv[2] + ".efps_ref.npy", fr); np.save(sys.argv[2] + ".efps_gen.npy", fg)
fmin, fmax, kb = (int(v) for v in sys.argv[6:9])
out["fpd"] = [float(v) for v in E.fpd(fr, fg, min_samples=fmin, max_samples=fmax)]
out["kpd"] = [float(v) for v in E.kpd(fr, fg, batch_size=kb)]
out["seconds"] = time.perf_counter() - t0
json.dump(out, open(sys.argv[2], "w"))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--jetnet-python", required=True, help="interpreter of an environment with jetnet (numpy < 2)")
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--n-eval", type=int, default=50_000, help="jets per W1 resampling (jetnet: 50000)")
    ap.add_argument("--batches", type=int, default=5, help="W1 resamplings (jetnet: 5)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fpd-min", type=int, default=20_000, help="smallest FPD batch (jetnet: 20000)")
    ap.add_argument("--fpd-max", type=int, default=50_000, help="largest FPD batch (jetnet: 50000)")
    ap.add_argument("--kpd-batch", type=int, default=5_000, help="KPD batch (jetnet: 5000)")
    args = ap.parse_args()
    import torch

    from hepgen.data.jetnet import read_jets
    from hepgen.evaluate import jets as M

    torch.set_num_threads(1)
    args.workdir.mkdir(parents=True, exist_ok=True)
    jets = read_jets(args.file)
    half = len(jets) // 2
    ref, gen = jets[:half], jets[half:2 * half]
    arrays = args.workdir / "jets.npz"
    np.savez(arrays, ref=ref.particles, gen=gen.particles)
    print(f"{args.file.name}: {len(jets)} jets of {jets.n_max} slots, halves of {half}; load {os.getloadavg()}")

    t0 = time.perf_counter()
    w1m = M.w1m(ref, gen, args.n_eval, args.batches, args.seed)
    w1p = M.w1p(ref, gen, args.n_eval, args.batches, args.seed)
    p_batches = M._w1p_batches(ref, gen, args.n_eval, args.batches, args.seed)
    all36 = {k: M.fpd_kpd_features(j) for k, j in (("ref", ref), ("gen", gen))}
    pick = [k for k, g in enumerate(M.efp_graphs()) if g in M._W1EFP_GRAPHS()]
    w1efp = M.w1efp(ref, gen, args.n_eval, args.batches, args.seed, ref_efps=all36["ref"][:, pick],
                    gen_efps=all36["gen"][:, pick])
    e_batches = M._w1_batches(all36["ref"][:, pick], all36["gen"][:, pick], args.n_eval, args.batches,
                              np.random.default_rng(args.seed))
    fpd = M.fpd(all36["ref"], all36["gen"], args.fpd_min, args.fpd_max, seed=args.seed)
    kpd = M.kpd(all36["ref"], all36["gen"], batch_size=args.kpd_batch, seed=args.seed)
    t_hepgen = time.perf_counter() - t0
    print(f"hepgen: {t_hepgen:.1f} s; load {os.getloadavg()}", flush=True)

    result = args.workdir / "jetnet.json"
    subprocess.run([args.jetnet_python, "-c", JETNET_SIDE, str(arrays), str(result), str(args.seed), str(args.n_eval),
                    str(args.batches), str(args.fpd_min), str(args.fpd_max), str(args.kpd_batch)], check=True,
                   env={**os.environ, "PYTHONPATH": ""})
    j = json.loads(result.read_text())
    print(f"jetnet: {j['seconds']:.1f} s; load {os.getloadavg()}")
    jr, jg = np.load(str(result) + ".efps_ref.npy"), np.load(str(result) + ".efps_gen.npy")
    max_rel = max(np.max(np.abs(all36[k] - v) / np.maximum(np.abs(v), 1e-300)) for k, v in (("ref", jr), ("gen", jg)))
    print(f"36 EFPs: max relative difference hepgen / energyflow (via jetnet) {max_rel:.2g}")

    def rel(a, b):
        a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))

    print("| metric | jetnet | hepgen | max rel. difference |")
    print("|---|---|---|---|")
    print(f"| W1M (mean, std) | {j['w1m'][0]:.8g} ± {j['w1m'][1]:.4g} | {w1m[0]:.8g} ± {w1m[1]:.4g} | "
          f"{rel(w1m, j['w1m']):.2g} |")
    for i, name in enumerate(M.PARTICLE_FEATURES):
        print(f"| W1P {name} | {j['w1p'][0][i]:.8g} ± {j['w1p'][1][i]:.4g} | {w1p[0][i]:.8g} ± {w1p[1][i]:.4g} | "
              f"{rel([w1p[0][i], w1p[1][i]], [j['w1p'][0][i], j['w1p'][1][i]]):.2g} |")
    for i in range(len(pick)):
        print(f"| W1EFP {i} | {j['w1efp'][0][i]:.8g} ± {j['w1efp'][1][i]:.4g} | {w1efp[0][i]:.8g} ± "
              f"{w1efp[1][i]:.4g} | {rel([w1efp[0][i], w1efp[1][i]], [j['w1efp'][0][i], j['w1efp'][1][i]]):.2g} |")
    jf = fpd.notes["jetnet_curve_fit"]
    print(f"| FPD (jetnet's curve_fit) | {j['fpd'][0]:.8g} ± {j['fpd'][1]:.4g} | "
          f"{jf['value']:.8g} ± {jf['error']:.4g} | "
          f"{rel([jf['value'], jf['error']], j['fpd']):.2g} |")
    print(f"| FPD (hepgen: least-squares intercept) | | {fpd[0]:.8g} ± {fpd[1]:.4g} | "
          f"{abs(fpd[0] - j['fpd'][0]) / max(j['fpd'][1], 1e-300):.2g} sigma from jetnet's |")
    print(f"| KPD | {j['kpd'][0]:.8g} ± {j['kpd'][1]:.4g} | {kpd[0]:.8g} ± {kpd[1]:.4g} | {rel(kpd, j['kpd']):.2g} |")
    # the combined W1P / W1EFP under both conventions (x1e3 / x1e5, the tables' units)
    for name, batches, (means, stds), unit in (("W1P", p_batches, w1p, 1e3), ("W1EFP", e_batches, w1efp, 1e5)):
        plain = M.combine_features(batches)
        ivm = M.inverse_variance_mean(means, stds)
        w = 1 / np.maximum(stds, 1e-300) ** 2
        print(f"{name} x{unit:g}: plain mean {plain[0] * unit:.4g} ± {plain[1] * unit:.2g} (spread over resamplings); "
              f"inverse-variance mean {ivm[0] * unit:.4g} ± {ivm[1] * unit:.2g}; "
              "inverse-variance weights relative to the "
              f"smallest: {np.round(w / w.min(), 1).tolist()}")
    for name, r in (("FPD", fpd), ("KPD", kpd)):
        if r.notes["reason"] or r.notes["excluded_features"] or r.notes["warnings"]:
            print(f"hepgen {name} notes: reason {r.notes['reason']}; left out "
                  f"{[e['index'] for e in r.notes['excluded_features']]}; warnings {r.notes['warnings']}")


if __name__ == "__main__":
    main()
