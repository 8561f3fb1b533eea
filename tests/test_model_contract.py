"""The one contract, checked for every registered model (models added later included): construct from the
model's own ``tiny_config``, train two steps with :func:`hepgen.training.train`, save, load the run's
:class:`~hepgen.training.Generator`, sample reproducibly and export to ONNX (checked against PyTorch)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_PARAMS, tiny_config, tiny_data
from hepgen.errors import InputError
from hepgen.models import registry
from hepgen.models.base import GenerativeModel
from hepgen.models.registry import get_model_class, list_models
from hepgen.progress import set_quiet
from hepgen.training import Generator, load_generator, train
from hepgen.training.kinds import KINDS, DataKind
from hepgen.training.run import RunDir

set_quiet(True)
torch.set_num_threads(1)
N_EXAMPLES = 24


@pytest.mark.parametrize("name", list_models())
def test_model_trains_saves_loads_and_samples(name, tmp_path):
    cls = get_model_class(name)
    assert issubclass(cls, GenerativeModel) and cls.name == name
    assert cls.data_kind in KINDS, f"model '{name}' declares an unknown data_kind '{cls.data_kind}'"
    assert "tiny_config" in vars(cls), f"model '{name}' declares no tiny_config (seconds-long smoke-test sizes)"
    assert TINY_PARAMS[name] == cls.tiny_config
    data = tiny_data(cls.data_kind)[:N_EXAMPLES]
    cfg = tiny_config(name, batch_size=N_EXAMPLES // 2, val_fraction=0.0, num_threads=1)   # two steps
    run = train(name, data, tmp_path / "run", cfg, max_epochs=1, seed=0)
    assert RunDir(run).state()["status"] == "finished" and RunDir(run).checkpoint.is_file()
    assert RunDir(run).state()["n_parameters"] > 0

    gen = load_generator(run)
    assert isinstance(gen, Generator) and isinstance(gen.model, GenerativeModel)
    assert isinstance(gen.kind, DataKind) and gen.kind.kind == cls.data_kind
    assert gen.model.device.type == "cpu" and not gen.model.training
    def twice(**kw):  # the global seed too: some models draw from it (GANplify's dropout at sampling)
        return [(torch.manual_seed(0), gen.sample(batch_size=3, seed=1, **kw))[1] for _ in range(2)]

    if cls.data_kind in ("showers", "points"):
        a, b = twice(incident_energy=np.geomspace(1e3, 4e3, 5))
        assert a.energy.shape == (5, gen.geometry.n_voxels) and np.all(a.energy >= 0)
        np.testing.assert_array_equal(a.energy, b.energy)
    else:
        a, b = twice(n=5)
        assert len(a) == 5
        values = a.particles if cls.data_kind == "jets" else a
        assert np.isfinite(values).all()
        np.testing.assert_array_equal(values, b.particles if cls.data_kind == "jets" else b)

    from hepgen.training.onnx import export_onnx   # ONNX Runtime against PyTorch, same seed

    report = export_onnx(run, tmp_path / "model.onnx", n_check=4)
    assert report.passed, report.summary()


def test_every_data_kind_answers_the_protocol():
    for cls in KINDS.values():
        for method in ("read", "write", "validate", "split", "fit", "encode", "conditions_of", "conditions",
                       "decode", "decode_torch", "concatenate", "state", "from_state"):
            assert callable(getattr(cls, method, None)), f"{cls.__name__} lacks {method}"


def test_a_broken_builtin_model_module_raises(monkeypatch):
    modules = registry.builtin_modules() + ["hepgen.models.no_such_model"]
    monkeypatch.setattr(registry, "builtin_modules", lambda: modules)
    monkeypatch.setattr(registry, "_LOADED", False)
    with pytest.raises(ModuleNotFoundError):
        list_models()


def test_declared_hooks_have_defaults():
    class Plain(GenerativeModel):
        def configure_optimizers(self):
            return {}

        def training_step(self, batch, optimizers, step, epoch):
            return {}

        def sample(self, cond, generator=None):
            return torch.zeros(len(cond), 2)

    m = Plain((2,), 1, {})
    x = torch.ones(3, 2)
    assert m.lr_decay() == {} and m.after_training({}) == {} and m.postprocess_physical("d") == "d"
    assert m.to_physical(x, x) is x
    with pytest.raises(InputError, match="pass labels"):
        m.sample_labels(np.ones(2), ["visible_energy"], None)
    with pytest.raises(InputError, match="conditional"):
        m.sample_conditions(3)
    with pytest.raises(TypeError):
        type("Incomplete", (GenerativeModel,), {})((2,), 0, {})


def test_a_new_model_is_one_file(tmp_path, monkeypatch):
    """The guide's promise (docs/adding_a_model.md): a model file placed in the models package is registered,
    trained, sampled and exported with no other file touched. The guide's example, renamed, in a folder added
    to the package's search path stands in for a newcomer's new file."""
    import hepgen.models
    from hepgen.models.independent_voxels import __file__ as example

    source = Path(example).read_text().replace('"independent-voxels"', '"newcomer-voxels"')
    source = source.replace("IndependentVoxels", "NewcomerVoxels")
    (tmp_path / "newcomer_voxels.py").write_text(source)
    monkeypatch.setattr(hepgen.models, "__path__", [*hepgen.models.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_LOADED", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    try:
        assert "newcomer-voxels" in list_models()
        cls = get_model_class("newcomer-voxels")
        run = train("newcomer-voxels", tiny_data("showers")[:N_EXAMPLES], tmp_path / "run",
                    {"params": dict(cls.tiny_config), "training": {"batch_size": 12, "val_fraction": 0.0}},
                    max_epochs=1, seed=0)
        showers = load_generator(run).sample(np.geomspace(1e3, 4e3, 4), seed=1)
        assert showers.energy.shape[0] == 4 and np.all(np.isfinite(showers.energy))
        from hepgen.training.onnx import export_onnx

        assert export_onnx(run, tmp_path / "newcomer.onnx", n_check=4).passed
    finally:
        sys.modules.pop("hepgen.models.newcomer_voxels", None)
