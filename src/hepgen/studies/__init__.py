"""Teaching and regression studies on toy data: the generative-model playground on Two Moons
(:mod:`hepgen.studies.playground`, B. Käch's PhD thesis (U. Hamburg / DESY, 2024), Ch. 4) with its small models
(:mod:`hepgen.studies.toymodels`).

The studies sit beside :mod:`hepgen.amplify`: they may use models, training and evaluate, never report or cli.

>>> from hepgen.studies.playground import run_playground, MODELS
"""
