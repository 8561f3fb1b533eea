"""JetFlow: rational-quadratic-spline coupling normalizing flow on the flattened cloud (Käch et al., "JetFlow:
Generating Jets with Conditioned and Mass Constrained Normalising Flows", arXiv:2211.13630; B. Käch, "Generative
Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024), Sec. 5.4.1), built with zuko
(``zuko.flows.NSF`` with two masking passes = coupling).

The n_max × 3 features (Box-Cox on pt_rel and standard scaling by default, thesis Sec. 2.6) are flattened;
padded slots get Gaussian noise of variance 1e-8. The flow's context is the cardinality n / n_max (the
particles beyond n are zeroed at sampling) and, with ``labels: [mass]`` in the run config, the relative
jet mass: NF(c), the mass drawn at sampling from training jets of the same multiplicity. Table 5.1: 25
coupling layers, 3 × 128 hidden units, 6 bins on [-5, 5].

NF(cc) is NF(c) with ``mass_constraint: λ_m > 0`` (the thesis: λ_m = 10): every step the flow is also run in the
sampling direction (reparametrised draws for the batch's conditions) and the mass-constraint term of Eq. 5.10-5.11,
L = L_NLL + λ_m · mean |m_cond − m_rel(x_gen(m_cond))|², is added, with m_rel the relative mass of the generated
(massless) particles in physical units (:func:`relative_mass_torch`, the real particles of the cardinality).

>>> import torch
>>> m = JetFlow((4, 4), 1, {**JetFlow.default_config, "transforms": 2, "hidden": [8]})
>>> x = m.sample(torch.tensor([[0.5], [1.0]]), torch.Generator().manual_seed(0))
>>> x.shape, x[..., 3].sum(1).tolist()
(torch.Size([2, 4, 4]), [2.0, 4.0])
"""

from __future__ import annotations

import torch

from hepgen.errors import InputError
from hepgen.models.cardinality import JetModelBase
from hepgen.models.jet_gan import cardinality_of
from hepgen.models.layers import mask_from_cardinality, random_seed
from hepgen.models.objectives import optimizer_step
from hepgen.models.registry import GenerativeModel, register_model

__all__ = ["JetFlow", "relative_mass_torch"]

ANGLE_BOUND = 1.0     # |eta_rel|, |phi_rel| of a jet constituent in the mass constraint (JetNet: R = 0.8)


def relative_mass_torch(particles: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) relative jet mass m / p_T,jet of massless particles (B, n, 3) = (eta_rel, phi_rel, pt_rel) over the
    real slots of ``mask`` (B, n), differentiable; as :meth:`hepgen.data.JetData.relative_jet_features`.

    >>> import numpy as np
    >>> from hepgen.data import JetData
    >>> p = np.zeros((2, 3, 4), np.float32); p[..., 0] = [[0.1, -0.2, 0.05], [0.0, 0.3, 0.0]]
    >>> p[..., 1] = [[0.0, 0.1, -0.3], [0.2, -0.1, 0.0]]; p[..., 2] = [[0.5, 0.3, 0.2], [0.6, 0.4, 0.0]]
    >>> p[..., 3] = [[1, 1, 1], [1, 1, 0]]
    >>> t = relative_mass_torch(torch.as_tensor(p[..., :3]), torch.as_tensor(p[..., 3] > 0))
    >>> bool(np.allclose(t.numpy(), JetData(p).relative_jet_features()[:, 2], atol=1e-6))
    True
    """
    eta, phi = particles[..., 0], particles[..., 1]
    pt = particles[..., 2] * mask.to(particles.dtype)
    px, py = (pt * torch.cos(phi)).sum(1), (pt * torch.sin(phi)).sum(1)
    pz, e = (pt * torch.sinh(eta)).sum(1), (pt * torch.cosh(eta)).sum(1)
    return torch.sqrt(torch.clamp(e ** 2 - px ** 2 - py ** 2 - pz ** 2, min=1e-12))


@register_model("jet-flow")
class JetFlow(JetModelBase, GenerativeModel):
    """RQS coupling NF (NF, NF(c) with ``labels: [mass]``, NF(cc) with also ``mass_constraint: 10``); defaults from
    Käch 2024, Table 5.1."""

    tiny_config = {'transforms': 2, 'hidden': [16]}  # seconds-long smoke-test sizes (contract test, GPU check)
    default_config = {
        "transforms": 25, "hidden": [128, 128, 128], "bins": 6,
        "lr": 1e-4, "betas": [0.9, 0.999], "weight_decay": 0.01, "pad_noise": 1e-4,
        "mass_constraint": 0.0,    # λ_m of Eq. 5.11 (NF(cc): 10; needs labels: [mass])
        "preprocessing": [{"name": "boxcox"}, {"name": "standardize"}],
    }
    # the thesis's conditioned variants (Sec. 5.4.1): NF(c) on the relative jet mass, NF(cc) also mass-constrained
    config_presets = {
        "nf-c": {"labels": ["mass"]},
        "nf-cc": {"labels": ["mass"], "params": {"mass_constraint": 10.0}},
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        self.flow = self.build_flow(self.data_shape[0] * 3, n_cond)
        # physical units of the preprocessed features (set_data_scale), for the mass constraint
        self.scale: dict[str, object] = {"mean": [0.0] * 3, "std": [1.0] * 3, "boxcox": None, "mass": (0.0, 1.0)}

    def build_flow(self, features: int, context: int):
        """The zuko flow over the flattened cloud (``features`` = n_max × 3) with ``context`` conditions."""
        import zuko

        c = self.config
        return zuko.flows.NSF(features, context, bins=c["bins"], transforms=c["transforms"], passes=2,
                              randperm=True, hidden_features=tuple(c["hidden"]))

    def set_data_scale(self, kind) -> None:
        self.scale = {"mean": [float(v) for v in kind.mean], "std": [float(v) for v in kind.std],
                      "boxcox": kind.boxcox, "mass": tuple(kind.mass_scale)}

    def configure_optimizers(self):
        c = self.config
        return {"flow": torch.optim.AdamW(self.flow.parameters(), lr=c["lr"], betas=tuple(c["betas"]),
                                          weight_decay=c["weight_decay"])}

    def physical_particles(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed particle features (..., 3) -> (eta_rel, phi_rel, pt_rel), differentiable (inverse of the
        standard scaling and of the Box-Cox transform of pt_rel), within physical bounds: pt_rel ≤ 1 and
        |eta_rel|, |phi_rel| ≤ ``ANGLE_BOUND`` (a draw far in the flow's tail would otherwise overflow cosh and
        the power of the Box-Cox inverse: inf − inf = nan in the mass constraint; on JetNet150 after 197 steps).

        >>> m = JetFlow((4, 4), 1, {**JetFlow.default_config, **JetFlow.tiny_config})
        >>> m.physical_particles(torch.tensor([[1e3, -1e3, 1e3]])).tolist()
        [[1.0, -1.0, 1.0]]
        """
        mean = torch.tensor(self.scale["mean"], dtype=x.dtype, device=x.device)
        std = torch.tensor(self.scale["std"], dtype=x.dtype, device=x.device)
        f = x * std + mean
        angles = f[..., :2].clamp(-ANGLE_BOUND, ANGLE_BOUND)
        lam = self.scale["boxcox"]
        y = f[..., 2]
        if lam is None:
            log_pt = torch.log(y.clamp_min(1e-12))
        elif abs(float(lam)) < 1e-12:
            log_pt = y
        else:
            log_pt = torch.log(torch.clamp(lam * y + 1.0, min=1e-12)) / lam
        return torch.cat([angles, torch.exp(log_pt.clamp_max(0.0)).unsqueeze(-1)], dim=-1)

    def mass_constraint_loss(self, cond: torch.Tensor) -> torch.Tensor:
        """mean |m_cond − m_rel(x_gen(cond))|² (Käch 2024, Eq. 5.10) for reparametrised draws of the flow."""
        if self.n_cond < 2:
            raise InputError("mass_constraint (NF(cc)) needs the mass condition: put labels: [mass] in the config")
        n_max = self.data_shape[0]
        mask = mask_from_cardinality(cardinality_of(cond, n_max), n_max)
        x = self.flow(cond).rsample().view(len(cond), n_max, 3)
        m_gen = relative_mass_torch(self.physical_particles(x), mask)
        mu, sigma = self.scale["mass"]
        m_cond = torch.exp(cond[:, 1] * sigma + mu) - 1e-6           # JetKind.encode_cond's log-mass, inverted
        return ((m_cond - m_gen) ** 2).mean()

    def training_step(self, batch, optimizers, step, epoch):
        x, cond = batch["x"], batch["cond"]
        pad = (x[..., 3:4] < 0.5).to(x.dtype)
        flat = (x[..., :3] + pad * self.config["pad_noise"] * torch.randn_like(x[..., :3])).flatten(1)
        loss = -self.flow(cond).log_prob(flat).mean() / flat.shape[1]
        weight = float(self.config["mass_constraint"])
        if not weight:
            return {"nll_per_dim": optimizer_step(loss, optimizers["flow"], counter=self.generator_steps)}
        loss_mass = self.mass_constraint_loss(cond)
        total = optimizer_step(loss + weight * loss_mass, optimizers["flow"], counter=self.generator_steps)
        return {"nll_per_dim": loss.detach(), "loss_mass": loss_mass.detach(), "loss": total}

    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n_max = self.data_shape[0]
        mask = mask_from_cardinality(cardinality_of(cond, n_max), n_max).to(cond.dtype)
        devices = [cond.device] if cond.device.type == "cuda" else []
        with torch.random.fork_rng(devices):
            if generator is not None:
                torch.manual_seed(random_seed(generator))
            x = self.flow(cond).sample().view(len(cond), n_max, 3)
        return torch.cat([x * mask.unsqueeze(-1), mask.unsqueeze(-1)], dim=2)

    def export_graph(self):
        """Base noise (N(0, 1), n_max x 3 per jet) drawn outside as :meth:`sample` draws it (global torch generator
        seeded from ``generator``); the graph is the spline flow's inverse and the cardinality mask."""
        from hepgen.models.export import ExportGraph, GraphModule, cloud_mask

        n_max = self.data_shape[0]

        def draw(cond, generator):
            with torch.random.fork_rng():
                if generator is not None:
                    torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
                base = self.flow(cond).base
                return [base.rsample() if base.has_rsample else base.sample()]

        def network(m, cond, z):
            mask = cloud_mask(cardinality_of(cond, n_max), n_max).to(z.dtype)
            x = m.flow(cond).transform.inv(z).reshape(-1, n_max, 3)
            return torch.cat([x * mask.unsqueeze(-1), mask.unsqueeze(-1)], dim=2)

        return ExportGraph(GraphModule(self, network), draw, "noise_0: the flow's N(0, 1) base draw (B, n_max * 3)")
