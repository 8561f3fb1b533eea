"""Former home of the shower loss terms; they live in :mod:`hepgen.models.objectives` with the other
training objectives. The names stay importable from here.

>>> from hepgen.models.losses import gradient_penalty
>>> from hepgen.models.objectives import gradient_penalty as gp
>>> gradient_penalty is gp
True
"""

from __future__ import annotations

from hepgen.models.objectives import (constrainer_loss, gaussian_mmd, gradient_penalty, kl_divergence, latent_mmd,
                                      sorted_kernel_mmd)

__all__ = ["gradient_penalty", "constrainer_loss", "gaussian_mmd", "sorted_kernel_mmd", "latent_mmd",
           "kl_divergence"]
