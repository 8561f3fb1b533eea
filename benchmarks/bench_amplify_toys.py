"""Classical baselines on the GANplification toys of A. Butter et al., "GANplifying event samples", arXiv:2008.06545
(S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Ch. 5).

For each toy, ``--repeats`` independent training sets (100 / 100 / 500 points) are drawn; a Gaussian
KDE (5-fold CV bandwidth), a CV-binned histogram and (1D only) the 2-Gaussian maximum-likelihood fit
are fitted and sampled ``--samples`` times; the quantile √MSE against the analytic quantiles gives
N_equiv by the multinomial expectation and the amplification N_equiv / N_train. A truth sample of
3 N_train is measured the same way as a check (its factor must come out near 3).

    PYTHONPATH=src python benchmarks/bench_amplify_toys.py --repeats 10 --out toys.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from hepgen.amplify.equivalent import expected_mse
from hepgen.amplify.jsd import quantile_mse
from hepgen.amplify.study import toy_study
from hepgen.amplify.toys import get_toy
from hepgen.progress import set_quiet

# (toy, quantiles per direction, coordinate sets) as in the paper's figures
PLAN = {
    "camel": ([10, 20, 50], [(0,)]),
    "ring": ([10, 20, 50], [(0,), (1,)]),
    "ring-combined": ([3, 5, 7], [(0, 1)]),
    "sphere": ([10, 20], [(0,), (1,), (4,)]),
    "sphere-combined": ([3, 4, 6], [(0, 1, 2, 3, 4)]),
}


def truth_check(toy_name: str, n_per_dim: list[int], coords, repeats: int, seed: int) -> dict:
    toy = get_toy(toy_name)
    rng = np.random.default_rng(seed + 999)
    n = 3 * toy.n_train
    out = {}
    for k in n_per_dim:
        cells = toy.cells(k, coords)
        mse = np.mean([quantile_mse(toy.uniformise(toy.sample(n, rng))[:, list(coords)], cells) ** 1
                       for _ in range(200)])
        out[k] = expected_mse(cells.probabilities, 1.0) / mse / toy.n_train
    return out


# GAN amplification factors of Diefenbacher 2022 (Sec. 5.1) per (toy key, coordinate set): {n_quant: factor}
PAPER_GAN = {("camel", "x"): {10: 1.5, 20: 2.8, 50: 6},
             ("sphere-combined", "r+phi1+phi2+phi3+phi4"): {243: 3, 1024: 8, 7776: 30}}


def plot(results: dict, path: str) -> None:
    """Amplification factor (from the mean MSE) vs n_quant per toy, coordinates and baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(key, c) for key, r in results.items() for c in r["results"]]
    fig, axes = plt.subplots(2, (len(panels) + 1) // 2, figsize=(3.2 * ((len(panels) + 1) // 2), 6), squeeze=False)
    for ax, (key, c) in zip(axes.ravel(), panels):
        for i, (label, rows) in enumerate(results[key]["results"][c].items()):
            k = [row["n_quant"] for row in rows]
            ax.plot(k, [row["factor_from_mean_mse"] for row in rows], "o-", color=f"C{i}", label=label)
        if (key, c) in PAPER_GAN:
            t = PAPER_GAN[(key, c)]
            ax.plot(list(t), list(t.values()), "k*", ms=10, label="paper GAN")
        ax.set(xscale="log", yscale="log", title=f"{key}: {c}", xlabel="number of quantiles", ylabel="amplification")
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--toys", default=",".join(PLAN))
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--hist-splits", type=int, default=100)
    ap.add_argument("--out", default=None)
    ap.add_argument("--plot", default=None, help="write a PNG of the amplification factors")
    ap.add_argument("--from-json", default=None, help="only plot the results of an earlier --out")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            plot(json.load(f), args.plot)
        return
    set_quiet(True)
    import torch

    torch.set_num_threads(1)
    results = {}
    for key in args.toys.split(","):
        name = key.split("-")[0]
        per_dim, coords = PLAN[key]
        t0 = time.time()
        r = toy_study(name, per_dim, repeats=args.repeats, n_samples=args.samples, coordinates=coords,
                      hist_splits=args.hist_splits)
        r["seconds"] = time.time() - t0
        r["truth_3x_factor"] = {"+".join(map(str, c)): truth_check(name, per_dim, c, args.repeats, 0) for c in coords}
        results[key] = r
        print(f"## {key} ({r['repeats']} training sets of {r['n_train']}, {r['seconds']:.0f} s)")
        print("| coordinates | n_quant | " + " | ".join(r["results"][next(iter(r["results"]))]) + " | truth 3N check |")
        for ckey, rows in r["results"].items():
            labels = list(rows)
            for j in range(len(per_dim)):
                cells = [f"{rows[l][j]['factor_from_mean_mse']:.2f} "
                         f"({rows[l][j]['factor_mean'] or float('nan'):.2f} ± {rows[l][j]['factor_std']:.2f})"
                         for l in labels]
                ci = coords[list(r["results"]).index(ckey)]
                chk = r["truth_3x_factor"]["+".join(map(str, ci))][per_dim[j]]
                print(f"| {ckey} | {rows[labels[0]][j]['n_quant']} | " + " | ".join(cells) + f" | {chk:.2f} |")
        print(flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1, default=str)
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
