"""hepgen: generative surrogates of particle-physics detector simulation.

The package mirrors the pipeline: ``geometry`` (detectors), ``data`` (showers, jets, file formats),
``simulate`` (reference simulators), ``models`` and ``training`` (generators), ``evaluate``
(observables and metrics), ``amplify`` (statistical amplification), ``report`` and ``cli``.

Energies are in MeV and lengths in mm unless a name or docstring says otherwise.

>>> import hepgen
>>> hepgen.__version__
'0.1.0'
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
