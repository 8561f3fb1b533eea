"""Calorimeter materials and the mixture rules of a sampling structure.

Values are the PDG "Atomic and nuclear properties of materials" tables (pdg.lbl.gov/AtomicNuclearProperties):
atomic number Z (electron-weighted mean for compounds), mass number A, density, radiation length X0,
critical energy E_c (electrons, Rossi definition), Moliere radius R_M, minimum ionisation dE/dx, mean
excitation energy I, Z/A and the nuclear interaction length lambda_I. Lengths in mm, energies in MeV,
densities in g/cm^3.

The mixture rules are those of Grindhammer & Peters, hep-ex/0001020, Sec. 4 (also the Geant4 Physics
Reference Manual, "Gflash Shower Parameterizations"): with mass fractions w_i of the slabs,
Z_eff = sum w_i Z_i, 1/X0_eff = sum w_i/X0_i (in g/cm^2), E_c,eff = X0_eff sum w_i E_c,i/X0_i,
R_M,eff = E_s / sum(w_i E_c,i/X0_i) (E_s = 21.2 MeV), sampling frequency F_s = X0_eff / (d_a + d_p)
and the e/mip ratio e_hat = 1 / (1 + 0.007 (Z_passive - Z_active)).

>>> w = get_material("W")
>>> round(w.x0_mm, 3), round(w.moliere_radius_mm, 2)
(3.503, 9.32)
>>> from hepgen.geometry import Slab
>>> s = sampling_structure([Slab("W", 2.1), Slab("Si", 0.525, True)])
>>> round(s.e_hat, 3), 0.03 < s.f_mip < 0.05
(0.704, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hepgen.errors import InputError

__all__ = ["Material", "MATERIALS", "get_material", "SamplingStructure", "sampling_structure", "E_S_MEV"]

E_S_MEV = 21.2052  # scale energy m_e c^2 sqrt(4 pi / alpha) in MeV


@dataclass(frozen=True)
class Material:
    """A homogeneous medium; ``x0_g_cm2`` and ``critical_energy_mev`` as in the PDG tables.

    >>> get_material("CsI").x0_mm > 18
    True
    """

    name: str
    z: float
    a: float
    density_g_cm3: float
    x0_g_cm2: float
    critical_energy_mev: float
    dedx_min_mev_cm2_g: float
    mean_excitation_ev: float
    z_over_a: float
    #: nuclear interaction length lambda_I in g/cm^2 (PDG table); None: the estimate 20 A^0.4 + 32 g/cm^2
    lambda_int_g_cm2: float | None = None

    @property
    def x0_mm(self) -> float:
        """Radiation length in mm."""
        return 10.0 * self.x0_g_cm2 / self.density_g_cm3

    @property
    def moliere_radius_mm(self) -> float:
        """Moliere radius R_M = X0 E_s / E_c in mm."""
        return self.x0_mm * E_S_MEV / self.critical_energy_mev

    @property
    def lambda_int_mm(self) -> float:
        """Nuclear interaction length in mm (PDG value, else 20 A^0.4 + 32 g/cm^2).

        >>> round(get_material("Fe").lambda_int_mm, 1)
        167.8
        """
        lam = self.lambda_int_g_cm2 if self.lambda_int_g_cm2 is not None else 20.0 * self.a**0.4 + 32.0
        return 10.0 * lam / self.density_g_cm3

    @property
    def mip_dedx_mev_mm(self) -> float:
        """Minimum-ionising energy loss in MeV per mm."""
        return self.dedx_min_mev_cm2_g * self.density_g_cm3 / 10.0


#: name -> Material (PDG values; compounds carry the mass-weighted mean Z and A).
MATERIALS: dict[str, Material] = {m.name: m for m in (
    Material("W", 74, 183.84, 19.30, 6.76, 7.97, 1.145, 727.0, 0.40252, 191.9),
    Material("Pb", 82, 207.2, 11.35, 6.37, 7.43, 1.122, 823.0, 0.39575, 199.6),
    Material("Fe", 26, 55.845, 7.874, 13.84, 21.68, 1.451, 286.0, 0.46557, 132.1),
    Material("Cu", 29, 63.546, 8.960, 12.86, 19.42, 1.403, 322.0, 0.45636, 137.3),
    Material("Si", 14, 28.0855, 2.329, 21.82, 40.19, 1.664, 173.0, 0.49848, 108.4),
    Material("CsI", 54.0, 129.9, 4.510, 8.39, 11.17, 1.243, 553.1, 0.41569, 171.5),
    Material("PbWO4", 75.6, 227.0, 8.300, 7.39, 9.64, 1.229, 600.7, 0.41315, 168.3),
    Material("Scintillator", 3.5, 6.5, 1.060, 43.79, 93.11, 1.936, 68.7, 0.53768, 77.07),
    Material("LAr", 18, 39.948, 1.396, 19.55, 32.84, 1.508, 188.0, 0.45059, 119.7),
)}
_ALIASES = {"tungsten": "W", "lead": "Pb", "iron": "Fe", "steel": "Fe", "copper": "Cu", "silicon": "Si",
            "csi(tl)": "CsI", "pwo": "PbWO4", "polystyrene": "Scintillator", "scint": "Scintillator",
            "liquidargon": "LAr", "lar": "LAr"}


def get_material(name: str) -> Material:
    """A material by name (``W``, ``Si``, ``Pb``, ``Fe``, ``Cu``, ``CsI``, ``PbWO4``, ``Scintillator``, ``LAr``).

    >>> get_material("tungsten").z
    74
    """
    if name in MATERIALS:
        return MATERIALS[name]
    key = _ALIASES.get(str(name).lower().replace(" ", ""))
    if key is None:
        raise InputError(f"unknown material '{name}': expected one of {', '.join(MATERIALS)}")
    return MATERIALS[key]


@dataclass(frozen=True)
class SamplingStructure:
    """Effective medium of one sampling cell (or of a homogeneous block), hep-ex/0001020 Sec. 4.

    ``f_mip`` is the fraction of a minimum-ionising particle's energy loss that falls in the active
    slabs; the visible fraction of shower energy is ``e_hat * f_mip`` (1 for a homogeneous medium).
    """

    z_eff: float
    a_eff: float
    density_g_cm3: float
    x0_mm: float
    critical_energy_mev: float
    moliere_radius_mm: float
    thickness_mm: float
    f_s: float
    e_hat: float
    f_mip: float
    homogeneous: bool

    @property
    def visible_fraction(self) -> float:
        """Fraction of the deposited shower energy seen in the active slabs."""
        return 1.0 if self.homogeneous else self.e_hat * self.f_mip


def sampling_structure(slabs: Sequence) -> SamplingStructure:
    """Mix the slabs (:class:`hepgen.geometry.Slab`) of one sampling cell into an effective medium.

    >>> from hepgen.geometry import Slab
    >>> round(sampling_structure([Slab("CsI", 300.0, True)]).x0_mm, 1)
    18.6
    """
    mats = [get_material(s.material) for s in slabs]
    thick = [float(s.thickness_mm) for s in slabs]
    total = sum(thick)
    if total <= 0:
        raise InputError("a sampling cell needs a positive thickness")
    mass = [t * m.density_g_cm3 for t, m in zip(thick, mats)]
    w = [m / sum(mass) for m in mass]
    rho = sum(mass) / total
    z_eff = sum(wi * m.z for wi, m in zip(w, mats))
    a_eff = sum(wi * m.a for wi, m in zip(w, mats))
    x0_g = 1.0 / sum(wi / m.x0_g_cm2 for wi, m in zip(w, mats))
    ec_over_x0 = sum(wi * m.critical_energy_mev / m.x0_g_cm2 for wi, m in zip(w, mats))
    x0_mm = 10.0 * x0_g / rho
    rm_mm = 10.0 * E_S_MEV / ec_over_x0 / rho
    active = [s.active for s in slabs]
    homogeneous = all(active)
    if not any(active) or homogeneous:
        z_act = z_pas = z_eff
    else:
        z_act = _mean([m.z for m, a in zip(mats, active) if a], [t for t, a in zip(thick, active) if a])
        z_pas = _mean([m.z for m, a in zip(mats, active) if not a], [t for t, a in zip(thick, active) if not a])
    loss = [t * m.mip_dedx_mev_mm for t, m in zip(thick, mats)]
    f_mip = sum(l for l, a in zip(loss, active) if a) / sum(loss)
    return SamplingStructure(
        z_eff=z_eff, a_eff=a_eff, density_g_cm3=rho, x0_mm=x0_mm, critical_energy_mev=x0_g * ec_over_x0,
        moliere_radius_mm=rm_mm, thickness_mm=total, f_s=x0_mm / total,
        e_hat=1.0 / (1.0 + 0.007 * (z_pas - z_act)), f_mip=f_mip, homogeneous=homogeneous,
    )


def _mean(values: list[float], weights: list[float]) -> float:
    return sum(v * w for v, w in zip(values, weights)) / sum(weights)
