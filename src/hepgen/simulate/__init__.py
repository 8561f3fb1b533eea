"""Reference shower simulation: the GFlash parameterisation (Grindhammer & Peters, hep-ex/0001020) for photons
and electrons, a parameterised hadronic model (:mod:`hepgen.simulate.hadronic`) for pions.

>>> import numpy as np
>>> from hepgen.simulate import simulate_showers
>>> simulate_showers("calochallenge-2", np.array([1e4, 1e5]), "electron", seed=0).energy.shape
(2, 6480)
"""

from hepgen.simulate.gflash import BLOCK, HADRONS, PARTICLES, detector_model, simulate_showers
from hepgen.simulate.stream import simulate_to_file

__all__ = ["simulate_showers", "simulate_to_file", "detector_model", "BLOCK", "PARTICLES", "HADRONS"]
