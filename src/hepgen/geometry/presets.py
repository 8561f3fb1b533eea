"""Named detector geometries.

==========================  =============================================================  ========
name                        detector                                                        voxels
==========================  =============================================================  ========
calochallenge-1-photons     CaloChallenge dataset 1 photons (ATLAS-like, irregular)          368
calochallenge-1-pions       CaloChallenge dataset 1 pions (ATLAS-like, irregular)            533
calochallenge-2             CaloChallenge dataset 2: 45 x 16 alpha x 9 r, Si-W                6480
calochallenge-3             CaloChallenge dataset 3: 45 x 50 alpha x 18 r, Si-W              40500
ild-ecal                    ILD Si-W ECAL, 30 x 30 cells of 5 mm, 30 layers                  27000
ild-ahcal                   ILD AHCAL, 25 x 25 tiles of 30 mm, 48 steel/scintillator layers  30000
calice-ahcal-2018           CALICE AHCAL prototype (SPS 2018), 24 x 24 tiles of 30 mm, 37     21312
                            of its 39 layers
belle2-ecl-5x5              Belle II-like CsI(Tl) array, 5 x 5 crystals of 6 cm, 30 cm deep     25
belle2-ecl-10x10            ... 10 x 10 crystals of 3 cm                                        100
belle2-ecl-30x30            ... 30 x 30 crystals of 1 cm                                        900
==========================  =============================================================  ========

The CaloChallenge datasets 2/3 detector has 90 physical layers of 1.4 mm W + 0.3 mm Si, read out in
pairs (45 readout layers), inner radius 80 cm (arXiv:2410.21611). ILD: 20 x 2.1 mm then 10 x 4.2 mm W,
each followed by 0.525 mm Si (S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD
thesis, U. Hamburg (2022), Sec. 2.6); AHCAL: 17.2 mm steel + 3 mm scintillator. The CALICE AHCAL
technological prototype of the 2018 SPS test beam (Diefenbacher 2022, Ch. 8): 38 layers of 24 x 24 tiles of
3 x 3 cm^2 (one more with a coarser granularity); the last two layers are dropped, leaving 24 x 24 x 37; its
files hold calibrated energies (1 MIP = 26.8 MeV), so the auto-trigger threshold of 0.2 MIP is its readout
threshold and the 0.5 MIP cut its evaluation threshold (see :mod:`hepgen.data.calice`). Its layer stack is
taken as the ILD AHCAL's (17.2 mm steel + 3 mm scintillator), an approximation of the prototype's absorber.

Readout conventions (:class:`~hepgen.geometry.base.Geometry`): the CaloChallenge datasets 2/3 files hold
calibrated energies with a 15.15 keV readout threshold; the evaluation thresholds are those of the
challenge's ``evaluate.py`` (ds1: 1 MeV, ds2/3: 0.5 keV / 0.033) and of the source studies (ILD:
Diefenbacher 2022 and S. Bieringer et al., "Calomplification — the power of generative calorimeter models",
arXiv:2202.07352; Belle II: J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses
using Deep Learning", PhD thesis, KIT (2022)).

>>> from hepgen.geometry import get_geometry
>>> get_geometry("calochallenge-2").layer_stack[0]  # doctest: +NORMALIZE_WHITESPACE
(Slab(material='W', thickness_mm=1.4, active=False), Slab(material='Si', thickness_mm=0.3, active=True),
 Slab(material='W', thickness_mm=1.4, active=False), Slab(material='Si', thickness_mm=0.3, active=True))
"""

from __future__ import annotations

from importlib.resources import files
from typing import Callable

from hepgen.geometry.base import Geometry, Slab
from hepgen.geometry.cartesian import CartesianGeometry
from hepgen.geometry.cylindrical import CylindricalGeometry, read_binning_xml

__all__ = ["PRESETS", "preset_names"]


def _xml(name: str) -> str:
    return str(files("hepgen.geometry") / "data" / name)


#: CaloChallenge datasets 2/3: the 15.15 keV readout cut on calibrated energies (MeV) and the evaluation cut of the
#: challenge's ``evaluate.py``, 0.5 keV in the silicon divided by its sampling fraction 0.033 (MeV)
CALOCHALLENGE_READOUT_THRESHOLD_MEV = 0.01515
CALOCHALLENGE_EVALUATION_THRESHOLD_MEV = 0.5e-3 / 0.033


def _calochallenge(geo_name: str, xml_name: str, stack: bool, dataset: int) -> CylindricalGeometry:
    particle, r_edges, n_alpha = read_binning_xml(_xml(xml_name))
    layer_stack = None
    if stack:
        pair = (Slab("W", 1.4), Slab("Si", 0.3, True))
        layer_stack = tuple(pair * 2 for _ in r_edges)
        readout = dict(readout_threshold_mev=CALOCHALLENGE_READOUT_THRESHOLD_MEV,
                       evaluation_threshold_mev=CALOCHALLENGE_EVALUATION_THRESHOLD_MEV, calibrated_energies=True)
    else:   # dataset 1: the challenge's evaluate.py cuts at 1 MeV
        readout = dict(evaluation_threshold_mev=1.0)
    return CylindricalGeometry(geo_name, r_edges, n_alpha, layer_stack=layer_stack,
                               inner_radius_mm=800.0 if stack else None, particle=particle,
                               calochallenge_dataset=dataset, **readout)


def _ild_ecal() -> CartesianGeometry:
    stack = tuple((Slab("W", 2.1 if i < 20 else 4.2), Slab("Si", 0.525, True)) for i in range(30))
    return CartesianGeometry("ild-ecal", 30, 30, 30, (5.0, 5.0), layer_stack=stack, evaluation_threshold_mev=0.1)


def _ild_ahcal() -> CartesianGeometry:
    stack = tuple((Slab("Fe", 17.2), Slab("Scintillator", 3.0, True)) for _ in range(48))
    return CartesianGeometry("ild-ahcal", 25, 25, 48, (30.0, 30.0), layer_stack=stack, evaluation_threshold_mev=0.25)


#: 1 MIP of the CALICE AHCAL 2018 test-beam data in MeV (calibrated, sampling fraction included; Diefenbacher 2022,
#: Sec. 8.1: 0.0268 GeV)
CALICE_AHCAL_2018_MIP_MEV = 26.8


def _calice_ahcal_2018() -> CartesianGeometry:
    stack = tuple((Slab("Fe", 17.2), Slab("Scintillator", 3.0, True)) for _ in range(37))
    return CartesianGeometry("calice-ahcal-2018", 24, 24, 37, (30.0, 30.0), layer_stack=stack,
                             readout_threshold_mev=0.2 * CALICE_AHCAL_2018_MIP_MEV,
                             evaluation_threshold_mev=0.5 * CALICE_AHCAL_2018_MIP_MEV, calibrated_energies=True)


def _belle2(n: int, size_mm: float, evaluation_threshold_mev: float) -> CartesianGeometry:
    return CartesianGeometry(f"belle2-ecl-{n}x{n}", n, n, 1, (size_mm, size_mm),
                             layer_stack=((Slab("CsI", 300.0, True),),),
                             evaluation_threshold_mev=evaluation_threshold_mev)


PRESETS: dict[str, Callable[[], Geometry]] = {
    "calochallenge-1-photons": lambda: _calochallenge("calochallenge-1-photons", "binning_dataset_1_photons.xml",
                                                      False, 1),
    "calochallenge-1-pions": lambda: _calochallenge("calochallenge-1-pions", "binning_dataset_1_pions.xml", False, 1),
    "calochallenge-2": lambda: _calochallenge("calochallenge-2", "binning_dataset_2.xml", True, 2),
    "calochallenge-3": lambda: _calochallenge("calochallenge-3", "binning_dataset_3.xml", True, 3),
    "ild-ecal": _ild_ecal,
    "ild-ahcal": _ild_ahcal,
    "calice-ahcal-2018": _calice_ahcal_2018,
    "belle2-ecl-5x5": lambda: _belle2(5, 60.0, 1.0),
    "belle2-ecl-10x10": lambda: _belle2(10, 30.0, 1.0),
    "belle2-ecl-30x30": lambda: _belle2(30, 10.0, 10.0),
}


def preset_names() -> list[str]:
    """Short names of the built-in geometries."""
    return list(PRESETS)
