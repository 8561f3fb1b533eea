"""HEP-style comparison figures: normalised histograms of reference and generated samples with a ratio
panel and statistical error bands (mplhep), profiles, and correlation-difference matrices.

>>> import numpy as np, tempfile, pathlib
>>> rng = np.random.default_rng(0)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "e.png"
>>> ratio_plot(rng.normal(size=1000), rng.normal(size=1000), np.linspace(-3, 3, 31), r"$x$ [mm]", path).exists()
True
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ratio_plot", "ratio_plot_counts", "profile_plot", "correlation_plot", "comparison_figures",
           "layer_grid_figures", "LABELS", "DPI"]

#: resolution of the report's figures (dots per inch)
DPI = 130
#: y range of the generated/reference ratio panels; points beyond it are drawn as arrows at the edge
RATIO_RANGE = (0.5, 1.5)

#: Axis labels with units of the observables and features.
LABELS = {
    "E_vis": r"$E_\mathrm{vis}$ [MeV]", "E_vis/E_inc": r"$E_\mathrm{vis}/E_\mathrm{inc}$",
    "E_max": r"$E_\mathrm{max}$ [MeV]",
    "n_hits": r"$n_\mathrm{hits}$", "n_hits_high": r"$n_\mathrm{hits}$ (high threshold)", "m1_x": r"$m_{1,x}$ [mm]",
    "m1_y": r"$m_{1,y}$ [mm]", "m1_z": r"$m_{1,z}$ [mm]", "m2_x": r"$m_{2,x}$ [mm]", "m2_y": r"$m_{2,y}$ [mm]",
    "m2_z": r"$m_{2,z}$ [mm]", "E1_frac": r"$E_1/E_\mathrm{vis}$", "E2_frac": r"$E_2/E_\mathrm{vis}$",
    "E3_frac": r"$E_3/E_\mathrm{vis}$", "start_layer": "shower start layer",
    "start_layer_calice": "shower start layer (CALICE finder)", "E_peak": r"$E_\mathrm{peak}$ [MeV]",
    "E_tot": r"$E_\mathrm{tot}$ [MeV]", "E_tot/E_inc": r"$E_\mathrm{tot}/E_\mathrm{inc}$",
    "voxel_energy": r"voxel energy [MeV]",
}


def _label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    stem, _, layer = name.rpartition("_")
    unit = " [MeV]" if stem.startswith("E_layer") else ("" if stem.startswith("sparsity") or "/" in name else " [mm]")
    return f"{stem.replace('_', ' ')} (layer {layer}){unit}" if layer.isdigit() else name


@lru_cache(maxsize=1)
def _setup():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.ROOT)
    return plt, mplhep


def _sep_note(value: float | None) -> str:
    return "sep. power undefined" if value is None or value != value else f"sep. power {value:.4f}"


def _ratio_panel(rax, centres: np.ndarray, ratio: np.ndarray, rerr: np.ndarray, xlabel: str) -> None:
    """Ratio points inside :data:`RATIO_RANGE`, arrows at the edge for points beyond it (none hidden)."""
    from matplotlib.ticker import MaxNLocator

    lo, hi = RATIO_RANGE
    inside = (ratio >= lo) & (ratio <= hi)
    rax.errorbar(centres[inside], ratio[inside], yerr=rerr[inside], fmt="o", ms=3, color="C1")
    span = hi - lo
    for mask, y, marker in ((ratio > hi, hi - 0.04 * span, "^"), (ratio < lo, lo + 0.04 * span, "v")):
        if mask.any():
            rax.plot(centres[mask], np.full(mask.sum(), y), marker, ms=6, color="C3", ls="none",
                     label=f"{int(mask.sum())} beyond the range")
    if (~inside & np.isfinite(ratio)).any():
        rax.legend(fontsize=9, loc="lower left", handletextpad=0.2, borderpad=0.2)
    rax.axhline(1.0, color="k", lw=1)
    rax.set_ylim(lo, hi)
    rax.set_ylabel("gen./ref.", fontsize=14)
    rax.set_xlabel(xlabel)
    if rax.get_xscale() == "linear":
        rax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    rax.tick_params(axis="x", labelsize=13)


def ratio_plot_counts(counts_ref: np.ndarray, counts_gen: np.ndarray, edges: np.ndarray, xlabel: str, path: Path,
                      title: str | None = None, logx: bool = False, logy: bool = False,
                      note: str | None = None) -> Path:
    """Plot two count histograms normalised to unit area with Poisson bands and a generated/reference ratio panel."""
    plt, mplhep = _setup()
    edges = np.asarray(edges, dtype=np.float64)
    widths = np.diff(edges)
    out = []
    for c in (counts_ref, counts_gen):
        c = np.asarray(c, dtype=np.float64)
        total = max(c.sum(), 1.0)
        out.append((c / total / widths, np.sqrt(c) / total / widths))
    (hr, er), (hg, eg) = out
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(7, 7), gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05},
                                  sharex=True)
    mplhep.histplot(hr, edges, ax=ax, histtype="fill", alpha=0.3, label="reference", color="C0")
    mplhep.histplot(hg, edges, ax=ax, histtype="step", lw=2, label="generated", color="C1")
    for h, e, col in ((hr, er, "C0"), (hg, eg, "C1")):
        ax.fill_between(edges, np.append(h - e, 0), np.append(h + e, 0), step="post", color=col, alpha=0.2, lw=0)
    ax.set_ylabel("normalised entries")
    ax.legend(fontsize=14, title=note, title_fontsize=12)
    if title:
        ax.set_title(title, fontsize=14)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hr > 0, hg / hr, np.nan)
        rerr = np.where(hr > 0, ratio * np.sqrt((eg / np.where(hg > 0, hg, 1)) ** 2 + (er / hr) ** 2), np.nan)
    centres = 0.5 * (edges[1:] + edges[:-1]) if not logx else np.sqrt(np.clip(edges[1:] * edges[:-1], 1e-300, None))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    _ratio_panel(rax, centres, ratio, rerr, xlabel)
    _save_png(fig, path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def ratio_plot(reference: np.ndarray, generated: np.ndarray, edges: np.ndarray, xlabel: str, path: Path,
               **kwargs: Any) -> Path:
    """:func:`ratio_plot_counts` of two unbinned samples."""
    return ratio_plot_counts(np.histogram(reference, edges)[0], np.histogram(generated, edges)[0], edges, xlabel,
                             path, **kwargs)


def profile_plot(ref: np.ndarray, gen: np.ndarray, edges: np.ndarray, xlabel: str, path: Path) -> Path:
    """Mean energy per bin (MeV) with the standard error of the mean, and a ratio panel."""
    plt, mplhep = _setup()
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(7, 7), gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05},
                                  sharex=True)
    centres = 0.5 * (edges[1:] + edges[:-1])
    stats = []
    for p, col, lab in ((ref, "C0", "reference"), (gen, "C1", "generated")):
        m, e = p.mean(axis=0), p.std(axis=0) / np.sqrt(len(p))
        stats.append((m, e))
        mplhep.histplot(m, edges, ax=ax, yerr=e, label=lab, color=col, histtype="step", lw=2)
    ax.set_yscale("log")
    ax.set_ylabel("mean energy [MeV]")
    ax.legend(fontsize=14)
    (mr, er), (mg, eg) = stats
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mr > 0, mg / mr, np.nan)
        rerr = np.where(mr > 0, ratio * np.sqrt((eg / np.where(mg > 0, mg, 1)) ** 2 + (er / mr) ** 2), np.nan)
    _ratio_panel(rax, centres, ratio, rerr, xlabel)
    _save_png(fig, path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def correlation_plot(corr: dict, path: Path) -> Path:
    """Reference correlation matrix and the difference generated - reference, side by side."""
    plt, _ = _setup()
    names = corr["names"]
    fig, axes = plt.subplots(1, 2, figsize=(18, 8), layout="constrained")
    fig.get_layout_engine().set(wspace=0.12)       # room between the first colour bar and the second matrix's labels
    for ax, key, title in ((axes[0], "reference", "reference"), (axes[1], "difference", "generated - reference")):
        m = np.asarray(corr[key])
        im = ax.imshow(m, cmap="RdBu_r", vmin=-1 if key == "reference" else -0.3, vmax=1 if key == "reference" else 0.3)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=10)
        ax.set_yticks(range(len(names)), names, fontsize=10)
        ax.set_title(title, fontsize=14)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, location="right")
        cb.ax.tick_params(labelsize=10)
    _save_png(fig, path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _log_y(name: str) -> bool:
    """Features whose tails the challenge's own plots show on a log y axis (centres of energy and widths)."""
    return name.startswith(("EC_", "width_"))


def layer_grid_figures(ref, gen, result: dict, folder: Path) -> list[dict]:
    """One figure per calorimeter layer with every per-layer feature of that layer (layer energy, centres of
    energy, widths, sparsity) as small normalised histograms, reference filled and generated as a line, each
    titled with its separation power; returns the same records as :func:`comparison_figures`.

    >>> import numpy as np, tempfile, pathlib
    >>> from hepgen.data import ShowerData
    >>> from hepgen.evaluate import compute_features, evaluate_samples
    >>> rng = np.random.default_rng(0)
    >>> s = ShowerData(np.full(200, 1e4), rng.exponential(1.0, (200, 368)), "calochallenge-1-photons")
    >>> fs = compute_features(s)
    >>> r = evaluate_samples(s, s, classifier=False, features=(fs, fs))
    >>> figs = layer_grid_figures(fs, fs, r, pathlib.Path(tempfile.mkdtemp()) / "figures")
    >>> len(figs), figs[0]["name"]
    (5, 'layer 0: all features')
    """
    from hepgen.evaluate.evaluation import histogram_bins

    plt, mplhep = _setup()
    folder = Path(folder)
    hists = result["histograms"]
    by_layer: dict[int, list[str]] = {}
    for n, v in hists.items():
        if v["per_layer"]:
            by_layer.setdefault(int(n.rsplit("_", 1)[1]), []).append(n)
    figs = []
    for layer in sorted(by_layer):
        names = sorted(by_layer[layer])
        ncol = 4
        nrow = -(-len(names) // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), layout="constrained", squeeze=False)
        for ax, name in zip(axes.ravel(), names):
            edges, _ = histogram_bins(name, ref, gen)
            positive = edges[0] > 0 and edges[-1] / edges[0] > 100
            for values, style in ((ref.scalars[name], dict(histtype="fill", alpha=0.3, color="C0")),
                                  (gen.scalars[name], dict(histtype="step", lw=1.5, color="C1"))):
                c, _ = np.histogram(values, edges)
                mplhep.histplot(c / max(c.sum(), 1) / np.diff(edges), edges, ax=ax, **style)
            if positive:
                ax.set_xscale("log")
            if positive or _log_y(name):
                ax.set_yscale("log")
            ax.set_xlabel(_label(name), fontsize=10)
            ax.tick_params(labelsize=9)
            ax.set_title(_sep_note(hists[name]["separation_power"]), fontsize=10)
        for ax in axes.ravel()[len(names):]:
            ax.set_visible(False)
        fig.suptitle(f"layer {layer}: reference (filled) and generated (line)", fontsize=13)
        fname = f"layer_{layer:02d}.png"
        folder.mkdir(parents=True, exist_ok=True)
        _save_png(fig, folder / fname, dpi=DPI)
        plt.close(fig)
        worst = max((hists[n]["separation_power"] for n in names if np.isfinite(hists[n]["separation_power"])),
                    default=None)
        figs.append({"name": f"layer {layer}: all features", "path": f"{folder.name}/{fname}",
                     "separation_power": worst})
    return figs


def comparison_figures(ref, gen, result: dict, folder: Path, n_worst_layers: int = 12,
                       all_figures: bool = False, layer_grids: bool = False) -> list[dict]:
    """Figures for every observable, the ``n_worst_layers`` worst per-layer features (all with
    ``all_figures``), profiles, E_vis/E_inc per incident-energy bin and correlations, and with ``layer_grids``
    one figure per layer holding all its features (:func:`layer_grid_figures`); returns
    [{"name", "path" (relative to the report folder), "separation_power"}]."""
    from hepgen.evaluate.evaluation import histogram_bins
    from hepgen.evaluate.observables import profile_axes

    folder = Path(folder)
    hists = result["histograms"]
    names = [n for n, v in hists.items() if not v["per_layer"] and n != "voxel_energy"]
    layer_names = sorted((n for n, v in hists.items() if v["per_layer"]),
                         key=lambda n: (-hists[n]["separation_power"] if np.isfinite(hists[n]["separation_power"])
                                        else 1.0))
    names += layer_names if all_figures else layer_names[:n_worst_layers]
    figs = []
    for name in names:
        edges, _ = histogram_bins(name, ref, gen)
        positive = edges[0] > 0 and edges[-1] / edges[0] > 100
        fname = name.replace("/", "_over_") + ".png"
        sp = hists[name]["separation_power"]
        ratio_plot(ref.scalars[name], gen.scalars[name], edges, _label(name), folder / fname, logx=positive,
                   logy=positive or _log_y(name), note=_sep_note(sp))
        figs.append({"name": name, "path": f"{folder.name}/{fname}", "separation_power": sp})
    if "voxel_energy" in hists:
        edges = np.asarray(hists["voxel_energy"]["edges"])
        ratio_plot_counts(ref.cell_histogram(edges), gen.cell_histogram(edges), edges, LABELS["voxel_energy"],
                          folder / "voxel_energy.png", logx=True, logy=True,
                          note=_sep_note(hists["voxel_energy"]["separation_power"]))
        figs.append({"name": "voxel_energy", "path": f"{folder.name}/voxel_energy.png",
                     "separation_power": hists["voxel_energy"]["separation_power"]})
    for pname, (edges, xlabel) in profile_axes(ref.geometry).items():
        if pname in ref.profiles:
            profile_plot(ref.profiles[pname], gen.profiles[pname], edges, xlabel, folder / f"profile_{pname}.png")
            figs.append({"name": f"{pname} profile", "path": f"{folder.name}/profile_{pname}.png",
                         "separation_power": None})
    for i, eb in enumerate(result.get("energy_bins", [])):
        lo, hi = eb["E_inc_min_mev"], eb["E_inc_max_mev"]
        mr = (ref.incident_energy >= lo) & (ref.incident_energy < hi)
        mg = (gen.incident_energy >= lo) & (gen.incident_energy < hi)
        from hepgen.evaluate.histograms import auto_bins

        edges = auto_bins(np.concatenate([ref.scalars["E_vis/E_inc"][mr], gen.scalars["E_vis/E_inc"][mg]]), 40)
        fname = f"E_vis_over_E_inc_bin{i}.png"
        ratio_plot(ref.scalars["E_vis/E_inc"][mr], gen.scalars["E_vis/E_inc"][mg], edges, LABELS["E_vis/E_inc"],
                   folder / fname, title=f"$E_{{inc}}$ {lo / 1e3:.4g}-{hi / 1e3:.4g} GeV",
                   note=_sep_note(eb["E_vis/E_inc_separation_power"]))
        figs.append({"name": f"E_vis/E_inc, E_inc {lo / 1e3:.4g}-{hi / 1e3:.4g} GeV", "path": f"{folder.name}/{fname}",
                     "separation_power": eb["E_vis/E_inc_separation_power"]})
    correlation_plot(result["correlations"], folder / "correlations.png")
    figs.append({"name": "correlations", "path": f"{folder.name}/correlations.png", "separation_power": None})
    if layer_grids:
        figs += layer_grid_figures(ref, gen, result, folder)
    return figs


def _save_png(fig, path: str | Path, **options) -> None:
    """Save ``fig`` as PNG through a fresh temporary file renamed onto ``path`` (never through a link)."""
    from hepgen.data.atomic import atomic_path

    with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", **options)
