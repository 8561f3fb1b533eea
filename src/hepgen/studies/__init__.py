"""Physics, teaching and regression studies built on hepgen's generators (the amplification studies are in
:mod:`hepgen.amplify`).

* :mod:`hepgen.studies.playground`: the generative-model playground on Two Moons (B. Käch's PhD thesis (U. Hamburg /
  DESY, 2024), Ch. 4) with its small models (:mod:`hepgen.studies.toymodels`); :mod:`hepgen.studies.morphing`:
  the rotating-Gaussian morphing toy (same thesis, Ch. 7);
* :mod:`hepgen.studies.bumphunt`: the OnlineFlow bump hunt (S. Diefenbacher's PhD thesis, Ch. 9);
* :mod:`hepgen.studies.beta_vae`: the β-VAE posterior-collapse study (Irakkathil Jabbar's PhD thesis, KIT 2022).

The studies sit beside :mod:`hepgen.amplify`: they may use models, training and evaluate, never report or cli.

>>> from hepgen.studies.playground import run_playground, MODELS
"""
