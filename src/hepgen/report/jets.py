"""Jet report: histograms with ratio panels, particle-correlation heatmaps, metric table, one HTML file.

>>> import numpy as np, tempfile, pathlib
>>> from hepgen.data import JetData
>>> rng = np.random.default_rng(0); p = np.zeros((50, 30, 4), np.float32)
>>> p[:, :10, :2] = rng.normal(0, 0.1, (50, 10, 2)); p[:, :10, 2] = 0.1; p[:, :10, 3] = 1
>>> html = pathlib.Path(tempfile.mkdtemp()) / "r.html"
>>> jets_report(html, JetData(p), {"gen": JetData(p)}, "| Model |")
>>> "<img" in html.read_text()
True
"""

from __future__ import annotations

import base64
import html as _html
import io
from pathlib import Path

import numpy as np

from hepgen.data.atomic import atomic_path
from hepgen.data.jets import JetData

__all__ = ["jet_observables", "histogram_figure", "correlation_figure", "jets_report"]


def jet_observables(jets: JetData) -> dict[str, tuple[np.ndarray, str]]:
    """Per-particle and per-jet observables to histogram: name -> (values, axis label)."""
    m = jets.mask
    rel = jets.relative_jet_features()
    return {
        "eta_rel": (jets.particles[..., 0][m], r"particle $\eta^\mathrm{rel}$"),
        "phi_rel": (jets.particles[..., 1][m], r"particle $\phi^\mathrm{rel}$"),
        "pt_rel": (jets.particles[..., 2][m], r"particle $p_\mathrm{T}^\mathrm{rel}$"),
        "mass_rel": (rel[:, 2], r"jet $m^\mathrm{rel}$"),
        "pt_jet_rel": (rel[:, 0], r"jet $p_\mathrm{T}^\mathrm{rel}$ (sum of stored particles)"),
        "n_particles": (jets.n_particles.astype(float), "particles per jet"),
    }


def histogram_figure(ref: np.ndarray, gens: dict[str, np.ndarray], label: str, bins: int = 50,
                     log: bool = False):
    """Normalised histograms of ``ref`` and each generated sample, ratio panel gen/ref below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = np.percentile(ref, [0.5, 99.5]) if len(ref) else (0, 1)
    if hi <= lo:
        hi = lo + 1
    edges = np.linspace(lo, hi, bins + 1)
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(5, 4.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ref_h, _ = np.histogram(np.clip(ref, lo, hi), edges, density=True)
    ax.stairs(ref_h, edges, color="black", label="reference", fill=True, alpha=0.2)
    for name, values in gens.items():
        h, _ = np.histogram(np.clip(values, lo, hi), edges, density=True)
        ax.stairs(h, edges, label=name)
        with np.errstate(divide="ignore", invalid="ignore"):
            rax.stairs(np.where(ref_h > 0, h / ref_h, np.nan), edges)
    rax.axhline(1, color="black", lw=0.8)
    rax.set_ylim(0.5, 1.5)
    rax.set_ylabel("gen / ref")
    rax.set_xlabel(label + " (under/overflow in edge bins)")
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def correlation_figure(jets: dict[str, JetData], feature: int = 2, n_first: int = 30):
    """Pearson correlation of a particle feature (default pt_rel) between the first ``n_first`` particles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(jets), figsize=(4 * len(jets), 3.6), squeeze=False)
    for ax, (name, j) in zip(axes[0], jets.items()):
        x = j.particles[:, :n_first, feature].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.corrcoef(x, rowvar=False)
        im = ax.imshow(np.nan_to_num(c), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(name)
        ax.set_xlabel("particle index")
        ax.set_ylabel("particle index")
    fig.colorbar(im, ax=axes[0].tolist())
    return fig


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def jets_report(path: str | Path, ref: JetData, gens: dict[str, JetData], table_markdown: str = "",
                overwrite: bool = False) -> None:
    """Write a self-contained HTML report (figures embedded) comparing ``gens`` with ``ref``."""
    obs_ref = jet_observables(ref)
    obs_gen = {name: jet_observables(g) for name, g in gens.items()}
    images = []
    for key, (values, label) in obs_ref.items():
        fig = histogram_figure(values, {n: o[key][0] for n, o in obs_gen.items()}, label, log=key == "pt_rel")
        images.append((label, _png(fig)))
    images.append(("pt_rel correlations", _png(correlation_figure({"reference": ref, **gens}))))
    body = [f"<h1>Jet report</h1><p>reference: {len(ref)} jets; "
            + ", ".join(f"{_html.escape(n)}: {len(g)} jets" for n, g in gens.items()) + "</p>"]
    if table_markdown:
        body.append("<h2>Metrics</h2><pre>" + _html.escape(table_markdown) + "</pre>")
    body += [f"<h3>{_html.escape(t)}</h3><img src='data:image/png;base64,{b}'/>" for t, b in images]
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text("<!doctype html><html><head><meta charset='utf-8'><title>hepgen jet report</title></head>"
                       "<body>" + "\n".join(body) + "</body></html>")
