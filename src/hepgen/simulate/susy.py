"""Analysis-level events of a SUSY search and its Standard-Model background with Pythia 8 + FastJet: the public
analogue of the CMS T5qqqqWW samples of B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis,
U. Hamburg / DESY (2024), Sec. 7.2 (the CMS samples are not public).

Signal (``signal``): gluino pair production, pp → g̃ g̃ at sqrt(s) = 13 TeV (Pythia's SUSY:gg2gluinogluino and
SUSY:qqbar2gluinogluino), every gluino decaying g̃ → q q̄' χ̃±1 (3-body, light flavours), χ̃±1 → W± χ̃01, the W
decaying inclusively; χ̃01 stable and invisible. The spectrum is an SLHA file written here: m(g̃) = 2200 GeV,
m(χ̃01) = 100 GeV and the chargino mass set by the mixing ε (thesis Eq. 7.6)

    m(χ̃±1) = m(χ̃01) + ε (m(g̃) − m(χ̃01)),    ε = 0.25, 0.5, 0.75 -> 625, 1150, 1675 GeV;

every other sparticle at 100 TeV (decoupled), pure-gaugino mixing matrices, branching ratios given in the
DECAY blocks. Background: semileptonic-capable t t̄ (``ttbar``: Top:gg2ttbar, Top:qqbar2ttbar) and W + jet with
W → ℓ ν (``wjets``: WeakBosonAndParton:qqbar2Wg, qg2Wq; W → e, μ, τ), both with p̂_T ∈ [``pthat_min``,
``pthat_max``] (default > 400 GeV: the signal-like region, H_T ≳ 1 TeV, needs a hard process; slices of p̂_T add up
to the whole with their own cross sections), the thesis's dominant categories after the b veto ("Rare" t t̄ V and
dibosons are left out). Multi-parton
interactions off, as for hepgen's jets.

Particle-level reconstruction (a stand-in for CMS FastSim / full simulation): isolated leptons — final e or μ with
p_T > 10 GeV, |η| < 2.4 and Σ p_T of the other visible particles within ΔR < 0.3 below 0.2 p_T; jets — anti-kT
R = 0.4 of all visible final particles with |η| < 5 except the isolated leptons, p_T > 30 GeV, |η| < 2.4; missing
p_T — minus the vector sum of the visible particles with |η| < 5; b jets — jets within ΔR < 0.4 of a b hadron with
p_T > 5 GeV (the b veto of the selection is applied as the weight (1 − 0.7)^n_b, a 70 % tagging efficiency, which
keeps the t t̄ statistics). An event is stored if it has exactly one isolated lepton, with p_T > 25 GeV, and at least
two jets. Its 15 features are the thesis's (Sec. 7.2.1, :data:`FEATURES`); ``delta_phi`` (lepton vs the W built from
lepton + missing p_T, the thesis's correlation check) and ``lt`` = p_T^miss + p_T^lep, ``n_b`` and ``weight_fb``
(the process's Pythia cross section / events generated, fb per event) and ``pthat`` come with it. :func:`signal_region`
applies Table 7.1: exactly one lepton (p_T > 25), jet1 and jet2 p_T > 80, L_T > 250, H_T > 500, n_jets ≥ 5,
n_b = 0 (as the weight).

>>> round(chargino_mass(0.25), 1), round(chargino_mass(0.75), 1)
(625.0, 1675.0)
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepgen.errors import InputError
from hepgen.simulate.jets import start_pythia, wrap_phi

__all__ = ["FEATURES", "PROCESSES", "SusyProduction", "chargino_mass", "slha_spectrum", "reconstruct_event",
           "signal_region", "simulate_susy", "load_susy_events"]

FEATURES = ("lep_pt", "lep_eta", "lep_phi", "jet1_pt", "jet1_eta", "jet1_phi", "jet2_pt", "jet2_eta", "jet2_phi",
            "ht", "n_jets", "jet1_mass", "jet2_mass", "met", "met_phi")
PROCESSES = ("signal", "ttbar", "wjets")
B_TAG_EFFICIENCY = 0.7
_DECOUPLED = 1.0e5
_SPARTICLES = (1000001, 2000001, 1000002, 2000002, 1000003, 2000003, 1000004, 2000004, 1000005, 2000005,
               1000006, 2000006, 1000011, 2000011, 1000012, 1000013, 2000013, 1000014, 1000015, 2000015, 1000016,
               1000023, 1000025, 1000035, 1000037, 35, 36, 37)


def chargino_mass(epsilon: float, m_gluino: float = 2200.0, m_lsp: float = 100.0) -> float:
    """m(χ̃±1) = m(χ̃01) + ε (m(g̃) − m(χ̃01)) in GeV (thesis Eq. 7.6)."""
    if not 0.0 < epsilon < 1.0:
        raise InputError(f"mass mixing epsilon must lie in (0, 1), got {epsilon}")
    return m_lsp + epsilon * (m_gluino - m_lsp)


def slha_spectrum(epsilon: float, m_gluino: float = 2200.0, m_lsp: float = 100.0) -> str:
    """The SLHA text of the T5qqqqWW-like spectrum (module docstring).

    >>> text = slha_spectrum(0.5)
    >>> "1000024   1150.000" in text, "DECAY   1000024" in text
    (True, True)
    """
    masses = [(pid, _DECOUPLED) for pid in _SPARTICLES] + [
        (25, 125.0), (1000021, m_gluino), (1000022, m_lsp), (1000024, chargino_mass(epsilon, m_gluino, m_lsp))]
    lines = ["BLOCK MODSEL", "    1   0", "BLOCK SMINPUTS", "    1   1.279340e+02", "    2   1.166370e-05",
             "    3   1.172000e-01", "    4   9.118760e+01", "    5   4.250000e+00", "    6   1.727000e+02",
             "    7   1.777000e+00", "BLOCK MINPAR", "    3   1.0e+01", "BLOCK MASS"]
    lines += [f"  {pid:>8d}   {m:.3f}" for pid, m in masses]
    for block, n in (("NMIX", 4), ("UMIX", 2), ("VMIX", 2), ("STOPMIX", 2), ("SBOTMIX", 2), ("STAUMIX", 2)):
        lines += [f"BLOCK {block}"] + [f"  {i}  {i}   1.0" for i in range(1, n + 1)]
    lines += ["BLOCK ALPHA", "   -0.1", "BLOCK HMIX Q= 1000.", "    1   1000.", "    2   10.", "    3   246.",
              "    4   1.0e10",
              "DECAY   1000021   1.0E-01",
              "    0.25   3    1000024   1  -2", "    0.25   3   -1000024   2  -1",
              "    0.25   3    1000024   3  -4", "    0.25   3   -1000024   4  -3",
              "DECAY   1000024   1.0E-01", "    1.0    2    1000022   24",
              "DECAY   1000022   0.0"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SusyProduction:
    """Settings of one sample: ``n_generated`` Pythia events of ``process``; ``epsilon`` for the signal."""

    process: str
    n_generated: int
    epsilon: float = 0.5
    seed: int = 1
    pthat_min: float = 400.0
    pthat_max: float | None = None
    m_gluino: float = 2200.0
    m_lsp: float = 100.0

    def __post_init__(self) -> None:
        if self.process not in PROCESSES:
            raise InputError(f"unknown process '{self.process}': expected one of {', '.join(PROCESSES)}")
        if self.n_generated < 1:
            raise InputError(f"need at least one event to generate, got {self.n_generated}")
        if self.process == "signal":
            chargino_mass(self.epsilon, self.m_gluino, self.m_lsp)


def _pythia_settings(prod: SusyProduction, slha_file: str | None) -> list[str]:
    common = ["Beams:eCM = 13000.", "Print:quiet = on", "SLHA:verbose = 0", "Next:numberCount = 0",
              "Random:setSeed = on",
              f"Random:seed = {int(prod.seed) % 900_000_000 + 1}", "PartonLevel:MPI = off"]
    if prod.process == "signal":
        return common + ["SUSY:gg2gluinogluino = on", "SUSY:qqbar2gluinogluino = on", f"SLHA:file = {slha_file}"]
    if prod.process == "ttbar":
        return common + ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_pthat(prod)]
    return common + ["WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", "24:onMode = off",
                     "24:onIfAny = 11 13 15", *_pthat(prod)]


def _pthat(prod: SusyProduction) -> list[str]:
    lines = [f"PhaseSpace:pTHatMin = {prod.pthat_min}"]
    if prod.pthat_max is not None:
        lines.append(f"PhaseSpace:pTHatMax = {prod.pthat_max}")
    return lines


def _eta(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    return np.arcsinh(pz / np.maximum(np.hypot(px, py), 1e-9))


def reconstruct_event(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, pid: np.ndarray,
                      b_hadrons: np.ndarray, cluster: Any) -> dict[str, Any] | None:
    """Features of one event from its visible final particles (GeV; ``pid`` the PDG ids), the (η, φ) of its b
    hadrons (k, 2) and ``cluster(px, py, pz, e) -> [(pt, eta, phi, mass), ...]`` (anti-kT R = 0.4, ordered by
    p_T). None unless exactly one isolated lepton with p_T > 25 GeV and two jets (module docstring).

    >>> def one_jet_each(px, py, pz, e):   # a stand-in for FastJet: every particle its own massless jet
    ...     pt = np.hypot(px, py)
    ...     return sorted(zip(pt, _eta(px, py, pz), np.arctan2(py, px), 0 * pt), reverse=True)
    >>> p = np.array([[50., 0, 0, 50], [0, 100, 0, 100], [0, -200, 0, 200]])   # e+ along x, two jets along ±y
    >>> ev = reconstruct_event(*p.T, np.array([-11, 211, 211]), np.zeros((0, 2)), one_jet_each)
    >>> [round(float(ev["features"][i]), 1) for i in (0, 3, 6, 9, 10, 13)], round(float(ev["delta_phi"]), 3)
    ([50.0, 200.0, 100.0, 300.0, 2.0, 111.8], 1.571)
    """
    pt = np.hypot(px, py)
    eta = _eta(px, py, pz)
    phi = np.arctan2(py, px)
    central = np.abs(eta) < 5
    is_lep = np.isin(np.abs(pid), (11, 13)) & (pt > 10) & (np.abs(eta) < 2.4)
    isolated = []
    for i in np.flatnonzero(is_lep):
        dr = np.hypot(eta - eta[i], wrap_phi(phi - phi[i]))
        cone = float(pt[(dr < 0.3) & central].sum() - pt[i])
        if cone < 0.2 * pt[i]:
            isolated.append(i)
    if len(isolated) != 1 or pt[isolated[0]] <= 25:
        return None
    lep = isolated[0]
    rest = central.copy()
    rest[lep] = False
    jets = [j for j in cluster(px[rest], py[rest], pz[rest], e[rest]) if j[0] > 30 and abs(j[1]) < 2.4]
    if len(jets) < 2:
        return None
    met_x, met_y = -float(px[central].sum()), -float(py[central].sum())
    met, met_phi = math.hypot(met_x, met_y), math.atan2(met_y, met_x)
    n_b = 0
    for _, j_eta, j_phi, _ in jets:
        if len(b_hadrons) and np.any(np.hypot(b_hadrons[:, 0] - j_eta, wrap_phi(b_hadrons[:, 1] - j_phi)) < 0.4):
            n_b += 1
    w_phi = math.atan2(py[lep] + met_y, px[lep] + met_x)
    (j1_pt, j1_eta, j1_phi, j1_m), (j2_pt, j2_eta, j2_phi, j2_m) = jets[0], jets[1]
    features = np.array([pt[lep], eta[lep], phi[lep], j1_pt, j1_eta, j1_phi, j2_pt, j2_eta, j2_phi,
                         sum(j[0] for j in jets), len(jets), j1_m, j2_m, met, met_phi], np.float32)
    return {"features": features, "delta_phi": abs(float(wrap_phi(phi[lep] - w_phi))), "lt": met + float(pt[lep]),
            "n_b": n_b}


def signal_region(events: dict[str, np.ndarray], min_jets: int = 5) -> np.ndarray:
    """The signal-region mask of thesis Table 7.1 (the one-lepton requirement holds for every stored event; the
    b veto is the weight (1 − 0.7)^n_b of :func:`load_susy_events`).

    >>> f = np.zeros((2, 15), np.float32); f[:, 3] = f[:, 6] = 100; f[:, 9] = 600; f[:, 10] = [5, 4]
    >>> signal_region({"features": f, "lt": np.array([300.0, 300.0])}).tolist()
    [True, False]
    """
    f = events["features"]
    col = {name: f[:, i] for i, name in enumerate(FEATURES)}
    return ((col["jet1_pt"] > 80) & (col["jet2_pt"] > 80) & (events["lt"] > 250) & (col["ht"] > 500)
            & (col["n_jets"] >= min_jets))


def _fastjet_cluster(radius: float = 0.4):
    import fastjet

    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, radius)

    def cluster(px, py, pz, e):
        inputs = [fastjet.PseudoJet(float(a), float(b), float(c), float(d)) for a, b, c, d in zip(px, py, pz, e)]
        seq = fastjet.ClusterSequence(inputs, jet_def)
        jets = fastjet.sorted_by_pt(seq.inclusive_jets(20.0))
        return [(j.pt(), j.eta(), j.phi_std(), j.m()) for j in jets]

    return cluster


def _is_b_hadron(pid: int) -> bool:
    a = abs(pid)
    return (a // 100) % 10 == 5 or (a // 1000) % 10 == 5


def simulate_susy(prod: SusyProduction, output: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Generate ``prod.n_generated`` events, reconstruct them and write the stored ones (module docstring) to the
    .npz ``output`` (atomically): ``features`` (n, 15) float32, ``delta_phi``, ``lt``, ``n_b``, ``weight_fb`` and
    ``meta`` (JSON: the settings, cross section, counts, seconds). Returns the meta dictionary."""
    from hepgen.data.atomic import atomic_path, check_writable
    from hepgen.progress import ProgressBar

    output = Path(output)
    if output.suffix != ".npz":
        raise InputError(f"{output}: the SUSY event file must end in .npz")
    check_writable(output, overwrite)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        slha = None
        if prod.process == "signal":
            slha = str(Path(tmp) / "spectrum.slha")
            Path(slha).write_text(slha_spectrum(prod.epsilon, prod.m_gluino, prod.m_lsp))
        pythia = start_pythia(_pythia_settings(prod, slha))
        cluster = _fastjet_cluster()
        rows: list[dict[str, Any]] = []
        failures = 0
        label = f"{prod.process}" + (f" ε = {prod.epsilon:g}" if prod.process == "signal" else "")
        with ProgressBar(total=prod.n_generated, description=label) as bar:
            for _ in range(prod.n_generated):
                bar.advance(1)
                if not pythia.next():
                    failures += 1
                    continue
                visible, bh = [], []
                for p in pythia.event:
                    if p.isFinal() and p.isVisible():
                        visible.append((p.px(), p.py(), p.pz(), p.e(), p.id()))
                    elif p.isHadron() and _is_b_hadron(p.id()) and p.pT() > 5:
                        bh.append((p.eta(), p.phi()))
                if not visible:
                    continue
                v = np.array(visible)
                ev = reconstruct_event(v[:, 0], v[:, 1], v[:, 2], v[:, 3], v[:, 4].astype(int),
                                       np.array(bh).reshape(-1, 2), cluster)
                if ev is not None:
                    ev["pthat"] = float(pythia.infoPython().pTHat())
                    rows.append(ev)
        sigma_fb = float(pythia.infoPython().sigmaGen()) * 1e12          # mb -> fb
    n_ok = prod.n_generated - failures
    meta = {"settings": asdict(prod), "sigma_fb": sigma_fb, "n_accepted_by_pythia": n_ok, "n_stored": len(rows),
            "seconds": time.perf_counter() - start, "features": list(FEATURES),
            "chargino_mass_gev": chargino_mass(prod.epsilon, prod.m_gluino, prod.m_lsp)
            if prod.process == "signal" else None}
    features = np.stack([r["features"] for r in rows]) if rows else np.zeros((0, len(FEATURES)), np.float32)
    arrays = {"features": features, "delta_phi": np.array([r["delta_phi"] for r in rows], np.float64),
              "lt": np.array([r["lt"] for r in rows], np.float64), "n_b": np.array([r["n_b"] for r in rows], np.int64),
              "pthat": np.array([r["pthat"] for r in rows], np.float64),
              "weight_fb": np.full(len(rows), sigma_fb / max(n_ok, 1)), "meta": np.array(json.dumps(meta))}
    with atomic_path(output, overwrite=True) as tmp_out:
        with open(tmp_out, "wb") as fh:
            np.savez(fh, **arrays)
    return meta


def load_susy_events(path: str | Path, signal_region_only: bool = True, min_jets: int = 5,
                     b_tag_efficiency: float = B_TAG_EFFICIENCY) -> dict[str, Any]:
    """Read a :func:`simulate_susy` file: the arrays, ``meta`` (dict) and ``weight_fb`` × (1 − ε_b)^n_b (the b
    veto as a weight); with ``signal_region_only``, the events in :func:`signal_region`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            events = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read a SUSY event file: {exc}", file=str(path)) from None
    missing = {"features", "delta_phi", "lt", "n_b", "weight_fb", "meta"} - set(events)
    if missing or events["features"].ndim != 2 or events["features"].shape[1] != len(FEATURES):
        raise InputError(f"not a SUSY event file: expected features (n, {len(FEATURES)}), delta_phi, lt, n_b, "
                         f"weight_fb, meta; missing {sorted(missing)}", file=str(path))
    events["meta"] = json.loads(str(events["meta"]))
    events["weight_fb"] = events["weight_fb"] * (1 - b_tag_efficiency) ** events["n_b"]
    if signal_region_only:
        keep = signal_region(events, min_jets)
        events = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in events.items()}
    return events
