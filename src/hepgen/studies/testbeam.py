"""The test-beam study of S. Diefenbacher's thesis (Ch. 8) on stand-in "measured" data.

S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Ch. 8
(also E. Buhmann et al., "Hadrons, better, faster, stronger", arXiv:2112.09709, for the pion BIB-AE): a BIB-AE with
visible-energy conditioning is trained on CALICE AHCAL test-beam pions and compared, at 40 / 80 / 160 GeV, with
the data and with Geant4 under two physics lists. The CALICE data are not public, so hepgen makes stand-ins:

* **"data"**: the parameterised hadronic reference (:mod:`hepgen.simulate.hadronic`) with the tune
  ``hadronic-a`` in ``calice-ahcal-2018``, read out by the detector effects of
  :mod:`hepgen.simulate.detector_effects` (0.06 MIP Gaussian noise in every cell before the 0.2 MIP auto-trigger
  threshold, a fixed random 0.5 % of the cells dead), written as a CALICE-style ROOT hit tree and imported by the
  path of real data (:func:`hepgen.data.calice.import_hit_tree`: 0.2 MIP training cut, punch-through rejection =
  a shower start must be found);
* **"hadronic-a"**: the same tune *without* detector effects (the simulator's own 0.2 MIP readout threshold only),
  the stand-in for a simulation that misses the digitisation;
* **"hadronic-b"**: the other tune (another "physics list") through the same detector effects (same dead map);
* **"BIB-AE"**: ``bibae`` with the preset ``testbeam-small`` (or ``testbeam``): conditioned on the incident and
  the visible energy, the visible energy drawn at generation jointly with the latent from the run's KDE and the
  shower rescaled to it (:meth:`hepgen.models.bibae.BIBAE.postprocess_physical`).

All four go through the pion evaluation (:mod:`hepgen.evaluate.hadronic`, 0.5 MIP cut): per energy the cell
spectrum, E_vis, n_hit, the CALICE start layer, the x / y / z profiles, the CoG z, mu90 and sigma90/mu90 with and
without the first-5-layers start selection, and the correlation differences (the thesis quotes them at 80 GeV);
and the time per shower on one thread (Table 8.1: 10 repetitions, mean and std) of the BIB-AE and of the
hadronic reference simulator. Every step keeps its output in the study folder and is skipped when rerun (data
files, the training run, which resumes to its ``max_time`` budget, the generated file).

>>> sorted(SAMPLES)
['bibae', 'data', 'hadronic-a', 'hadronic-b']
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hepgen.data import ShowerData
from hepgen.errors import InputError
from hepgen.simulate.detector_effects import DetectorEffects, noise_hit_probability

__all__ = ["SAMPLES", "StudySettings", "stand_in_sample", "make_datasets", "train_bibae", "generate_showers",
           "evaluate_samples", "time_simulators", "run_testbeam_study", "to_markdown", "write_figures",
           "main_figure", "GEOMETRY", "OUTPUT_FILES"]

GEOMETRY = "calice-ahcal-2018"
#: sample -> legend label, in the order of the figures (data first)
SAMPLES = {"data": "data (hadronic-a + detector effects)", "bibae": "BIB-AE (E_vis conditioned)",
           "hadronic-a": "hadronic-a, no detector effects", "hadronic-b": "hadronic-b + detector effects"}
_STYLE = {"data": dict(color="black", lw=1.8), "bibae": dict(color="tab:red", lw=1.4),
          "hadronic-a": dict(color="tab:blue", lw=1.2, ls="--"), "hadronic-b": dict(color="tab:green", lw=1.2,
                                                                                      ls=":")}
#: the result files of :func:`write_figures` and of the study's json / md / main png
OUTPUT_FILES = ("testbeam_study.json", "testbeam_study.md", "testbeam_study.png", "testbeam_cells_start_cog.png",
                "testbeam_profiles.png", "testbeam_mu90.png", "testbeam_correlations.png")
_SEED_OFFSET = {"train": 1, "data": 2, "hadronic-a": 3, "hadronic-b": 4, "generated": 5}


@dataclass
class StudySettings:
    """What the study runs (defaults: the full CPU study; the thesis had 50k training and 7.5k test showers per
    energy and 82 + 19 epochs on an A100)."""

    energies_gev: Sequence[float] = (40.0, 80.0, 160.0)
    n_train_per_energy: int = 250
    n_test_per_energy: int = 1000
    config: str = "testbeam-small"
    max_time: str | float | None = "15m"
    max_epochs: int | None = None
    seed: int = 0
    timing_repeats: int = 10
    timing_showers: int = 100
    effects: DetectorEffects = field(default_factory=DetectorEffects)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["energies_gev"] = [float(e) for e in self.energies_gev]
        return out


# ---------------------------------------------------------------------------------------------------------------
# the samples
# ---------------------------------------------------------------------------------------------------------------

def stand_in_sample(folder: str | Path, name: str, tune: str, energies_gev: Sequence[float], n_per_energy: int,
                    seed: int, effects: DetectorEffects | None, overwrite: bool = False) -> Path:
    """Simulate ``n_per_energy`` pions per energy with ``tune`` (with ``effects``: :func:`simulate_measured`;
    ``None``: the plain simulator with its 0.2 MIP readout threshold), write them as a CALICE-style ROOT hit tree
    ``NAME.root`` (MIP units) and import that into ``NAME.h5`` as measured data are imported (0.2 MIP cut, showers
    without a shower start rejected as punch-throughs). An existing ``NAME.h5`` is kept (resume)."""
    from hepgen.data.calice import TRAINING_CUT_MIP, import_hit_tree, write_hit_tree
    from hepgen.simulate.detector_effects import simulate_measured
    from hepgen.simulate.hadronic import simulate_hadron_showers

    folder = Path(folder)
    target = folder / f"{name}.h5"
    if target.is_file() and not overwrite:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    energies = np.repeat(np.asarray(energies_gev, dtype=np.float64) * 1e3, n_per_energy)
    if effects is not None:
        showers = simulate_measured(GEOMETRY, energies, tune, seed, effects)
    else:
        showers = simulate_hadron_showers(GEOMETRY, energies, seed=seed, tune=tune)
    root = folder / f"{name}.root"
    write_hit_tree(root, showers, overwrite=True)
    import_hit_tree(root, target, GEOMETRY, cut_mip=TRAINING_CUT_MIP, require_start=True, overwrite=True)
    return target


def make_datasets(folder: str | Path, settings: StudySettings, overwrite: bool = False) -> dict[str, Path]:
    """The training set (``train``: "data" at every energy) and the three comparison samples (``data``,
    ``hadronic-a``, ``hadronic-b``), each from its own seed; see the module docstring."""
    s, eff = settings, settings.effects
    plan = {"train": ("hadronic-a", s.n_train_per_energy, eff), "data": ("hadronic-a", s.n_test_per_energy, eff),
            "hadronic-a": ("hadronic-a", s.n_test_per_energy, None),
            "hadronic-b": ("hadronic-b", s.n_test_per_energy, eff)}
    return {name: stand_in_sample(folder, name, tune, s.energies_gev, n, s.seed * 100 + _SEED_OFFSET[name], e,
                                  overwrite)
            for name, (tune, n, e) in plan.items()}


def train_bibae(train_file: str | Path, run_dir: str | Path, settings: StudySettings) -> Path:
    """Train (or resume) the BIB-AE on the training file with ``settings.config`` (a ``bibae`` preset or a YAML
    file; all showers train, none is held out), the time budget ``settings.max_time`` counted over all resumes."""
    from hepgen.training import train
    from hepgen.training.config import resolve_config

    config = resolve_config("bibae", settings.config)
    config["training"]["val_fraction"] = 0.0          # no validation here: every shower trains
    return train("bibae", train_file, run_dir, config, max_time=settings.max_time,
                 max_epochs=settings.max_epochs, seed=settings.seed)


def generate_showers(run_dir: str | Path, target: str | Path, energies_gev: Sequence[float], n_per_energy: int,
                     seed: int = 0) -> Path:
    """``n_per_energy`` showers per energy from the run (visible energies drawn by the model), written to
    ``target`` (kept when it exists)."""
    from hepgen.data.hdf5 import write_showers
    from hepgen.training.generate import load_generator

    target = Path(target)
    if target.is_file():
        return target
    gen = load_generator(run_dir, which="last")
    parts = [gen.sample(np.full(n_per_energy, e * 1e3), seed=seed * 1000 + k, batch_size=100)
             for k, e in enumerate(energies_gev)]
    write_showers(target, ShowerData.concatenate(parts), overwrite=True, metadata={"generator_run": str(run_dir)})
    return target


# ---------------------------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------------------------

_SCALARS = {"E_vis": ("E_vis", 1e-3, "E_vis [GeV]"), "n_hit": ("n_hits", 1.0, "n_hit"),
            "start_layer": ("start_layer_calice", 1.0, "shower start layer (CALICE finder)"),
            "cog_z": ("m1_z", 1.0, "centre of gravity z [mm]")}


def _hist(values_by_sample: dict[str, np.ndarray], bins: np.ndarray | int = 40, integer: bool = False,
          lo_q: float = 0.001, hi_q: float = 0.999) -> dict[str, Any]:
    """Normalised histograms of every sample on common edges (from the data's quantiles, widened by 10 %)."""
    ref = values_by_sample["data"]
    if isinstance(bins, int):
        lo, hi = np.quantile(ref, [lo_q, hi_q]) if len(ref) else (0.0, 1.0)
        pad = 0.1 * (hi - lo) if hi > lo else 1.0
        lo, hi = lo - pad, hi + pad
        edges = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.5) if integer else np.linspace(lo, hi, bins + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
    out = {"edges": edges.tolist()}
    for k, v in values_by_sample.items():
        c, _ = np.histogram(v, edges)
        out[k] = (c / max(len(v), 1)).tolist()
    return out


def _mean_err(v: np.ndarray) -> dict[str, float]:
    v = np.asarray(v, dtype=np.float64)
    return {"mean": float(v.mean()), "err": float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")}


def evaluate_samples(samples: dict[str, ShowerData], energies_gev: Sequence[float], mip_mev: float = 26.8,
                     max_start_layer: int = 5) -> dict[str, Any]:
    """The pion evaluation (:func:`hepgen.evaluate.hadronic.hadronic_features` and
    :func:`~hepgen.evaluate.hadronic.hadronic_summary`, 0.5 MIP cut) of every sample against ``samples['data']``,
    per energy: histograms (cell spectrum in MIP before the 0.5 MIP cut, E_vis, n_hit, start layer, CoG z, each
    also for showers starting in the first ``max_start_layer`` layers where it matters), mean profiles, means,
    mu90 and sigma90/mu90 (all showers; start < ``max_start_layer``) and the correlation comparison.

    >>> from hepgen.simulate.hadronic import simulate_hadron_showers
    >>> s = {k: simulate_hadron_showers("calice-ahcal-2018", np.full(24, 4e4), seed=i)
    ...      for i, k in enumerate(["data", "bibae"])}
    >>> r = evaluate_samples(s, [40.0])
    >>> r["per_energy"]["40"]["mu90"]["data"]["all"]["mu90"] > 0, len(r["per_energy"]["40"]["profiles"]["x"]["data"])
    (True, 24)
    """
    from hepgen.evaluate.hadronic import hadronic_features, hadronic_summary, mean_profiles

    result: dict[str, Any] = {"mip_mev": mip_mev, "max_start_layer": max_start_layer, "per_energy": {}}
    cell_edges = np.logspace(-1, 3, 61)       # MIP
    for e_gev in energies_gev:
        sub = {}
        for k, s in samples.items():
            m = np.isclose(s.incident_energy, e_gev * 1e3, rtol=1e-6)
            if m.sum() < 10:
                raise InputError(f"sample '{k}': {int(m.sum())} showers at {e_gev:g} GeV; expected at least 10")
            sub[k] = s[np.flatnonzero(m)]
        fs = {k: hadronic_features(s, mip_mev) for k, s in sub.items()}
        early = {k: f.scalars["start_layer_calice"] < max_start_layer for k, f in fs.items()}
        entry: dict[str, Any] = {"n": {k: len(s) for k, s in sub.items()}, "hist": {}, "means": {}, "mu90": {},
                                 "correlations": {}, "profiles": {}}
        cells = {k: s.energy[s.energy > 0] / mip_mev for k, s in sub.items()}
        entry["hist"]["cell_energy_mip"] = _hist(cells, cell_edges)
        for name, (key, scale, _) in _SCALARS.items():
            values = {k: f.scalars[key] * scale for k, f in fs.items()}
            integer = name in ("n_hit", "start_layer")
            if name == "start_layer":
                entry["hist"][name] = _hist(values, np.arange(-0.5, fs["data"].geometry.n_layers + 1.5))
            else:
                entry["hist"][name] = _hist(values, 40, integer=integer and np.ptp(values["data"]) < 80)
            entry["means"][name] = {k: _mean_err(v) for k, v in values.items()}
            if name in ("E_vis", "n_hit"):
                sel = {k: v[early[k]] for k, v in values.items()}
                entry["hist"][f"{name}_start_below_{max_start_layer}"] = _hist(sel, np.asarray(entry["hist"][name]
                                                                                                ["edges"]))
        prof = {k: mean_profiles(f) for k, f in fs.items()}
        for axis in ("longitudinal", "x", "y"):
            entry["profiles"][axis] = {k: (p[axis] / 1e3).tolist() for k, p in prof.items()}   # GeV per shower
        for k in samples:
            if k == "data":
                continue
            summ = hadronic_summary(fs["data"], fs[k], mip_mev, max_start_layer)
            pe = summ["per_energy"][0]
            entry["mu90"].setdefault("data", {"all": pe["reference"]["all"],
                                              "start": pe["reference"][f"start_below_{max_start_layer}"]})
            entry["mu90"][k] = {"all": pe["generated"]["all"],
                                "start": pe["generated"][f"start_below_{max_start_layer}"],
                                "all_mu90_ratio": pe["all_mu90_ratio"],
                                "all_resolution_ratio": pe["all_resolution_ratio"],
                                "start_mu90_ratio": pe[f"start_below_{max_start_layer}_mu90_ratio"],
                                "start_resolution_ratio": pe[f"start_below_{max_start_layer}_resolution_ratio"]}
            c = summ["correlations"]
            entry["correlations"][k] = {"max_abs_difference": c["max_abs_difference"],
                                        "mean_abs_difference": c["mean_abs_difference"], "error": c["error"],
                                        "difference": c["difference"]}
            entry["correlations"]["names"] = c["names"]
            entry["correlations"]["data"] = c["reference"]
            entry["no_start_fraction"] = entry.get("no_start_fraction", {"data": pe["reference"]["no_start_fraction"]})
            entry["no_start_fraction"][k] = pe["generated"]["no_start_fraction"]
        result["per_energy"][f"{e_gev:g}"] = entry
    return result


# ---------------------------------------------------------------------------------------------------------------
# timing (Table 8.1)
# ---------------------------------------------------------------------------------------------------------------

def time_simulators(run_dir: str | Path, energies_gev: Sequence[float] = (40.0, 160.0), repeats: int = 10,
                    n_showers: int = 100) -> dict[str, Any]:
    """Time per shower (ms; mean and std over ``repeats`` calls of ``n_showers`` showers after a warm-up, one
    thread) of the BIB-AE (the whole user path: KDE draws of latent and visible energy, decoder, Post-Processor,
    rescaling; network batch :func:`~hepgen.training.sampling.auto_batch_size`) and of the hadronic reference
    simulator (``hadronic-a``, no detector effects) at each energy (:func:`hepgen.timing.benchmark.time_per_item`).
    """
    import torch
    from threadpoolctl import threadpool_limits

    from hepgen.simulate.hadronic import simulate_hadron_showers
    from hepgen.timing.benchmark import machine_info, time_per_item
    from hepgen.training.generate import load_generator
    from hepgen.training.sampling import auto_batch_size

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            gen = load_generator(run_dir, which="last")
            batch = auto_batch_size(gen.model, gen.kind.n_cond)
            out: dict[str, Any] = {"threads": 1, "repeats": repeats, "n_showers": n_showers, "bibae_batch": batch,
                                   "machine": machine_info(), "per_energy": {}}
            for e in energies_gev:
                inc = np.full(n_showers, e * 1e3)
                ref = time_per_item(lambda: simulate_hadron_showers(GEOMETRY, inc, seed=1),  # noqa: B023
                                    n_showers, repeats)
                model = time_per_item(lambda: gen.sample(inc, batch_size=batch, seed=1), n_showers,  # noqa: B023
                                      repeats)
                out["per_energy"][f"{e:g}"] = {"hadronic_reference": ref, "bibae": model,
                                               "speed_up": ref["mean_ms"] / model["mean_ms"]}
    finally:
        torch.set_num_threads(threads)
    return out


# ---------------------------------------------------------------------------------------------------------------
# the whole study
# ---------------------------------------------------------------------------------------------------------------

def run_testbeam_study(output: str | Path, settings: StudySettings | None = None,
                       progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Data (stand-ins), training, generation, evaluation and timing (module docstring) in the folder ``output``
    (``data/``, ``run/``, ``generated.h5``); returns the result (JSON-ready). Steps already done are skipped."""
    from hepgen.data import ShowerFile, read_showers

    s = settings or StudySettings()
    say = progress or (lambda msg: None)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    say("simulating the stand-in data, the training set and the two tunes")
    files = make_datasets(out / "data", s)
    t_data = time.perf_counter() - t0
    say(f"training the BIB-AE ({s.config}, budget {s.max_time})")
    t1 = time.perf_counter()
    run = train_bibae(files["train"], out / "run", s)
    t_train = time.perf_counter() - t1
    say("generating")
    gen_file = generate_showers(run, out / "generated.h5", s.energies_gev, s.n_test_per_energy,
                                s.seed * 100 + _SEED_OFFSET["generated"])
    say("evaluating")
    samples = {"data": read_showers(files["data"]), "bibae": read_showers(gen_file),
               "hadronic-a": read_showers(files["hadronic-a"]), "hadronic-b": read_showers(files["hadronic-b"])}
    result = evaluate_samples(samples, s.energies_gev)
    say("timing")
    result["timing"] = time_simulators(run, sorted({min(s.energies_gev), max(s.energies_gev)}), s.timing_repeats,
                                       s.timing_showers)
    result["settings"] = s.as_dict()
    result["detector_effects"] = {**s.effects.as_dict(), "noise_hit_probability": noise_hit_probability(s.effects)}
    result["n_train"] = len(ShowerFile(files["train"]))
    result["training"] = _training_summary(run)
    result["wall_s"] = {"data": round(t_data, 1), "training_this_call": round(t_train, 1),
                        "total_this_call": round(time.perf_counter() - t0, 1)}
    result["samples"] = SAMPLES
    return result


def _training_summary(run: Path) -> dict[str, Any]:
    """The run's state and its last epoch record (:class:`hepgen.training.run.RunDir`)."""
    import json

    from hepgen.training.run import RunDir

    rd = RunDir(run)
    info: dict[str, Any] = {"run": Path(run).name, "state": rd.state()}
    if rd.metrics.is_file():
        lines = [line for line in rd.metrics.read_text().splitlines() if line.strip()]
        if lines:
            info["last_epoch"] = json.loads(lines[-1])
            info["epochs_logged"] = len(lines)
    return info


# ---------------------------------------------------------------------------------------------------------------
# table and figures
# ---------------------------------------------------------------------------------------------------------------

def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def to_markdown(result: dict[str, Any]) -> str:
    """The study's tables: per energy and sample the means, mu90 and sigma90/mu90 (all; start in the first 5
    layers) with the ratios to the data, the largest correlation difference; and the timing (Table 8.1)."""
    msl = result["max_start_layer"]
    lines = ["# Test-beam study (stand-in data; Diefenbacher 2022, Ch. 8)", ""]
    lines += ["| E [GeV] | sample | N | <E_vis> [GeV] | <n_hit> | <start layer> | <CoG z> [mm] | no start | "
              f"mu90 [GeV] | sigma90/mu90 | mu90 (start<{msl}) | sigma90/mu90 (start<{msl}) | max abs d corr |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e, entry in result["per_energy"].items():
        for k in SAMPLES:
            if k not in entry["n"]:
                continue
            m, mu = entry["means"], entry["mu90"].get(k, {})
            a, st = mu.get("all") or {}, mu.get("start") or {}
            ratio = "" if k == "data" else (f" ({_fmt(mu.get('all_mu90_ratio'), 4)})")
            rratio = "" if k == "data" else (f" ({_fmt(mu.get('all_resolution_ratio'), 3)})")
            sratio = "" if k == "data" else (f" ({_fmt(mu.get('start_mu90_ratio'), 4)})")
            srratio = "" if k == "data" else (f" ({_fmt(mu.get('start_resolution_ratio'), 3)})")
            corr = entry["correlations"].get(k, {}).get("max_abs_difference") if k != "data" else None
            lines.append(
                f"| {e} | {k} | {entry['n'][k]} | {m['E_vis'][k]['mean']:.2f} ± {m['E_vis'][k]['err']:.2f} | "
                f"{m['n_hit'][k]['mean']:.0f} ± {m['n_hit'][k]['err']:.0f} | "
                f"{m['start_layer'][k]['mean']:.2f} | {m['cog_z'][k]['mean']:.0f} | "
                f"{entry['no_start_fraction'].get(k, float('nan')):.3f} | "
                f"{_fmt(a.get('mu90', float('nan')) / 1e3, 4)}{ratio} | {_fmt(a.get('sigma90/mu90'))}{rratio} | "
                f"{_fmt(st.get('mu90', float('nan')) / 1e3, 4)}{sratio} | {_fmt(st.get('sigma90/mu90'))}{srratio} | "
                f"{_fmt(corr, 2)} |")
    lines += ["", "Ratios to the data in brackets. mu90, sigma90: mean and standard deviation of the central 90 % of "
              "E_vis; 0.5 MIP cell cut; <start layer>: 0-based, a shower without a start counted as 37; "
              "–: fewer than 10 showers.", ""]
    t = result.get("timing")
    if t:
        lines += [f"## Time per shower, one thread ({t['repeats']} repetitions of {t['n_showers']} showers, "
                  f"mean ± std; BIB-AE network batch {t['bibae_batch']})", "",
                  "| simulator | " + " | ".join(f"{e} GeV [ms] | speed-up" for e in t["per_energy"]) + " |",
                  "|---|" + "---|---|" * len(t["per_energy"])]
        for key, name in (("hadronic_reference", "hadronic reference (hadronic-a)"), ("bibae", "BIB-AE")):
            cells = []
            for v in t["per_energy"].values():
                r = v[key]
                speed = 1.0 if key == "hadronic_reference" else v["speed_up"]
                cells.append(f"{r['mean_ms']:.3g} ± {r['std_ms']:.2g} | x{speed:.2g}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        mi = t.get("machine", {})
        lines += ["", f"Machine: {mi.get('cpu', '?')}, {mi.get('nproc', '?')} cores, load "
                  f"{mi.get('load_average', '?')}, {mi.get('date', '')}."]
    d = result.get("detector_effects")
    if d:
        lines += ["", f"Detector effects of the stand-in data: Gaussian noise {d['noise_mip']} MIP per cell before the "
                  f"{d['threshold_mip']} MIP threshold (noise-hit probability {d['noise_hit_probability']:.2g} per "
                  f"empty cell), {100 * d['dead_fraction']:.2g} % dead cells (seed {d['dead_seed']})."]
    return "\n".join(lines) + "\n"


def _step(ax, h: dict, key: str, scale: float = 1.0) -> None:
    edges = np.asarray(h["edges"])
    ax.stairs(np.asarray(h[key]) * scale, edges, label=SAMPLES.get(key, key), **_STYLE.get(key, {}))


def _grid_figure(result: dict[str, Any], path, columns: list[tuple[str, str, str]], logx: Sequence[bool] = (),
                 logy: Sequence[bool] = ()) -> None:
    """Rows = energies, columns = histograms or profiles (kind ``hist`` / ``profile``, key, x label)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energies = list(result["per_energy"])
    fig, axes = plt.subplots(len(energies), len(columns), figsize=(4.2 * len(columns), 3.1 * len(energies)),
                             squeeze=False)
    for i, e in enumerate(energies):
        entry = result["per_energy"][e]
        for j, (kind, key, xlabel) in enumerate(columns):
            ax = axes[i, j]
            for k in SAMPLES:
                if kind == "hist" and k in entry["hist"][key]:
                    _step(ax, entry["hist"][key], k)
                elif kind == "profile" and k in entry["profiles"][key]:
                    y = np.asarray(entry["profiles"][key][k])
                    ax.stairs(y, np.arange(len(y) + 1) - 0.5, label=SAMPLES[k], **_STYLE[k])
            if kind == "hist" and key == "cell_energy_mip":
                ax.axvspan(ax.get_xlim()[0] if ax.get_xlim()[0] > 0 else 0.1, 0.5, color="grey", alpha=0.2,
                           hatch="//")
            if j < len(logx) and logx[j]:
                ax.set_xscale("log")
            if j < len(logy) and logy[j]:
                ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_title(f"{e} GeV", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80, format="png")
    plt.close(fig)


def main_figure(result: dict[str, Any], path) -> None:
    """E_vis and n_hit per energy, all showers and those starting in the first 5 layers (Figs. 8.5, 8.6)."""
    m = result["max_start_layer"]
    _grid_figure(result, path, [("hist", "E_vis", "E_vis [GeV]"), ("hist", "n_hit", "n_hit"),
                                ("hist", f"E_vis_start_below_{m}", f"E_vis [GeV], start < {m}"),
                                ("hist", f"n_hit_start_below_{m}", f"n_hit, start < {m}")])


def _mu90_figure(result: dict[str, Any], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energies = [float(e) for e in result["per_energy"]]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5), sharex=True)
    for col, sel in enumerate(("all", "start")):
        for k in SAMPLES:
            mu, res, mu_e, res_e = [], [], [], []
            for e in result["per_energy"].values():
                r = (e["mu90"].get(k) or {}).get(sel) or {}
                mu.append(r.get("mu90", np.nan) / 1e3), mu_e.append(r.get("mu90_err", np.nan) / 1e3)
                res.append(r.get("sigma90/mu90", np.nan)), res_e.append(r.get("sigma90/mu90_err", np.nan))
            st = _STYLE[k]
            axes[0, col].errorbar(energies, mu, mu_e, marker="o", color=st["color"], ls=st.get("ls", "-"),
                                  label=SAMPLES[k], capsize=2)
            axes[1, col].errorbar(energies, res, res_e, marker="o", color=st["color"], ls=st.get("ls", "-"),
                                  capsize=2)
        title = "all showers" if sel == "all" else f"shower start < {result['max_start_layer']}"
        axes[0, col].set_title(title, fontsize=9)
        axes[0, col].set_ylabel("mu90 [GeV]")
        axes[1, col].set_ylabel("sigma90 / mu90")
        axes[1, col].set_xlabel("beam energy [GeV]")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80, format="png")
    plt.close(fig)


def _correlation_figure(result: dict[str, Any], path, energy: str = "80") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if energy not in result["per_energy"]:
        energy = list(result["per_energy"])[len(result["per_energy"]) // 2]
    c = result["per_energy"][energy]["correlations"]
    names = c["names"]
    others = [k for k in SAMPLES if k in c and k != "data"]
    fig, axes = plt.subplots(1, 1 + len(others), figsize=(4.4 * (1 + len(others)), 4.4))
    panels = [("data: Pearson correlations", np.asarray(c["data"]), 1.0)]
    panels += [(f"{k} - data (max {c[k]['max_abs_difference']:.2f})", np.asarray(c[k]["difference"]), 0.5)
               for k in others]
    for ax, (title, mat, lim) in zip(np.atleast_1d(axes), panels):
        im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        ax.set_yticks(range(len(names)), names, fontsize=6)
        ax.set_title(f"{energy} GeV, {title}", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.7)
    fig.tight_layout()
    fig.savefig(path, dpi=80, format="png")
    plt.close(fig)


def write_figures(result: dict[str, Any], folder: str | Path, overwrite: bool = False) -> list[Path]:
    """The thesis-layout figures beside the main one (atomically): ``testbeam_cells_start_cog.png`` (cell spectrum,
    start layer, CoG z; rows = energies; Figs. 8.3-8.4), ``testbeam_profiles.png`` (x, y, z profiles; Fig. 8.4),
    ``testbeam_mu90.png`` (mu90 and sigma90/mu90 vs energy, all / start < 5; Fig. 8.7) and
    ``testbeam_correlations.png`` (80 GeV data matrix and the differences; Fig. 8.8)."""
    from hepgen.data.atomic import atomic_path, check_writable

    folder = Path(folder)
    jobs = {
        "testbeam_cells_start_cog.png": lambda p: _grid_figure(
            result, p, [("hist", "cell_energy_mip", "cell energy [MIP]"), ("hist", "start_layer", "start layer"),
                        ("hist", "cog_z", "CoG z [mm]")], logx=(True,), logy=(True,)),
        "testbeam_profiles.png": lambda p: _grid_figure(
            result, p, [("profile", "x", "x cell index (mean GeV per shower)"),
                        ("profile", "y", "y cell index"), ("profile", "longitudinal", "layer")], logy=(True, True)),
        "testbeam_mu90.png": lambda p: _mu90_figure(result, p),
        "testbeam_correlations.png": lambda p: _correlation_figure(result, p),
    }
    paths = [folder / name for name in jobs]
    for p in paths:
        check_writable(p, overwrite)
    for p, job in zip(paths, jobs.values()):
        with atomic_path(p, overwrite) as tmp:
            job(tmp)
    return paths
