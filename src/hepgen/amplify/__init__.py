"""Statistical amplification: is a generated sample worth more than its training sample?

Equal-probability quantile cells (:mod:`~hepgen.amplify.quantiles`), the quantile Jensen–Shannon
divergence and quantile MSE (:mod:`~hepgen.amplify.jsd`), equivalent sample size and amplification
factor (:mod:`~hepgen.amplify.equivalent`), classical baselines (:mod:`~hepgen.amplify.baselines`),
the GANplification toys (:mod:`~hepgen.amplify.toys`) and the study driver (:mod:`~hepgen.amplify.study`);
the shower observables on pooled images are ``hepgen.evaluate.observables.shower_observables(..., pool=k)``.
Papers: A. Butter et al., "GANplifying event samples", arXiv:2008.06545; S. Bieringer et al., "Calomplification —
the power of generative calorimeter models", JINST 17 (2022) P09028, arXiv:2202.07352.

>>> import numpy as np
>>> from hepgen.amplify import build_quantile_cells, quantile_jsd
>>> ref = np.random.default_rng(0).normal(size=10_000)
>>> quantile_jsd(ref, build_quantile_cells(ref, 16))
0.0
"""

from hepgen.amplify.equivalent import (EquivalentSize, equivalent_size_from_reference, equivalent_size_multinomial,
                                       expected_jsd, expected_mse)
from hepgen.amplify.jsd import (JSDCurve, is_sparse, jsd_curve, jsd_from_fractions, quantile_jsd, quantile_mse,
                               two_sample_jsd)
from hepgen.amplify.quantiles import GridCells, QuantileCells, build_quantile_cells

__all__ = [
    "QuantileCells", "GridCells", "build_quantile_cells", "jsd_from_fractions", "quantile_jsd", "quantile_mse",
    "two_sample_jsd",
    "JSDCurve", "jsd_curve", "is_sparse", "EquivalentSize", "expected_jsd", "expected_mse",
    "equivalent_size_multinomial", "equivalent_size_from_reference",
]
