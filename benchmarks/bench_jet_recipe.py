"""Jet recipes against JetNet150: mean multiplicity, jet mass and pT per jet type for the jetnet and hepgen recipes.

JetNet's numbers come from docs/jet_recipe_jetnet150.json (multiplicity histograms of the JetNet150 training split,
see docs/jet_recipe.md for where they come from). Writes OUT/jet_recipe.json, OUT/jet_recipe.md (the table) and,
with --plot, a figure of the multiplicity and mass histograms.

    PYTHONPATH=src python benchmarks/bench_jet_recipe.py --out OUT --n 200 --plot docs/jet_recipe.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hepgen.simulate.jets import JetProduction, generate_chunk

ROOT = Path(__file__).resolve().parents[1]
JETNET = ROOT / "docs" / "jet_recipe_jetnet150.json"
NAMES = {"t": "top", "g": "gluon", "q": "light quark", "w": "W", "z": "Z"}


def measure(jet_type: str, recipe: str, n: int, seed: int) -> dict:
    t0 = time.time()
    jets = generate_chunk(JetProduction(jet_type, n, 150, seed=seed, chunk_size=n, recipe=recipe), 0)
    p = jets.particles
    eta, phi, ptr = p[..., 0], p[..., 1], p[..., 2]  # massless particles, as JetNet's relative mass
    e, px, py, pz = (ptr * np.cosh(eta)).sum(1), (ptr * np.cos(phi)).sum(1), (ptr * np.sin(phi)).sum(1), \
        (ptr * np.sinh(eta)).sum(1)
    particle_mass = np.sqrt(np.maximum(e ** 2 - px ** 2 - py ** 2 - pz ** 2, 0)) * jets.jets[:, 0]
    return {"n_jets": n, "seconds": round(time.time() - t0, 1), "multiplicity": jets.n_particles.tolist(),
            "mass": jets.jets[:, 2].round(2).tolist(), "particle_mass": particle_mass.round(2).tolist(),
            "pt": jets.jets[:, 0].round(1).tolist()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=200, help="jets per type and recipe")
    ap.add_argument("--types", default="tgqwz")
    ap.add_argument("--recipes", default="jetnet,hepgen")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--from-json", action="store_true", help="only redo the table and figure from OUT/jet_recipe.json")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "jet_recipe.json"
    jetnet = json.loads(JETNET.read_text())["types"]
    if args.from_json:
        results = json.loads(path.read_text())
    else:
        results = {r: {t: measure(t, r, args.n, args.seed) for t in args.types} for r in args.recipes.split(",")}
        path.write_text(json.dumps(results))
    lines = ["| type | JetNet150 mean n | " + " | ".join(
        f"{r}: mean n (ratio) | {r}: median mass [GeV] | {r}: median pT [GeV]"
        for r in results) + " |", "|---|---|" + "---|---|---|" * len(results)]
    for t in args.types:
        row = f"| {t} | {jetnet[t]['mean']:.1f} |"
        for res in results.values():
            n = np.asarray(res[t]["multiplicity"])
            err = n.std() / np.sqrt(len(n))
            row += (f" {n.mean():.1f} ± {err:.1f} ({n.mean() / jetnet[t]['mean']:.2f}) | "
                    f"{np.median(res[t]['mass']):.1f} | "
                    f"{np.median(res[t]['pt']):.0f} |")
        lines.append(row)
    table = "\n".join(lines)
    print(table)
    (args.out / "jet_recipe.md").write_text(table + "\n")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, len(args.types), figsize=(4 * len(args.types), 7))
        for k, t in enumerate(args.types):
            ax = axes[0, k]
            counts = np.asarray(jetnet[t]["counts"], float)
            ax.stairs(counts / counts.sum(), np.arange(len(counts) + 1) - 0.5, color="k", label="JetNet150", lw=1.5)
            for r, res in results.items():
                ax.hist(res[t]["multiplicity"], bins=np.arange(0, 151, 5) - 0.5, density=True, histtype="step",
                        label=f"hepgen {r}")
            ax.set_xlabel("particles per jet")
            ax.set_title(f"{NAMES[t]} jets")
            ax.legend(fontsize=8)
            ax = axes[1, k]
            for r, res in results.items():
                ax.hist(res[t]["mass"], bins=np.linspace(0, 300, 61), density=True, histtype="step",
                        label=f"hepgen {r}")
            for m in {"t": (80.4, 172.5), "w": (80.4,), "z": (91.2,)}.get(t, ()):
                ax.axvline(m, color="k", ls=":", lw=1)
            ax.set_xlabel("jet mass [GeV]")
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=90)
        print(f"figure: {args.plot}")


if __name__ == "__main__":
    main()
