"""GANplification toys with the GAN (A. Butter et al., "GANplifying event samples", arXiv:2008.06545;
S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Ch. 5):
amplification vs number of quantiles.

    PYTHONPATH=src python benchmarks/bench_ampstudies_toys.py --toys camel,ring,sphere --repeats 3 \
        --epochs 30 --out gan_toys.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from hepgen.amplify.gan_toys import TOY_CONFIG, gan_toy_study

SETTINGS = {"camel": ([10, 20, 50], None), "ring": ([10, 20, 50], [(0,), (1,), (0, 1)]),
            "sphere": ([3, 4, 6], [(0,), (4,), (0, 1, 2, 3, 4)])}


PAPER = {("camel", "x"): ([10, 20, 50], [1.5, 2.8, 6.0]), ("ring", "r"): ([10, 20, 50], [4, 4, 4]),
        ("sphere", "r+phi1+phi2+phi3+phi4"): ([243, 1024, 7776], [3, 8, 30])}


def plot(results: dict, path: str) -> None:
    """Amplification vs number of quantiles per toy and coordinate set, with the paper's GAN numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items()):
        for i, (key, rows) in enumerate(r["results"].items()):
            for label, style in (("gan", "-o"), ("train", ":x")):
                k = [e["n_quant"] for e in rows[label]]
                f = [e["factor_from_mean_mse"] for e in rows[label]]
                ax.plot(k, f, style, color=f"C{i}", label=f"{key} {label}")
            if (name, key) in PAPER:
                ax.plot(*PAPER[(name, key)], "s", color=f"C{i}", mfc="none", ms=8, label=f"{key} paper GAN")
        ax.set(xscale="log", yscale="log", xlabel="number of quantiles", ylabel="N_equiv / N_train", title=name)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toys", default="camel,ring,sphere")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=30, help="loop epochs (lr falls x10 over them)")
    ap.add_argument("--steps-per-epoch", type=int, default=100, help="optimiser steps per loop epoch")
    ap.add_argument("--batch-size", type=int, default=None, help="default: TOY_CONFIG's (50; the paper's 10)")
    ap.add_argument("--max-time", default=None, help="per training, e.g. 2m")
    ap.add_argument("--n-samples", type=int, default=200_000)
    ap.add_argument("--lr", type=float, default=None,
                    help="Adam learning rate (default: TOY_CONFIG's; the paper's 5e-5)")
    ap.add_argument("--width", type=int, default=None, help="hidden width (default: TOY_CONFIG's; the paper's 256)")
    ap.add_argument("--dropout", type=float, default=None,
                    help="generator dropout (default: TOY_CONFIG's; the paper's 0.5)")
    ap.add_argument("--out", default="gan_toys.json")
    ap.add_argument("--from-json", default=None, help="only plot an earlier result")
    ap.add_argument("--plot", default=None, help="PNG path")
    a = ap.parse_args()
    if a.from_json:
        with open(a.from_json) as f:
            plot(json.load(f), a.plot or a.from_json.replace(".json", ".png"))
        return
    out = {}
    with tempfile.TemporaryDirectory() as work:
        for name in a.toys.split(","):
            t = time.time()
            n_per_dim, coords = SETTINGS[name]
            out[name] = gan_toy_study(name, n_per_dim, work, repeats=a.repeats, n_samples=a.n_samples,
                                      coordinates=coords, max_epochs=a.epochs, max_time=a.max_time,
                                      steps_per_epoch=a.steps_per_epoch,
                                      config={"training": {**TOY_CONFIG["training"],
                                                           **({"batch_size": a.batch_size} if a.batch_size else {})},
                                              "params": {**TOY_CONFIG["params"],
                                                                       **({"lr": a.lr} if a.lr else {}),
                                                                       **({"width": a.width} if a.width else {}),
                                                                       **({"dropout": a.dropout}
                                                                          if a.dropout is not None
                                                                          else {})}})
            out[name]["wall_s"] = time.time() - t
            for key, rows in out[name]["results"].items():
                for label in ("train", "gan"):
                    print(name, key, label, [(e["n_quant"], round(e["factor_from_mean_mse"], 2)) for e in rows[label]],
                          flush=True)
            with open(a.out, "w") as f:
                json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
