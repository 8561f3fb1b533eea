"""``index.html`` of an evaluation: the summary a physicist reads first, then every figure.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "index.html"
>>> _ = write_index({"geometry": "g", "n_reference": 1, "n_generated": 1, "worst_separation_powers": []}, [], p)
>>> "<table" in p.read_text()
True
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

__all__ = ["write_index"]


def _fmt(value: Any, err: Any = None) -> str:
    if value is None or value != value:
        return "undefined"
    s = f"{value:.4g}" if isinstance(value, float) else str(value)
    if err is not None and isinstance(err, float) and err == err:
        s += f" ± {err:.2g}"
    return s


def _sep(value: float | None) -> str:
    if value is None:
        return ""
    return " — sep. power undefined" if value != value else f" — sep. power {value:.4f}"


def verdict(result: dict) -> str:
    """How close the generated showers are, in words, next to what "indistinguishable" would be at this
    sample size: two samples of one distribution give AUC 0.5 within the AUC's error (Hanley-McNeil, from
    the validation sizes), so AUCs within 3 errors of 0.5 read as indistinguishable; the targets of a usable
    surrogate on the CaloChallenge (high-level AUC <= 0.70, low-level <= 0.85, every separation power <= 0.15)
    read as close; anything else as clearly distinguishable.

    >>> verdict({"classifier": {"high_level": {"auc": 0.51, "auc_error": 0.01}},
    ...          "worst_separation_powers": [{"name": "E_layer_3", "separation_power": 0.02}]}).split(":")[0]
    'Indistinguishable at this sample size'
    >>> verdict({"classifier": {"high_level": {"auc": 0.99, "auc_error": 0.01}}}).split(":")[0]
    'Clearly distinguishable'
    """
    aucs = {k.replace("_level", "-level"): c for k, c in result.get("classifier", {}).items()
            if isinstance(c, dict) and c.get("auc") is not None}
    worst = (result.get("worst_separation_powers") or [{}])[0]
    worst_sep = worst.get("separation_power")
    parts = [f"classifier AUC {name} {c['auc']:.3f} (indistinguishable: 0.5 ± {3 * c['auc_error']:.3f} at 3σ)"
             for name, c in aucs.items()]
    if worst_sep is not None:
        parts.append(f"worst separation power {worst_sep:.3f} ({worst.get('name')})")
    null = all(abs(c["auc"] - 0.5) <= 3 * c["auc_error"] for c in aucs.values()) and aucs
    close = (all(c["auc"] <= (0.70 if name.startswith("high") else 0.85) for name, c in aucs.items())
             and (worst_sep is None or worst_sep <= 0.15))
    if null and (worst_sep is None or worst_sep <= 0.15):
        head = "Indistinguishable at this sample size"
    elif close and (aucs or worst_sep is not None):
        head = "Close (within the usual targets of a fast surrogate, not indistinguishable)"
    else:
        head = "Clearly distinguishable"
    return f"{head}: " + "; ".join(parts) + "." if parts else f"{head}."


def write_index(result: dict, figures: list[dict], path: str | Path) -> Path:
    """Write the report page: a warning box (``result["warnings"]``: implausible input values), summary table
    (classifier AUCs, FPD/KPD, PRDC, worst separation powers, mu90 per energy), then the figures.
    ``figures`` paths are relative to the page."""
    from hepgen.data.atomic import atomic_path

    rows = [("geometry", result.get("geometry")), ("showers (reference / generated)",
            f"{result.get('n_reference')} / {result.get('n_generated')}"),
            ("cell threshold [MeV]", _fmt(result.get("threshold_mev")))]
    for kind, c in result.get("classifier", {}).items():
        rows.append((f"classifier AUC, {kind.replace('_', '-')} (0.5 = indistinguishable)",
                     f"{_fmt(c['auc'], c['auc_error'])} (JSD {c['jsd']:.4f}, best epoch {c['best_epoch']})"))
    for key, scale, label in (("fpd", 1e3, "FPD × 10³"), ("kpd", 1e3, "KPD × 10³")):
        if key in result:
            rows.append((label, _fmt(result[key]["value"] * scale, result[key]["error"] * scale)))
    if "prdc" in result:
        p = result["prdc"]
        rows.append(("precision / recall / density / coverage",
                     " / ".join(f"{p[k]:.3f}" for k in ("precision", "recall", "density", "coverage"))))
    if "correlations" in result:
        rows.append(("max |Δ correlation|", _fmt(result["correlations"]["max_abs_difference"])))
    hadronic = result.get("hadronic") or {}
    if hadronic:
        rows.append(("pion evaluation: MIP [MeV], cell cut [MeV]",
                     f"{_fmt(hadronic.get('mip_mev'))}, {_fmt(hadronic.get('threshold_mev'))}"))
    for e in hadronic.get("per_energy", []):
        k = hadronic.get("max_start_layer", 5)
        where = "all energies" if e["E_inc_mev"] != e["E_inc_mev"] else f"{e['E_inc_mev'] / 1e3:.4g} GeV"
        rows.append((f"{where}: μ90 gen/ref (all; start < layer {k}), no-start fraction ref / gen",
                     f"{_fmt(e['all_mu90_ratio'])}; {_fmt(e[f'start_below_{k}_mu90_ratio'])}, "
                     f"{e['reference']['no_start_fraction']:.3f} / {e['generated']['no_start_fraction']:.3f}"))
    summary = "\n".join(f"<tr><th>{html.escape(str(a))}</th><td>{html.escape(str(b))}</td></tr>" for a, b in rows)
    worst = "\n".join(f"<tr><td>{html.escape(w['name'])}</td>"
                      f"<td>{_fmt(w['separation_power'], w['separation_power_error'])}</td></tr>"
                      for w in result.get("worst_separation_powers", []))
    undefined = result.get("undefined_separation_powers") or []
    if undefined:
        worst += (f"<tr><td colspan='2'>undefined (a histogram with no entries in range): "
                  f"{html.escape(', '.join(undefined))}</td></tr>")
    ebins = "\n".join(
        f"<tr><td>{e['E_inc_min_mev'] / 1e3:.4g}–{e['E_inc_max_mev'] / 1e3:.4g}</td>"
        f"<td>{_fmt(e['reference']['mu90'], e['reference']['mu90_err'])}</td>"
        f"<td>{_fmt(e['generated']['mu90'], e['generated']['mu90_err'])}</td>"
        f"<td>{_fmt(e['reference']['sigma90/mu90'])}</td><td>{_fmt(e['generated']['sigma90/mu90'])}</td>"
        f"<td>{_fmt(e['E_vis/E_inc_separation_power'])}</td></tr>" for e in result.get("energy_bins", []))
    warn = "".join(f"<li>{html.escape(str(w))}</li>" for w in result.get("warnings", []))
    if warn:
        warn = ("<div class='warnings' role='alert'><strong>Warning: implausible input values; the numbers below "
                f"describe these files as they are.</strong><ul>{warn}</ul></div>")
    figs = "\n".join(f"<figure><img src='{html.escape(f['path'])}' width='420'><figcaption>{html.escape(f['name'])}"
                     f"{_sep(f.get('separation_power'))}</figcaption></figure>" for f in figures)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>hepgen evaluation: {html.escape(str(result.get('geometry')))}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin-bottom:1.5em}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}} figure{{display:inline-block;margin:4px}}
figcaption{{font-size:small}} .verdict{{font-size:larger}}
.warnings{{border:2px solid #c00;background:#fee;padding:0.5em 1em;margin:1em 0}}
</style></head><body>
<h1>Generated vs reference showers</h1>
{warn}
<p class='verdict'><strong>{html.escape(verdict(result))}</strong></p>
<p>Reference: {html.escape(str(result.get('reference_file', 'in memory')))}; generated:
{html.escape(str(result.get('generated_file', 'in memory')))}. All numbers with uncertainties are in metrics.json.</p>
<h2>Summary</h2><table>{summary}</table>
<h2>Worst separation powers</h2><table><tr><th>histogram</th><th>separation power</th></tr>{worst}</table>
<h2>μ90 and σ90/μ90 of E_vis per incident energy [GeV]</h2>
<table><tr><th>E_inc [GeV]</th><th>μ90 ref [MeV]</th><th>μ90 gen [MeV]</th><th>σ90/μ90 ref</th><th>σ90/μ90 gen</th>
<th>sep. power E_vis/E_inc</th></tr>{ebins}</table>
<h2>Figures</h2>{figs}
</body></html>
"""
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(page)
    return Path(path)
