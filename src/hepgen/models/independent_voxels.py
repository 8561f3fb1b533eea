"""Independent voxels: each voxel a Gaussian in log(E_voxel / E_inc) whose mean and width depend on E_inc.

The simplest conditional shower model and the null model of the classifier tests: a small network maps the
conditions (log E_inc and labels) to a mean and a log-width per voxel (after the default preprocessing
E_voxel / E_inc -> log(x + 1e-6) -> standardised), trained by the Gaussian negative log-likelihood, and samples
every voxel independently. It reproduces each voxel's marginal distribution at every E_inc and nothing that
correlates voxels: the shower-to-shower fluctuations of the total energy and of the shower shape, which the
E_vis/E_inc resolution, the width histograms and the classifier test expose. A model that does not beat it on
those has not learnt a shower.

It is also the worked example of ``docs/adding_a_model.md``: one file, registered by its decorator, trained
by :func:`hepgen.training.train`, sampled by :class:`hepgen.training.Generator`, exported to ONNX by
:meth:`export_graph`, and checked by the contract test over every registered model without any other change.

>>> import torch
>>> m = IndependentVoxels((2, 3), n_cond=1, config={**IndependentVoxels.default_config, "hidden": 4})
>>> m.sample(torch.zeros(5, 1), torch.Generator().manual_seed(0)).shape
torch.Size([5, 2, 3])
"""

from __future__ import annotations

import math

import torch

from hepgen.models.layers import mlp, standard_normal
from hepgen.models.objectives import optimizer_step
from hepgen.models.registry import GenerativeModel, register_model

__all__ = ["IndependentVoxels"]


@register_model("independent-voxels")
class IndependentVoxels(GenerativeModel):
    """Per-voxel conditional Gaussian in preprocessed space (see the module docstring)."""

    data_kind = "showers"
    tiny_config = {"hidden": 4}  # seconds-long smoke-test sizes (contract test, GPU check)
    default_config = {
        "hidden": 64,           # units of the two hidden layers of the conditions -> (mean, log-width) network
        "lr": 1e-3,
        "min_log_width": -7.0,  # floor of log sigma (preprocessed units): keeps the likelihood finite
        "preprocessing": [{"name": "divide_by_incident"}, {"name": "log", "eps": 1e-6}, {"name": "standardize"}],
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        self.n_voxels = math.prod(self.data_shape)
        hidden = int(self.config["hidden"])
        self.network = mlp([max(self.n_cond, 1), hidden, hidden, 2 * self.n_voxels])

    def mean_and_log_width(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log sigma) per voxel, each (N, n_voxels), for preprocessed conditions (N, n_cond)."""
        if cond.shape[1] == 0:          # unconditional use: one constant input
            cond = torch.ones(cond.shape[0], 1, device=cond.device, dtype=cond.dtype)
        mean, log_width = self.network(cond).chunk(2, dim=1)
        return mean, log_width.clamp_min(float(self.config["min_log_width"]))

    def transform(self, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Examples (N, *data_shape) from conditions and N(0, 1) noise (N, n_voxels): mean + sigma z."""
        mean, log_width = self.mean_and_log_width(cond)
        return (mean + log_width.exp() * z).reshape((cond.shape[0],) + self.data_shape)

    def configure_optimizers(self):
        return {"model": torch.optim.Adam(self.parameters(), lr=float(self.config["lr"]))}

    def training_step(self, batch, optimizers, step, epoch):
        x = batch["x"].reshape(batch["x"].shape[0], -1)
        mean, log_width = self.mean_and_log_width(batch["cond"])
        nll = (log_width + 0.5 * ((x - mean) / log_width.exp()) ** 2).mean()   # Gaussian NLL without log(2 pi)/2
        return {"nll": optimizer_step(nll, optimizers["model"], counter=self.generator_steps)}

    def sample(self, cond, generator=None):
        z = standard_normal((cond.shape[0], self.n_voxels), cond.device, cond.dtype, generator)
        return self.transform(cond, z)

    def export_graph(self):
        """Noise N(0, 1) (N, n_voxels) drawn outside; the graph is :meth:`transform`."""
        from hepgen.models.export import ExportGraph, GraphModule

        def draw(cond, generator):
            return [standard_normal((cond.shape[0], self.n_voxels), cond.device, cond.dtype, generator)]

        return ExportGraph(GraphModule(self, lambda m, cond, z: m.transform(cond, z)), draw,
                           "noise_0: N(0, 1) per voxel")
