"""Judge a generated sample against a reference: every histogram, metric and classifier test from two FeatureSets.

>>> import numpy as np
>>> from hepgen.data import JetData, ShowerData
>>> rng = np.random.default_rng(0)
>>> ref = ShowerData(np.full(500, 1e4), rng.exponential(10.0, (500, 25)), "belle2-ecl-5x5")
>>> gen = ShowerData(np.full(500, 1e4), rng.exponential(10.0, (500, 25)), "belle2-ecl-5x5")
>>> q = quick_metrics(ref, gen)
>>> sorted(q)[:2], q["sep_E_vis/E_inc"] < 0.1
(['sep_E1_frac', 'sep_E_max'], True)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from hepgen.data import JetData, ShowerData
from hepgen.errors import InputError
from hepgen.evaluate.distances import (CALOCHALLENGE_CONVENTION, CALOCHALLENGE_FPD, CALOCHALLENGE_KPD, Distance,
                                       fpd, kpd, single_threaded)
from hepgen.evaluate.features import FeatureSet, compute_features, default_threshold_mev, multivariate_inputs
from hepgen.evaluate.histograms import (auto_bins, challenge_bins, chi2, outside_bins, separation_power,
                                        separation_power_error)
from hepgen.evaluate.metrics import distance_messages, one_d_metrics, prdc
from hepgen.evaluate.observables import compare_correlations, mu90, shower_observables

__all__ = ["evaluate_samples", "evaluate_features", "compare_files", "jsonable", "quick_metrics", "check_compatible",
           "histogram_bins", "energy_bins", "energy_overlap", "binning_warnings"]

QUICK = ("E_vis/E_inc", "n_hits", "m1_z", "m2_x", "E1_frac", "E_max")


def check_compatible(reference: ShowerData, generated: ShowerData, reference_name: str = "reference",
                     generated_name: str = "generated") -> list[str]:
    """Refuse samples that cannot be compared (other geometry, NaN, negative deposits, incident energies that
    do not overlap); return warnings about implausible values (e.g. a response above twice the incident energy,
    see :mod:`hepgen.data.validate`).


    >>> from hepgen.data import ShowerData
    >>> a = ShowerData(np.full(2, 1e4), np.ones((2, 25)), "belle2-ecl-5x5")
    >>> b = ShowerData(np.full(2, 1e6), np.ones((2, 25)), "belle2-ecl-5x5")
    >>> check_compatible(a, b)  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: generated: dataset 'incident_energies': index 0: incident energies 1e+06-1e+06 MeV
    against the reference's 10000-10000 MeV: 2 of 2 generated and 2 of 2 reference showers lie outside the range
    both cover (1 % margin); expected matching incident-energy distributions (at most 10 % or 5 showers of either
    outside)
    """
    from hepgen.data.validate import LENIENT, check_showers

    if reference.geometry != generated.geometry:
        raise InputError(f"geometry '{generated.geometry.name}' ({generated.geometry.n_voxels} voxels) differs from "
                         f"the reference's '{reference.geometry.name}' ({reference.geometry.n_voxels} voxels)",
                         file=generated_name)
    warnings = check_showers(reference.incident_energy, reference.energy, file=reference_name, policy=LENIENT)
    warnings += check_showers(generated.incident_energy, generated.energy, file=generated_name, policy=LENIENT)
    energy_overlap(reference.incident_energy, generated.incident_energy, generated_name)
    return warnings


#: largest fraction of either sample that may lie outside the common incident-energy range (and at least
#: :data:`MAX_OUTSIDE_SHOWERS` showers: two draws of one spectrum differ by a few showers at the edges)
MAX_OUTSIDE_FRACTION = 0.10
MAX_OUTSIDE_SHOWERS = 5


def energy_overlap(ref_inc: np.ndarray, gen_inc: np.ndarray, generated_name: str = "generated",
                   margin: float = 0.01) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Masks of the showers inside the incident-energy range both samples cover, and a summary.

    Two draws of one spectrum never share their extremes, so both samples are cut to the common range
    [max of the minima, min of the maxima] (``margin`` relative) and the counts outside are reported. Only a
    real mismatch, more than :data:`MAX_OUTSIDE_FRACTION` (and :data:`MAX_OUTSIDE_SHOWERS`) of either sample
    outside, is refused.

    >>> rng = np.random.default_rng(1)
    >>> a, b = 10 ** rng.uniform(3, 6, 500), 10 ** rng.uniform(3, 6, 500)
    >>> ma, mb, info = energy_overlap(a, b)
    >>> info["n_reference_outside"] + info["n_generated_outside"] <= 4, int(ma.sum()) >= 497
    (True, True)
    """
    ref_inc, gen_inc = np.asarray(ref_inc, np.float64), np.asarray(gen_inc, np.float64)
    lo = max(float(ref_inc.min()), float(gen_inc.min())) * (1 - margin)
    hi = min(float(ref_inc.max()), float(gen_inc.max())) * (1 + margin)
    mr, mg = (ref_inc >= lo) & (ref_inc <= hi), (gen_inc >= lo) & (gen_inc <= hi)
    info = {"E_inc_min_mev": lo, "E_inc_max_mev": hi, "n_reference_outside": int((~mr).sum()),
            "n_generated_outside": int((~mg).sum())}
    too_many = [k > max(MAX_OUTSIDE_FRACTION * n, MAX_OUTSIDE_SHOWERS) for k, n in
                ((info["n_reference_outside"], len(ref_inc)), (info["n_generated_outside"], len(gen_inc)))]
    if lo > hi or any(too_many):
        bad = np.flatnonzero(~mg)
        raise InputError(f"incident energies {gen_inc.min():.6g}-{gen_inc.max():.6g} MeV against the reference's "
                         f"{ref_inc.min():.6g}-{ref_inc.max():.6g} MeV: {len(bad)} of {len(gen_inc)} generated and "
                         f"{info['n_reference_outside']} of {len(ref_inc)} reference showers lie outside the range "
                         f"both cover ({100 * margin:g} % margin); expected matching incident-energy distributions "
                         f"(at most {100 * MAX_OUTSIDE_FRACTION:g} % or {MAX_OUTSIDE_SHOWERS} showers of either "
                         "outside)",
                         file=generated_name,
                         dataset="incident_energies", index=int(bad[0]) if len(bad) else None)
    return mr, mg, info


def _overlap_warning(info: dict[str, Any]) -> list[str]:
    if not info["n_reference_outside"] and not info["n_generated_outside"]:
        return []
    return [f"incident energies: {info['n_reference_outside']} reference and {info['n_generated_outside']} generated "
            f"showers lie outside the common range {info['E_inc_min_mev']:.6g}-{info['E_inc_max_mev']:.6g} MeV and "
            "are left out of every comparison"]


def binning_warnings(histograms: dict[str, Any], n_reference: int, n_generated: int) -> list[str]:
    """Warnings for histograms whose binning hides generated entries (overflow, underflow, NaN) far more often
    than reference entries: a corrupt value or a broken energy scale must not read as a good match.

    >>> h = {"E_vis": {"outside": {"reference": {"underflow": 1, "overflow": 1, "non_finite": 0, "far": 0, "max": 1.0},
    ...                            "generated": {"underflow": 1, "overflow": 1, "non_finite": 0, "far": 1,
    ...                                          "max": 1e30}}}}
    >>> binning_warnings(h, 1000, 1000)  # doctest: +NORMALIZE_WHITESPACE
    ['E_vis: 2 of 1000 generated entries outside the histogram range (1 underflow, 1 overflow, 0 not finite,
     1 far outside; largest 1e+30), reference 2 of 1000']
    """
    out = []
    for name, h in histograms.items():
        o = h.get("outside")
        if not o:
            continue
        g, r = o["generated"], o["reference"]
        n_g = g["underflow"] + g["overflow"] + g["non_finite"]
        n_r = r["underflow"] + r["overflow"] + r["non_finite"]
        expected = (n_r + n_g) * n_generated / max(n_reference + n_generated, 1)   # same outside rate in both
        if n_g and (g["non_finite"] or g["far"] > r["far"] or n_g > 2 * expected + 3 * np.sqrt(expected) + 3):
            out.append(f"{name}: {n_g} of {n_generated} generated entries outside the histogram range "
                       f"({g['underflow']} underflow, {g['overflow']} overflow, {g['non_finite']} not finite, "
                       f"{g['far']} far outside; largest {g['max']:.6g}), reference {n_r} of {n_reference}")
    return out


def histogram_bins(name: str, ref: FeatureSet, gen: FeatureSet | None = None) -> tuple[np.ndarray, str]:
    """Bin edges for a scalar feature: the challenge's rules for its high-level features, else automatic."""
    geo = ref.geometry
    if name in ref.highlevel or name == "E_tot/E_inc":
        if name != "E_tot" and geo.calochallenge_dataset is not None:
            return (challenge_bins(name, ref.scalars[name], geo.calochallenge_dataset, max(ref.threshold_mev, 1e-6)),
                    "challenge")
    return auto_bins(np.concatenate([ref.scalars[name], gen.scalars[name]]) if gen is not None
                     else ref.scalars[name]), "auto"


def energy_bins(incident_energy: np.ndarray, max_discrete: int = 20, n_bins: int = 4) -> list[tuple[float, float]]:
    """Incident-energy bins (MeV): one per value for discrete energies, else reference quantiles.

    >>> [(round(a), round(b)) for a, b in energy_bins(np.array([1e3, 1e3, 2e3]))]
    [(999, 1001), (1998, 2002)]
    """
    values = np.unique(incident_energy)
    if len(values) <= max_discrete:
        return [(float(v * 0.999), float(v * 1.001)) for v in values]
    q = np.quantile(incident_energy, np.linspace(0, 1, n_bins + 1))
    q[-1] *= 1.0001
    return [(float(a), float(b)) for a, b in zip(q[:-1], q[1:])]


def _compare_1d(r: np.ndarray, g: np.ndarray, bins: np.ndarray, w1: bool = True) -> dict[str, Any]:
    cr, _ = np.histogram(r, bins)
    cg, _ = np.histogram(g, bins)
    c2, ndf = chi2(cr, cg)
    out = {"separation_power": separation_power(cr, cg), "separation_power_error": separation_power_error(cr, cg),
           "chi2": c2, "ndf": ndf, "outside": {"reference": outside_bins(r, bins), "generated": outside_bins(g, bins)}}
    if w1:
        out.update(one_d_metrics(r, g, n_bootstrap=5, seed=0))
    return out


def _calochallenge_entry(distance: Distance) -> dict[str, Any]:
    """An FPD/KPD result as ``metrics.json`` holds it: value, error, notes and the convention."""
    return {**distance.as_dict(), "convention": CALOCHALLENGE_CONVENTION}


def _calochallenge_kpd(xr: np.ndarray, xg: np.ndarray, seed: int, n_jobs: int = 1) -> dict[str, Any]:
    return _calochallenge_entry(kpd(xr, xg, **{**CALOCHALLENGE_KPD, "seed": CALOCHALLENGE_KPD["seed"] + seed},
                                    n_jobs=n_jobs, sampling="auto"))


def evaluate_features(ref: FeatureSet, gen: FeatureSet, multivariate: bool = True, seed: int = 0,
                      n_jobs: int = 2) -> dict[str, Any]:
    """All histogram, 1D, energy-binned, correlation and multivariate metrics from two FeatureSets.

    With ``multivariate``, the KPD batches run in ``n_jobs`` worker processes (``n_jobs=1``: in this
    process) while this process computes everything else; the values do not depend on ``n_jobs``.
    """
    out: dict[str, Any] = {"geometry": ref.geometry.name, "threshold_mev": ref.threshold_mev,
                           "n_reference": len(ref), "n_generated": len(gen)}
    kpd_job = pool = None
    if multivariate:
        xr, xg = multivariate_inputs(ref, ref.incident_energy), multivariate_inputs(gen, gen.incident_energy)
        if n_jobs > 1:   # a thread that only waits for the KPD worker processes
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(1)
            kpd_job = pool.submit(_calochallenge_kpd, xr, xg, seed, n_jobs)
    hists: dict[str, Any] = {}
    per_layer = {n for n in ref.highlevel if n[-1].isdigit()}
    for name in ref.scalars:
        if name == "E_inc":
            continue
        bins, kind = histogram_bins(name, ref, gen)
        entry = _compare_1d(ref.scalars[name], gen.scalars[name], bins, w1=True)
        entry["binning"] = kind
        entry["per_layer"] = name in per_layer
        hists[name] = entry
    if ref.cell_counts is not None:
        top = 10 ** (np.flatnonzero(ref.cell_counts).max() * 1e-4 + 0.5e-4 - 6.0) if ref.cell_counts.any() else 1.0
        challenge = ref.geometry.calochallenge_dataset
        if challenge is not None:
            edges = challenge_bins("voxel_energy", np.array([top]), challenge, max(ref.threshold_mev, 1e-6))
        else:
            edges = np.logspace(np.log10(max(ref.threshold_mev, 1e-3)), np.log10(max(top, 1e-2)), 51)
        cr, cg = ref.cell_histogram(edges), gen.cell_histogram(edges)
        c2, ndf = chi2(cr, cg)
        hists["voxel_energy"] = {"separation_power": separation_power(cr, cg),
                                 "separation_power_error": separation_power_error(cr, cg), "chi2": c2, "ndf": ndf,
                                 "binning": "challenge" if challenge is not None else "auto",
                                 "per_layer": False, "edges": edges.tolist()}
    out["histograms"] = hists
    out.setdefault("warnings", []).extend(binning_warnings(hists, len(ref), len(gen)))
    # per incident-energy bin: E_vis/E_inc separation power, mu90 and sigma90/mu90 of E_vis
    ebins = []
    for lo, hi in energy_bins(ref.incident_energy):
        mr = (ref.incident_energy >= lo) & (ref.incident_energy < hi)
        mg = (gen.incident_energy >= lo) & (gen.incident_energy < hi)
        if mr.sum() < 10 or mg.sum() < 10:
            continue
        a, b = mu90(ref.scalars["E_vis"][mr]), mu90(gen.scalars["E_vis"][mg])
        ratio_bins = auto_bins(np.concatenate([ref.scalars["E_vis/E_inc"][mr], gen.scalars["E_vis/E_inc"][mg]]), 40)
        e = _compare_1d(ref.scalars["E_vis/E_inc"][mr], gen.scalars["E_vis/E_inc"][mg], ratio_bins, w1=False)
        ebins.append({"E_inc_min_mev": lo, "E_inc_max_mev": hi, "n_reference": int(mr.sum()),
                      "n_generated": int(mg.sum()),
                      "reference": a, "generated": b,
                      "mu90_ratio": b["mu90"] / a["mu90"] if a["mu90"] else float("nan"),
                      "resolution_ratio": b["sigma90/mu90"] / a["sigma90/mu90"] if a["sigma90/mu90"] else float("nan"),
                      "E_vis/E_inc_separation_power": e["separation_power"],
                      "E_vis/E_inc_separation_power_error": e["separation_power_error"]})
    out["energy_bins"] = ebins
    out["correlations"] = compare_correlations(ref.scalars, gen.scalars)
    if multivariate:
        with np.errstate(over="ignore", invalid="ignore"):
            mean, std = xr.mean(axis=0), xr.std(axis=0) + 1e-12
            zr, zg = (xr - mean) / std, (xg - mean) / std
        # seed 42: jetnet's default; below the official batch sizes, subsamples without replacement (consistent
        # with zero for two samples of one distribution; the difference is stated in the result's warnings)
        out["fpd"] = _calochallenge_entry(fpd(xr, xg, **{**CALOCHALLENGE_FPD, "seed": CALOCHALLENGE_FPD["seed"] + seed},
                                              sampling="auto"))
        if np.isfinite(zr).all() and np.isfinite(zg).all():
            with single_threaded():
                out["prdc"] = prdc(zr, zg, seed=seed)
        else:   # features beyond float64 after standardising (implausible input, warned about): no PRDC
            out["prdc"] = {k: float("nan") for k in ("precision", "recall", "density", "coverage")}
        out["kpd"] = kpd_job.result() if kpd_job is not None else _calochallenge_kpd(xr, xg, seed)
        if pool is not None:
            pool.shutdown()
        from hepgen.progress import status

        status(f"FPD/KPD on {len(xr)} reference and {len(xg)} generated showers, {xr.shape[1]} features")
        for line in distance_messages("FPD", out["fpd"]) + distance_messages("KPD", out["kpd"]):
            status(line)
        out["multivariate_inputs"] = ("the challenge's high-level classifier inputs" if ref.highlevel else
                                      "log10 E_inc and every scalar observable") + "; PRDC on standardised inputs"
    sp = sorted(((v["separation_power"], k) for k, v in hists.items() if np.isfinite(v["separation_power"])),
                reverse=True)
    out["worst_separation_powers"] = [{"name": k, "separation_power": s,
                                       "separation_power_error": hists[k]["separation_power_error"]}
                                      for s, k in sp[:10]]
    out["undefined_separation_powers"] = sorted(k for k, v in hists.items() if not np.isfinite(v["separation_power"]))
    return out


def evaluate_samples(reference: ShowerData, generated: ShowerData, classifier: bool = True, seed: int = 0,
                     threshold_mev: float | None = None, classifier_options: dict | None = None,
                     features: tuple[FeatureSet, FeatureSet] | None = None) -> dict[str, Any]:
    """Everything ``metrics.json`` holds for two in-memory samples of one geometry.

    ``classifier=False`` skips the DNN tests; ``classifier_options`` go to
    :func:`hepgen.evaluate.classifier.classifier_test` (e.g. ``recipe``, ``n_hidden``, ``n_epochs``, ``max_showers``).
    """
    warnings = check_compatible(reference, generated)
    mr, mg, overlap = energy_overlap(reference.incident_energy, generated.incident_energy)
    if not (mr.all() and mg.all()):
        reference, generated = reference[mr], generated[mg]
        if features is not None:
            features = (features[0].subset(np.flatnonzero(mr)), features[1].subset(np.flatnonzero(mg)))
    if features is None:
        threshold = default_threshold_mev(reference.geometry) if threshold_mev is None else threshold_mev
        features = (compute_features(reference, threshold), compute_features(generated, threshold))
    ref, gen = features
    result = evaluate_features(ref, gen, seed=seed)
    result["incident_energy_overlap"] = overlap
    result["warnings"] = warnings + _overlap_warning(overlap) + result["warnings"]
    if classifier:
        result["classifier"] = run_classifiers(reference, generated, ref, gen, seed, classifier_options or {})
    return result


def run_classifiers(reference: ShowerData, generated: ShowerData, ref: FeatureSet, gen: FeatureSet, seed: int,
                    options: dict) -> dict[str, Any]:
    """Low-level (voxels) and high-level (features) classifier tests."""
    from hepgen.evaluate.classifier import classifier_test, low_level_inputs
    from hepgen.evaluate.observables import apply_threshold

    t = ref.threshold_mev
    low_r = low_level_inputs(apply_threshold(reference.energy, t), reference.incident_energy)
    low_g = low_level_inputs(apply_threshold(generated.energy, t), generated.incident_energy)
    out = {"low_level": classifier_test(low_r, low_g, seed=seed, **options)}
    del low_r, low_g
    out["high_level"] = classifier_test(multivariate_inputs(ref, ref.incident_energy),
                                        multivariate_inputs(gen, gen.incident_energy), seed=seed, level="high",
                                        **options)
    return out


def quick_metrics(reference: ShowerData | JetData, generated: ShowerData | JetData,
                  max_showers: int = 2000) -> dict[str, float]:
    """A training loop's periodic validation (< 1 s on 1k showers or jets), lower is better: for showers a few
    separation powers (``sep_<observable>``); for jets W1M alone (``W1M``, the Wasserstein-1 distance of the
    relative jet masses on the full samples, ×10³ as in the JetNet tables), the epoch selection of B. Käch,
    "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024), Ch. 5.

    >>> import numpy as np
    >>> p = np.zeros((50, 3, 4)); p[..., 0] = np.random.default_rng(0).normal(0, .1, (50, 3))
    >>> p[..., 2], p[..., 3] = 1 / 3, 1
    >>> quick_metrics(JetData(p), JetData(p))
    {'W1M': 0.0}
    """
    if isinstance(reference, JetData) or isinstance(generated, JetData):
        from hepgen.evaluate.jets import w1m

        return {"W1M": 1e3 * w1m(reference, generated, num_batches=0)[0]}
    n = min(max_showers, len(reference), len(generated))
    thr = default_threshold_mev(reference.geometry)
    r = shower_observables(reference.energy[:n], reference.incident_energy[:n], reference.geometry, thr)
    g = shower_observables(generated.energy[:n], generated.incident_energy[:n], generated.geometry, thr)
    out = {}
    for name in QUICK:
        bins = auto_bins(np.concatenate([r[name], g[name]]), 30)
        out[f"sep_{name}"] = separation_power(np.histogram(r[name], bins)[0], np.histogram(g[name], bins)[0])
    return out



def _cached_features_quietly(path: str, cache: str, thr: float, geometry: str | None, chunk_size: int,
                             mip_mev: float | None = None) -> None:
    """Worker process of :func:`_features_of_both`: compute one file's features into its cache file."""
    from hepgen.evaluate.features import cached_features

    cached_features(path, cache, thr, geometry, chunk_size, mip_mev=mip_mev)


def _features_of_both(reference_path: str | Path, generated_path: str | Path, cache_dir: Path, thr: float,
                      geometry: str | None, chunk_size: int, workers: int,
                      mip_mev: float | None = None) -> tuple[FeatureSet, FeatureSet]:
    """Cached features of both files; the generated file's in a spawned process while this one reads the
    reference (each process single-threaded, one chunk in memory). If the worker fails, its file is done here
    (so a bad file raises the usual :class:`InputError`)."""
    from hepgen.evaluate.features import cached_features
    from hepgen.progress import status

    ref_cache, gen_cache = cache_dir / "reference_features.npz", cache_dir / "generated_features.npz"
    future = pool = None
    if workers > 1 and not gen_cache.exists():
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        cache_dir.mkdir(parents=True, exist_ok=True)
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        future = pool.submit(_cached_features_quietly, str(generated_path), str(gen_cache), thr, geometry, chunk_size,
                             mip_mev)
    try:
        ref = cached_features(reference_path, ref_cache, thr, geometry, chunk_size, "reference features", mip_mev)
        if future is not None:
            status("waiting for the generated file's features")
            try:
                future.result()
            except Exception:  # noqa: BLE001 - redone below, where an InputError reaches the user
                pass
        gen = cached_features(generated_path, gen_cache, thr, geometry, chunk_size, "generated features", mip_mev)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return ref, gen


def compare_files(reference_path: str | Path, generated_path: str | Path, cache_dir: str | Path,
                  classifier: bool = True, seed: int = 0, threshold_mev: float | None = None,
                  geometry: str | None = None, chunk_size: int = 5_000, classifier_options: dict | None = None,
                  classifier_max_showers: int = 20_000, workers: int = 2, hadronic: bool = False,
                  mip_mev: float | None = None) -> tuple[dict[str, Any], FeatureSet, FeatureSet]:
    """Evaluate two shower files: ``(result, reference features, generated features)``; ``result`` is
    everything ``metrics.json`` holds (:func:`hepgen.report.evaluation.write_report` writes it with the
    figures and ``index.html``; :func:`hepgen.report.evaluation.evaluate_and_report` does both).

    Features stream through the files in chunks (with ``workers`` = 2, the generated file's in a second
    process beside the reference's) and are cached in ``cache_dir``; the classifier reads at most
    ``classifier_max_showers`` showers of each. Files that cannot be read are refused (:class:`InputError`);
    implausible values (see :mod:`hepgen.data.validate`) are reported on stderr and in ``result["warnings"]``.

    ``hadronic`` adds the pion evaluation (:mod:`hepgen.evaluate.hadronic`): the default threshold becomes 0.5 MIP
    (``mip_mev``, default the geometry's MIP value), the features hold the CALICE shower start
    ``start_layer_calice``, and ``result["hadronic"]`` the per-energy mu90 with and without the start-layer cut,
    the correlation comparison and the mean x/y/z profiles.
    """
    from hepgen.data import ShowerFile
    from hepgen.data.validate import LENIENT
    from hepgen.progress import status, warn

    t0 = time.perf_counter()
    fr, fg = (ShowerFile(p, geometry, policy=LENIENT) for p in (reference_path, generated_path))
    if fr.geometry != fg.geometry:
        raise InputError(f"geometry '{fg.geometry.name}' ({fg.geometry.n_voxels} voxels) differs from the "
                         f"reference's '{fr.geometry.name}' ({fr.geometry.n_voxels} voxels)", file=str(generated_path))
    mr, mg, overlap = energy_overlap(fr.incident_energy(), fg.incident_energy(), str(generated_path))
    mip = None
    if hadronic:
        from hepgen.evaluate.hadronic import hadronic_threshold_mev

        hadronic_thr, mip = hadronic_threshold_mev(fr.geometry, mip_mev)
        thr = hadronic_thr if threshold_mev is None else threshold_mev
    else:
        thr = (default_threshold_mev(fr.geometry) * energy_convention_scale(fr, fg, str(generated_path))
               if threshold_mev is None else threshold_mev)

    ref, gen = _features_of_both(reference_path, generated_path, Path(cache_dir), thr, geometry, chunk_size, workers,
                                 mip)
    if not (mr.all() and mg.all()):
        ref, gen = ref.subset(np.flatnonzero(mr)), gen.subset(np.flatnonzero(mg))
    t_feat = time.perf_counter() - t0
    status("comparing histograms, FPD/KPD, PRDC")
    result = evaluate_features(ref, gen, seed=seed)
    result["reference_file"], result["generated_file"] = str(reference_path), str(generated_path)
    result["incident_energy_overlap"] = overlap
    result["warnings"] = ref.warnings + gen.warnings + _overlap_warning(overlap) + result["warnings"]
    if mip is not None:
        from hepgen.evaluate.hadronic import hadronic_summary

        result["hadronic"] = hadronic_summary(ref, gen, mip_mev=mip)
    if classifier:
        status("classifier tests")
        n_r, n_g = min(len(fr), classifier_max_showers), min(len(fg), classifier_max_showers)
        kr, kg = np.flatnonzero(mr[:n_r]), np.flatnonzero(mg[:n_g])
        result["classifier"] = run_classifiers(fr.read(0, n_r)[kr], fg.read(0, n_g)[kg], ref.subset(
            slice(0, len(kr))), gen.subset(slice(0, len(kg))), seed, classifier_options or {})
    for w in result["warnings"]:
        warn(w)
    result["timing_s"] = {"features": round(t_feat, 3), "total_before_report": round(time.perf_counter() - t0, 3)}
    return result, ref, gen


def energy_convention_scale(reference_file: Any, generated_file: Any, generated_name: str = "generated") -> float:
    """Factor from the geometry's default threshold to the files' energies: for geometries with
    ``calibrated_energies`` (CaloChallenge ds2/3, threshold stated for calibrated energies) the sampling fraction
    when the files say ``energy_convention = visible``,
    else 1. Files that state different conventions cannot be compared.

    >>> class F:
    ...     def __init__(self, **attrs): self.attrs, self.geometry = attrs, type("G", (), {"calibrated_energies": True})
    >>> energy_convention_scale(F(), F(energy_convention="calibrated"))
    1.0
    >>> energy_convention_scale(F(energy_convention="visible", sampling_fraction=0.0255), F())
    0.0255
    """
    conv = [str(f.attrs.get("energy_convention", "")) for f in (reference_file, generated_file)]
    if conv[0] and conv[1] and conv[0] != conv[1]:
        raise InputError(f"energy convention '{conv[1]}' differs from the reference's '{conv[0]}' (calibrated = "
                         "visible / sampling fraction, the CaloChallenge ds2/3 convention); simulate both the same way",
                         file=generated_name)
    if not reference_file.geometry.calibrated_energies:
        return 1.0
    for f, c in zip((reference_file, generated_file), conv):
        if c == "visible" and "sampling_fraction" in f.attrs:
            return float(f.attrs["sampling_fraction"])
    return 1.0


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python numbers and lists, NaN and infinities as ``None``
    (strict JSON, as ``metrics.json`` is written).

    >>> jsonable({"a": np.float32(0.5), "b": np.array([1, 2]), "c": float("nan")})
    {'a': 0.5, 'b': [1, 2], 'c': None}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None     # strict JSON: NaN / inf -> null
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    return obj
