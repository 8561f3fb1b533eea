"""High-mass di-jet events with Pythia 8 + FastJet: an analogue of the LHC Olympics 2020 R&D dataset.

The LHC Olympics 2020 R&D dataset (G. Kasieczka, B. Nachman, D. Shih et al., "The LHC Olympics 2020: a community
challenge for anomaly detection in high energy physics", arXiv:2101.08320) is QCD di-jets plus a W' (3.5 TeV) ->
X (500 GeV) Y (100 GeV), X, Y -> q q signal, generated with Pythia 8 and Delphes, jets clustered with anti-kT
R = 1, at least one jet with pT > 1.2 TeV. It cannot be downloaded here, so this module produces its analogue at
generator level (no detector simulation):

* background: ``HardQCD:all`` at sqrt(s) = 13 TeV with pT-hat > 1.1 TeV;
* signal: ``NewGaugeBoson:ffbar2Wprime`` with m_W' = 3.5 TeV (3-4 TeV window) forced to W Z, where the W plays X
  (mass set to 500 GeV) and the Z plays Y (100 GeV), both forced to quarks;
* multi-parton interactions off (as :mod:`hepgen.simulate.jets`), all visible final-state particles with
  |eta| < 2.5 clustered with anti-kT R = 1; events need two jets and a leading jet with pT > 1.2 TeV.

Each event gives the five features of the OnlineFlow LHCO study (S. Diefenbacher, PhD thesis, U. Hamburg (2022),
Sec. 9.3; A. Butter et al., arXiv:2202.09375), in :data:`DIJET_FEATURES` order: the di-jet mass m_jj, the mass
m_1 of the highest-pT jet, m_1 - m_2 (masses in GeV) and the N-subjettiness ratios tau_21 of both jets (J. Thaler,
K. Van Tilburg, "Identifying Boosted Objects with N-subjettiness", arXiv:1011.2268; beta = 1, R0 = 1, exclusive-kT
axes).

Work is cut into chunks seeded from (seed, process, chunk), written atomically as ``.npy`` files, so an
interrupted production resumes at the next missing chunk and a sample does not depend on the number of workers.

>>> settings = dijet_settings("wprime", seed=3)
>>> "34:m0 = 3500." in settings, "24:m0 = 500." in settings, "23:m0 = 100." in settings
(True, True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepgen.errors import InputError
from hepgen.simulate.jets import start_pythia, wrap_phi

__all__ = ["DIJET_FEATURES", "DIJET_PROCESSES", "DijetProduction", "dijet_settings", "nsubjettiness",
           "generate_dijet_chunk", "simulate_dijets"]

#: the five event features, in order (masses in GeV)
DIJET_FEATURES = ("mjj_gev", "m1_gev", "delta_m_gev", "tau21_1", "tau21_2")

_COMMON = ("Beams:eCM = 13000.", "Print:quiet = on", "Next:numberCount = 0", "PartonLevel:MPI = off",
           "Random:setSeed = on")

#: process -> Pythia switches
DIJET_PROCESSES: dict[str, tuple[str, ...]] = {
    "qcd": ("HardQCD:all = on", "PhaseSpace:pTHatMin = 1100."),
    "wprime": ("NewGaugeBoson:ffbar2Wprime = on", "34:m0 = 3500.", "34:mMin = 3000.", "34:mMax = 4000.",
               "34:onMode = off", "34:onIfMatch = 24 23", "Wprime:coup2WZ = 1.",
               "24:m0 = 500.", "24:mMin = 400.", "24:mMax = 600.", "24:onMode = off", "24:onIfAny = 1 2 3 4 5",
               "23:m0 = 100.", "23:mMin = 80.", "23:mMax = 120.", "23:onMode = off", "23:onIfAny = 1 2 3 4 5"),
}


def _check_process(process: str) -> str:
    if process not in DIJET_PROCESSES:
        raise InputError(f"unknown di-jet process '{process}': expected one of {', '.join(DIJET_PROCESSES)}")
    return process


def dijet_settings(process: str, seed: int) -> list[str]:
    """The Pythia ``readString`` lines of one process (``qcd`` background or ``wprime`` signal)."""
    return [*_COMMON, f"Random:seed = {int(seed)}", *DIJET_PROCESSES[_check_process(process)]]


def nsubjettiness(pt: np.ndarray, rapidity: np.ndarray, phi: np.ndarray, axes: np.ndarray, r0: float = 1.0) -> float:
    """N-subjettiness tau_N = sum_i pT_i min_k dR(i, axis_k) / (sum_i pT_i R0), beta = 1 (Thaler, Van Tilburg,
    arXiv:1011.2268), of constituents (pT, rapidity, phi) and N axes (N, 2) as (rapidity, phi).

    >>> pt, y, phi = np.array([1.0, 1.0]), np.array([0.0, 0.0]), np.array([-0.1, 0.1])
    >>> one, two = np.array([[0.0, 0.0]]), np.array([[0.0, -0.1], [0.0, 0.1]])
    >>> round(nsubjettiness(pt, y, phi, one), 6), nsubjettiness(pt, y, phi, two)
    (0.1, 0.0)
    """
    axes = np.asarray(axes, np.float64).reshape(-1, 2)
    dr = np.hypot(rapidity[:, None] - axes[None, :, 0], wrap_phi(phi[:, None] - axes[None, :, 1]))
    return float(np.sum(pt * dr.min(axis=1)) / (np.sum(pt) * r0))


def _tau21(jet, fastjet) -> float:
    """tau_2 / tau_1 of a FastJet jet with exclusive-kT axes (0 for a jet of one particle)."""
    parts = list(jet.constituents())
    if len(parts) < 2:
        return 0.0
    pt = np.array([p.pt() for p in parts])
    y = np.array([p.rap() for p in parts])
    phi = np.array([p.phi() for p in parts])
    kt = fastjet.JetDefinition(fastjet.kt_algorithm, fastjet.JetDefinition.max_allowable_R)
    seq = fastjet.ClusterSequence([fastjet.PseudoJet(p.px(), p.py(), p.pz(), p.e()) for p in parts], kt)
    taus = [nsubjettiness(pt, y, phi, np.array([(a.rap(), a.phi()) for a in seq.exclusive_jets(n)])) for n in (1, 2)]
    return taus[1] / taus[0] if taus[0] > 0 else 0.0


@dataclass(frozen=True)
class DijetProduction:
    """Settings of one production of ``n_events`` accepted events of ``process``."""

    process: str
    n_events: int
    seed: int = 1
    chunk_size: int = 1000
    radius: float = 1.0
    leading_pt_gev: float = 1200.0
    max_eta: float = 2.5

    def __post_init__(self) -> None:
        _check_process(self.process)
        if self.n_events < 1 or self.chunk_size < 1:
            raise InputError(f"need n_events and chunk_size >= 1, got {self.n_events}, {self.chunk_size}")

    @property
    def n_chunks(self) -> int:
        return -(-self.n_events // self.chunk_size)

    def chunk_length(self, index: int) -> int:
        return min(self.chunk_size, self.n_events - index * self.chunk_size)

    def chunk_seed(self, index: int) -> int:
        """Pythia seed (1 .. 900 000 000) of chunk ``index``."""
        key = [int(self.seed), list(DIJET_PROCESSES).index(self.process), int(index)]
        return int(np.random.SeedSequence(key).generate_state(1)[0]) % 900_000_000 + 1


def generate_dijet_chunk(prod: DijetProduction, index: int) -> np.ndarray:
    """Chunk ``index`` of ``prod``: (chunk_length, 5) float32 features in :data:`DIJET_FEATURES` order."""
    import fastjet

    pythia = start_pythia(dijet_settings(prod.process, prod.chunk_seed(index)))
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, prod.radius)
    want, rows, failures = prod.chunk_length(index), [], 0
    while len(rows) < want:
        if not pythia.next():
            failures += 1
            if failures > 100:
                raise RuntimeError("Pythia failed 100 events in a row")
            continue
        inputs = [fastjet.PseudoJet(p.px(), p.py(), p.pz(), p.e()) for p in pythia.event
                  if p.isFinal() and p.isVisible() and abs(p.eta()) < prod.max_eta]
        sequence = fastjet.ClusterSequence(inputs, jet_def)   # kept alive: the jets' constituents live in it
        jets = fastjet.sorted_by_pt(sequence.inclusive_jets(20.0))
        if len(jets) < 2 or jets[0].pt() < prod.leading_pt_gev:
            continue
        j1, j2 = jets[0], jets[1]
        mjj = math.sqrt(max((j1.e() + j2.e()) ** 2 - (j1.px() + j2.px()) ** 2 - (j1.py() + j2.py()) ** 2
                            - (j1.pz() + j2.pz()) ** 2, 0.0))
        rows.append((mjj, j1.m(), j1.m() - j2.m(), _tau21(j1, fastjet), _tau21(j2, fastjet)))
    return np.asarray(rows, np.float32)


def _worker(args: tuple[DijetProduction, int]) -> tuple[int, np.ndarray]:
    prod, index = args
    return index, generate_dijet_chunk(prod, index)


def simulate_dijets(prod: DijetProduction, folder: str | Path, workers: int = 1) -> np.ndarray:
    """Produce ``prod`` into ``folder`` (one ``.npy`` per chunk, named by process, seed, chunk size, index and length,
    written atomically;
    finished chunks are kept and reused) and return all events (n_events, 5) in chunk order."""
    from hepgen.data import atomic_path
    from hepgen.progress import ProgressBar

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def path(i: int) -> Path:
        return folder / f"{prod.process}-s{prod.seed}-c{prod.chunk_size}-{i:05d}-n{prod.chunk_length(i)}.npy"

    def save(i: int, events: np.ndarray) -> None:
        with atomic_path(path(i), overwrite=True) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, events)

    todo = [i for i in range(prod.n_chunks) if not path(i).exists()]
    done = prod.n_events - sum(prod.chunk_length(i) for i in todo)
    with ProgressBar(total=prod.n_events, description=f"{prod.process} di-jets", completed=done) as bar:
        if workers <= 1 or len(todo) <= 1:
            for i in todo:
                save(i, generate_dijet_chunk(prod, i))
                bar.advance(prod.chunk_length(i))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=workers) as pool:
                for fut in as_completed([pool.submit(_worker, (prod, i)) for i in todo]):
                    i, events = fut.result()
                    save(i, events)
                    bar.advance(prod.chunk_length(i))
    events = [np.load(path(i)) for i in range(prod.n_chunks)]
    for i, e in enumerate(events):
        if e.shape != (prod.chunk_length(i), len(DIJET_FEATURES)):
            raise InputError(f"expected ({prod.chunk_length(i)}, {len(DIJET_FEATURES)}) di-jet features, found "
                             f"{e.shape}", file=str(path(i)))
    return np.concatenate(events)
