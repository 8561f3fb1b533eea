"""CaloCFM learns what it is built to learn first: the response and the longitudinal profile.

A toy with a known answer: showers in the CaloChallenge ds1 photon geometry (368 voxels, 5 populated layers)
whose visible energy is a fixed 0.90 x E_inc with 2 % Gaussian fluctuations, split over the layers in fixed
mean fractions; after a few hundred optimiser steps the generated response and layer fractions must match.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepgen.data import ShowerData
from hepgen.geometry import get_geometry
from hepgen.progress import set_quiet
from hepgen.training import load_generator, train

set_quiet(True)
RESPONSE, SPREAD = 0.90, 0.02


def toy_showers(n: int, seed: int) -> tuple[ShowerData, np.ndarray]:
    """(showers, the true mean layer fractions): response 0.90 +- 2 %, layer fractions Dirichlet around fixed means."""
    geo = get_geometry("calochallenge-1-photons")
    rng = np.random.default_rng(seed)
    layers = [l for l in range(geo.n_layers) if geo.layer_slice(l).stop > geo.layer_slice(l).start]
    mean_fractions = np.linspace(1.0, 3.0, len(layers))
    mean_fractions /= mean_fractions.sum()
    e_inc = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    energy = np.zeros((n, geo.n_voxels), np.float32)
    fractions = rng.dirichlet(200 * mean_fractions, n)
    response = rng.normal(RESPONSE, SPREAD, n)
    for k, layer in enumerate(layers):
        sl = geo.layer_slice(layer)
        shape = rng.dirichlet(np.ones(sl.stop - sl.start) * 2.0, n)
        energy[:, sl] = (shape * (fractions[:, k] * response * e_inc)[:, None]).astype(np.float32)
    return ShowerData(e_inc, energy, geo), mean_fractions


def test_response_and_layer_fractions_after_a_few_hundred_steps(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    showers, mean_fractions = toy_showers(2000, seed=1)
    cfg = {"params": {"hidden_energy": 64, "hidden_ring": 32, "hidden_cell": 32, "steps": 8},
           "training": {"batch_size": 100, "val_fraction": 0.0, "num_threads": 1}}
    run = train("calo-cfm", showers, tmp_path / "run", cfg, max_epochs=15, seed=0)   # 300 steps
    test = np.exp(np.random.default_rng(2).uniform(np.log(1e3), np.log(1e5), 1000))
    gen = load_generator(run).sample(test, batch_size=500, seed=3)
    response = gen.energy.sum(axis=1) / gen.incident_energy
    assert abs(np.median(response) - RESPONSE) < 0.02, np.median(response)     # energy scale within 2 %
    assert 0.5 * SPREAD < np.std(response) < 2 * SPREAD, np.std(response)   # resolution learnt (20 steps: 2.8 x)
    geo = showers.geometry
    layers = [l for l in range(geo.n_layers) if geo.layer_slice(l).stop > geo.layer_slice(l).start]
    fractions = np.stack([gen.energy[:, geo.layer_slice(l)].sum(axis=1) for l in layers], axis=1)
    fractions = (fractions / fractions.sum(axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(fractions, mean_fractions, atol=0.02)          # longitudinal profile


def test_rings_and_cells_round_trip_on_every_kind_of_readout():
    """split -> join gives back every voxel (cylindrical, irregular cylindrical, cell grid); ring fractions and
    cell fractions sum to 1 where their parent is filled; the rings of a cylinder are its radial bins."""
    from hepgen.models.calo_cfm import CaloCFM

    rng = np.random.default_rng(0)
    for name, rings in (("calochallenge-2", 9), ("calochallenge-1-pions", 16), ("belle2-ecl-5x5", 3)):
        geo = get_geometry(name)
        model = CaloCFM((geo.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=geo)
        assert model.n_rings == rings
        x = torch.from_numpy(rng.exponential(1.0, (4, geo.n_voxels)) * (rng.random((4, geo.n_voxels)) < 0.3))
        u, q, c = model.split(x.float())
        torch.testing.assert_close(model.join(u, q, c), x.float())
        filled_rings = q.sum(dim=2)[u > 0]
        torch.testing.assert_close(filled_rings, torch.ones_like(filled_rings))
        cells = c.sum(dim=3)[q > 0]
        torch.testing.assert_close(cells, torch.ones_like(cells))
    geo = get_geometry("calochallenge-2")
    model = CaloCFM((geo.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config}, geometry=geo)
    radius = torch.from_numpy(geo.voxel_positions()["r"]).float()
    ring_radius = radius[model.gather_index].reshape(model.n_layers, model.n_rings, model.width)
    assert torch.all(ring_radius.std(dim=2) < 1e-4) and torch.all(ring_radius[:, 1:, 0] > ring_radius[:, :-1, 0])


def test_skipping_empty_rings_gives_the_same_showers():
    """The cell ODE integrated only for rings that hold energy (sampling) equals the dense graph (export)."""
    from hepgen.models.calo_cfm import CaloCFM

    geo = get_geometry("calochallenge-2")
    torch.manual_seed(0)
    config = {**CaloCFM.default_config, **CaloCFM.tiny_config, "hits": False}   # with hits: test_..._hits.py
    model = CaloCFM((geo.n_voxels,), 1, config, geometry=geo).eval()
    cond = torch.linspace(-1.0, 1.0, 6).unsqueeze(1)
    noise = model._noise(6, "cpu", torch.float32, torch.Generator().manual_seed(1))
    with torch.no_grad():
        dense = model.transform(cond, *noise)
        sparse = model.transform(cond, *noise, skip_empty_rings=True)
    empty = model.split(dense)[1] == 0
    assert 0.05 < float(empty[:, :, :].float().mean()) < 0.95            # some rings empty, some not
    torch.testing.assert_close(sparse, dense)


def test_smallest_recorded_deposit_is_learnt_and_applied(tmp_path):
    """Training showers whose hits are whole 'spots' of >= 3 MeV (GFlash-like): the model learns a voxel floor
    between 2.9 and the smallest spot per layer; generated voxels below it are set to 0, those above kept."""
    torch.set_num_threads(1)
    geo = get_geometry("calochallenge-1-photons")
    rng = np.random.default_rng(0)
    n = 200
    energy = np.where(rng.random((n, geo.n_voxels)) < 0.2, rng.uniform(3.0, 50.0, (n, geo.n_voxels)), 0.0)
    showers = ShowerData(np.full(n, 2e4), energy.astype(np.float32), geo)
    cfg = {"params": {"hidden_energy": 16, "hidden_ring": 16, "hidden_cell": 16, "steps": 2, "cell_steps": 2,
                      "hits": False},                   # the floor step without counts (with: test_..._hits.py)
           "training": {"batch_size": 100, "val_fraction": 0.0, "num_threads": 1}}
    run = train("calo-cfm", showers, tmp_path / "run", cfg, max_epochs=1, seed=0)
    model = load_generator(run).model
    filled = [l for l in range(geo.n_layers) if geo.layer_slice(l).stop > geo.layer_slice(l).start]
    floor = model.voxel_floor_mev.numpy()[filled]
    smallest = np.array([energy[:, geo.layer_slice(l)][energy[:, geo.layer_slice(l)] > 0].min() for l in filled])
    assert np.all(floor > 2.9) and np.allclose(floor, smallest, rtol=1e-4)
    a, b = geo.layer_slice(filled[0]), geo.layer_slice(filled[1])
    test = ShowerData(np.full(2, 2e4), np.zeros((2, geo.n_voxels), np.float32), geo)
    test.energy[0, a.start:a.start + 3] = [10.0, 1.0, 1.0]     # sub-floor cells: their energy goes to the 10 MeV one
    test.energy[0, b.start] = 1.0                               # a layer below its floor in all: emptied, its energy
    test.energy[1, a.start:a.start + 3] = 1.5                   # to the other layers; none above the floor: all to
    out = model.postprocess_physical(test).energy               # the largest cell
    np.testing.assert_allclose(out[0, a.start:a.start + 3], [13.0, 0.0, 0.0], rtol=1e-6)
    assert out[0, b].sum() == 0.0 and out[0].sum() == pytest.approx(13.0)   # the response is kept
    np.testing.assert_allclose(np.sort(out[1, a])[-2:], [0.0, 4.5], rtol=1e-6)
    # an empty layer's fraction is dequantised right below the smallest real one: floor / E_vis
    edge = torch.tensor([[0.01, 0.02, 0.03]])
    _, log_f = model._energy_coordinates(torch.tensor([[0.5, 0.0, 0.5]]).repeat(1000, 1), edge)
    empty = log_f[:, 1].exp()
    assert float(empty.max()) <= 0.02 and float(empty.min()) > 0 and 0.009 < float(empty.mean()) < 0.011
    torch.testing.assert_close(log_f[:, 0].exp(), torch.full((1000,), 0.5))


def test_a_run_trained_before_hit_counts_loads_without_them(tmp_path):
    """A run whose saved config lacks ``hits`` (trained before the option existed) is rebuilt without hit counts
    (``config_of_older_runs``), likewise without the cells' band and the per-energy scales of the energy
    coordinates, and its weights load; a new run gets the default (with counts)."""
    import yaml

    from hepgen.training.run import RunDir, load_run_model

    torch.set_num_threads(1)
    showers, _ = toy_showers(100, seed=3)
    cfg = {"params": {"hidden_energy": 8, "hidden_ring": 8, "hidden_cell": 8, "steps": 1, "cell_steps": 1,
                      "hits": False, "cell_band": False, "energy_scale_knots": 0},
           "training": {"batch_size": 50, "val_fraction": 0.0, "num_threads": 1}}
    run = train("calo-cfm", showers, tmp_path / "run", cfg, max_epochs=1, seed=0)
    path = RunDir(run).config
    saved = yaml.safe_load(path.read_text())
    del saved["params"]["hits"]
    del saved["params"]["cell_band"]
    del saved["params"]["energy_scale_knots"]
    path.write_text(yaml.safe_dump(saved))
    model, _, _ = load_run_model(run)
    assert model.hits is False and not hasattr(model, "hits_mean")
    assert model.cell_band is False                        # and the cells in the coordinate they were trained in
    assert model.scale_knots == 0 and not hasattr(model, "energy_scale_mean")
    assert model.sample(torch.full((2, 1), 1e4), torch.Generator().manual_seed(0)).shape[0] == 2


def test_cells_standardised_on_the_filled_ones_with_the_empty_ones_below():
    """GFlash-like rings: half of the 16 cells empty, the filled ones sharing the ring's energy evenly (±20 %).
    With ``cell_band`` the fitted spread is that of the filled cells (median 0.27 in log c, not the 7.5 of the gap
    to a dequantised 1e-7), every empty cell's coordinate lies below every filled one's, and decoding gives back the
    filled fractions (a cell filled three times takes its ring's μ, σ; its deposit 10⁴ below the ring's others is
    clipped at 4 σ below the mean: raised, not dropped) and values below ``shape_floor`` (dropped) for the empty
    ones."""
    from hepgen.models.calo_cfm import CaloCFM

    geo = get_geometry("calochallenge-2")
    rng = np.random.default_rng(0)
    n = 400
    energy = np.zeros((n, geo.n_voxels), np.float32)
    hit = rng.random((n, geo.n_voxels)) < 0.5
    energy[hit] = rng.uniform(0.8, 1.2, int(hit.sum())).astype(np.float32)
    energy[:, 0] = 0.0
    energy[:3, 0] = [1e-4, 1e-3, 0.5]        # a cell filled three times, once far below its ring's other cells
    x = torch.from_numpy(energy)
    spread = {}
    for band in (True, False):
        model = CaloCFM((geo.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "hits": False,
                                             "cell_band": band, "cell_sorted": False}, geometry=geo)
        model.before_training({"x": x, "cond": torch.zeros(n, 1)})
        spread[band] = float(model.cell_std[model.cell_real > 0].median())
    assert spread[True] < 0.3 and spread[False] > 4.0, spread
    model = CaloCFM((geo.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "hits": False,
                                         "cell_sorted": False}, geometry=geo)        # the α-ordered coordinate
    model.before_training({"x": x, "cond": torch.zeros(n, 1)})
    u, q, c = model.split(x)
    v = model.encode_cells(c)
    real = model.cell_real.bool().expand_as(c) & (q > 0).unsqueeze(-1)
    inf = torch.full_like(v, float("inf"))
    highest_empty = torch.where(real & (c == 0), v, -inf).amax(dim=0)        # per cell, over the showers
    lowest_filled = torch.where(real & (c > 0), v, inf).amin(dim=0)
    assert bool((highest_empty < lowest_filled).all())
    decoded = model.decode_cells(v)
    inside = real & (c > 0) & (v > -4.0)                    # filled, not clipped at 4 σ below the cell's mean
    torch.testing.assert_close(decoded[inside], c[inside])
    clipped = real & (c > 0) & (v <= -4.0)                   # the 1e-4 deposit: raised, never dropped
    assert 1 <= int(clipped.sum()) <= 2 and bool((decoded[clipped] > c[clipped]).all())
    assert float(decoded[real & (c == 0)].max()) <= model.config["shape_floor"]
    # the sampling path keeps the filled cells and drops the empty ones
    kept = model._normalised(decoded, model.cell_real)
    rows = ~clipped.any(dim=-1, keepdim=True) & real
    torch.testing.assert_close(kept[rows], c[rows])


def test_single_cell_rings_and_full_rings_share_the_centred_coordinate():
    """calochallenge-3-like core rings (50 cells): a third hold one cell (c = 1), the others 20-40 cells sharing the
    energy evenly (±30 %). In log c the lone cells sit 3.5 units (4 σ) above the full rings' cells; centred on the
    ring's mean (``cell_centred``, preset ``cell-centred``) both lie in the same range, and decoding gives back every
    ring's fractions."""
    from hepgen.models.calo_cfm import CaloCFM

    geo = get_geometry("calochallenge-3")
    rng = np.random.default_rng(1)
    n = 300
    energy = np.zeros((n, 45, 50, 18), np.float32)            # calochallenge-3 voxel order: layer, alpha, r
    single = rng.random(n) < 1 / 3
    for i in range(n):
        cells = rng.choice(50, 1 if single[i] else rng.integers(20, 41), replace=False)
        energy[i, 5, cells, 0] = rng.uniform(0.7, 1.3, len(cells))
    x = torch.from_numpy(energy.reshape(n, -1))
    spread = {}
    for centred in (False, True):
        model = CaloCFM((geo.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "hits": False,
                                             "cell_centred": centred, "cell_sorted": False}, geometry=geo)
        model.before_training({"x": x, "cond": torch.zeros(n, 1)})
        _, _, c = model.split(x)
        v = model.encode_cells(c)[:, 5, 0]
        lone = v[torch.from_numpy(single)].amax(dim=1)
        full = v[torch.from_numpy(~single)][c[torch.from_numpy(~single), 5, 0] > 0]
        spread[centred] = float(lone.median() - full.median())
        d = model.decode_cells(model.encode_cells(c))[:, 5, 0] * (c[:, 5, 0] > 0)
        torch.testing.assert_close(d / d.sum(dim=1, keepdim=True), c[:, 5, 0], atol=1e-5, rtol=1e-4)
    assert spread[False] > 3.0 and abs(spread[True]) < 1.0, spread


def test_centred_cells_decode_relative_to_the_largest_real_cell():
    """Padding cells of an irregular readout (Belle II 5x5: rings of 1, 8 and 16 crystals padded to 16) never set
    the scale, whatever value the ODE leaves in them: the lone crystal of the centre decodes to 1, and a run built
    from the ``cell-centred`` preset has the option on."""
    from hepgen.models.calo_cfm import CaloCFM
    from hepgen.training.config import resolve_config

    geo = get_geometry("belle2-ecl-5x5")
    params = resolve_config("calo-cfm", "cell-centred")["params"]
    model = CaloCFM((geo.n_voxels,), 1, {**params, **CaloCFM.tiny_config}, geometry=geo)
    assert model.cell_centred is True
    v = torch.full((2,) + tuple(model.cell_real.shape), -4.8)         # every cell in the empty band ...
    v[:, 0, 0, 0] = torch.tensor([0.0, -3.0])                            # ... but the centre crystal
    v[:, 0, 0, 1:] = 10.0                                                # padding: far above
    decoded = model.decode_cells(v)
    torch.testing.assert_close(decoded[:, 0, 0, 0], torch.ones(2))
    assert float((decoded[:, 0, 1] * model.cell_real[0, 1]).max()) <= model.config["shape_floor"]
    from hepgen.errors import InputError

    with pytest.raises(InputError, match="cell_centred: true needs cell_band: true"):   # not silently ignored
        CaloCFM((geo.n_voxels,), 1, {**params, **CaloCFM.tiny_config, "cell_band": False}, geometry=geo)


def test_cell_network_trains_on_the_filled_rings_only():
    """The cell loss runs the cell network on the (layer, ring) rows that hold energy and on nothing else: ds2
    showers with energy in the inner three rings of the first ten layers fill 30 of the 405 rows each."""
    from hepgen.models.calo_cfm import CaloCFM

    geo = get_geometry("calochallenge-2")
    rng = np.random.default_rng(0)
    n = 8
    energy = np.zeros((n, 45, 16, 9), np.float32)            # calochallenge-2 voxel order: layer, alpha, r
    energy[:, :10, :, :3] = rng.uniform(0.5, 1.5, (n, 10, 16, 3))
    x, cond = torch.from_numpy(energy.reshape(n, -1)), torch.ones(n, 1)
    model = CaloCFM((geo.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "hits": False},
                    geometry=geo)
    model.before_training({"x": x, "cond": cond})
    seen = []
    original = model.cell_velocity
    model.cell_velocity = lambda v, t, context: seen.append((v.shape, t.shape, context.shape[0])) or original(
        v, t, context)
    loss = model.training_step({"x": x, "cond": cond}, {"model": torch.optim.SGD(model.parameters(), lr=0.0)},
                               0, 0)["cell_cfm"]
    assert seen == [(torch.Size([n * 30, 16]), torch.Size([n * 30]), n * 30)]
    assert 0.1 < float(loss) < 100.0


def test_energy_network_sees_several_flow_times_per_shower():
    """Older runs (``energy_batch`` 0): with ``energy_repeats`` k the energy loss runs the energy network on k fresh
    (flow time, noise, dequantisation) draws of each shower; the ring network still sees one row of energy coordinates
    per shower."""
    from hepgen.models.calo_cfm import CaloCFM

    geo = get_geometry("calochallenge-2")
    rng = np.random.default_rng(0)
    n, k = 8, 3
    energy = np.zeros((n, 45, 16, 9), np.float32)
    energy[:, :10, :, :3] = rng.uniform(0.5, 1.5, (n, 10, 16, 3))
    x, cond = torch.from_numpy(energy.reshape(n, -1)), torch.ones(n, 1)
    model = CaloCFM((geo.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "energy_repeats": k,
                                         "energy_batch": 0}, geometry=geo)
    model.before_training({"x": x, "cond": cond})
    seen: dict[str, list] = {"energy": [], "ring": []}
    energy_velocity, ring_velocity = model.energy_velocity, model.ring_velocity
    model.energy_velocity = lambda y, t, c: seen["energy"].append((y.shape[0], t, c.shape[0])) or energy_velocity(
        y, t, c)
    model.ring_velocity = lambda v, t, c, z: seen["ring"].append(z.shape[0]) or ring_velocity(v, t, c, z)
    model.training_step({"x": x, "cond": cond}, {"model": torch.optim.SGD(model.parameters(), lr=0.0)}, 0, 0)
    (rows, t, n_cond), = seen["energy"]
    assert rows == n_cond == k * n and len(torch.unique(t)) == k * n         # k flow times per shower
    assert seen["ring"] == [n]

    from hepgen.errors import InputError

    with pytest.raises(InputError, match="params: energy_repeats must be >= 1, got 0"):
        CaloCFM((geo.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "energy_repeats": 0},
                geometry=geo)


def test_energy_network_takes_its_own_updates_on_the_whole_training_set():
    """``energy_batch`` b, ``energy_updates`` k: before training the layer energies, empty-layer edges and counts of
    every training shower are tabled; each step the energy network (its own optimiser, not the shared one) takes k
    updates on b rows drawn from that table, while the ring network's context is the step's own showers."""
    from hepgen.errors import InputError
    from hepgen.models.calo_cfm import CaloCFM

    geo = get_geometry("calochallenge-2")
    rng = np.random.default_rng(0)
    n, batch, k, b = 40, 8, 3, 16
    energy = np.zeros((n, 45, 16, 9), np.float32)
    energy[:, :10, :, :3] = rng.uniform(0.5, 1.5, (n, 10, 16, 3))
    x, cond = torch.from_numpy(energy.reshape(n, -1)), torch.arange(n, dtype=torch.float32)[:, None] / n
    config = {**CaloCFM.default_config, **CaloCFM.tiny_config, "energy_batch": b, "energy_updates": k}
    model = CaloCFM((geo.n_voxels,), 1, config, geometry=geo)
    model.before_training({"x": x, "cond": cond})
    u, edge, hits, table_cond = model.energy_table
    assert len(u) == len(hits) == len(edge) == n
    torch.testing.assert_close(u, model.split(x)[0])
    torch.testing.assert_close(hits, model.hit_counts(x, cond))
    optimizers = model.configure_optimizers()
    assert set(optimizers) == {"model", "energy"}
    shared = {id(p) for group in optimizers["model"].param_groups for p in group["params"]}
    assert not shared & {id(p) for p in model.energy_net.parameters()}
    assert len(shared) + len(list(model.energy_net.parameters())) == len(list(model.parameters()))

    seen: dict[str, list] = {"energy": [], "ring": []}
    energy_velocity, ring_velocity = model.energy_velocity, model.ring_velocity
    model.energy_velocity = lambda y, t, c: seen["energy"].append(c.clone()) or energy_velocity(y, t, c)
    model.ring_velocity = lambda v, t, c, z: seen["ring"].append(z.shape[0]) or ring_velocity(v, t, c, z)
    before = [p.detach().clone() for p in model.energy_net.parameters()]
    torch.manual_seed(1)
    model.training_step({"x": x[:batch], "cond": cond[:batch]}, optimizers, 0, 0)
    assert [len(c) for c in seen["energy"]] == [b] * k                       # k updates of b rows
    drawn = torch.cat(seen["energy"]).squeeze(1)
    assert (drawn >= batch / n).any()                            # rows from beyond the step's own 8 showers
    assert seen["ring"] == [batch]
    steps = {int(s["step"]) for s in optimizers["energy"].state.values()}
    assert steps == {k}
    assert all(not torch.equal(a, p) for a, p in zip(before, model.energy_net.parameters()))

    bare = CaloCFM((geo.n_voxels,), 1, config, geometry=geo)           # no table: the step's showers, own optimiser
    bare_optimizers = bare.configure_optimizers()
    bare.training_step({"x": x[:batch], "cond": cond[:batch]}, bare_optimizers, 0, 0)
    assert {int(s["step"]) for s in bare_optimizers["energy"].state.values()} == {1}

    older = CaloCFM((geo.n_voxels,), 1, {**config, **CaloCFM.config_of_older_runs}, geometry=geo)
    assert set(older.configure_optimizers()) == {"model"}
    with pytest.raises(InputError, match="params: energy_updates must be an integer >= 1 or auto, got 'many'"):
        CaloCFM((geo.n_voxels,), 1, {**config, "energy_updates": "many"}, geometry=geo)
    with pytest.raises(InputError, match="params: energy_batch must be >= 0, got -1"):
        CaloCFM((geo.n_voxels,), 1, {**config, "energy_batch": -1}, geometry=geo)


def test_energy_coordinates_standardised_per_incident_energy(tmp_path):
    """A calorimeter's resolution narrows with energy: with ``energy_scale_knots`` the energy network learns the
    coordinates in units of the spread expected at each E_inc (unit spread at 1 GeV and at 100 GeV alike), the
    generated resolution follows the true one at both ends, and the option is refused out of range."""
    from hepgen.errors import InputError
    from hepgen.models.calo_cfm import CaloCFM
    from hepgen.training.run import load_run_model

    torch.manual_seed(0)
    torch.set_num_threads(1)
    showers, _ = toy_showers(2000, seed=4)
    rng = np.random.default_rng(5)
    resolution = 0.10 / np.sqrt(showers.incident_energy / 1e3)               # 10 % at 1 GeV, 1 % at 100 GeV
    response = rng.normal(RESPONSE, resolution)
    showers.energy *= (response / (showers.energy.sum(axis=1) / showers.incident_energy))[:, None]
    cfg = {"params": {"hidden_energy": 64, "hidden_ring": 32, "hidden_cell": 32, "steps": 8},
           "training": {"batch_size": 100, "val_fraction": 0.0, "num_threads": 1}}
    run = train("calo-cfm", showers, tmp_path / "run", cfg, max_epochs=15, seed=0)   # 300 steps
    model, kind, _ = load_run_model(run)
    low, high = showers.incident_energy < 3e3, showers.incident_energy > 3e4
    encoded = kind.encode(showers)
    cond = torch.from_numpy(encoded["cond"])
    z = model.encode_energy(model.split(torch.from_numpy(encoded["x"]))[0])[:, :1]
    mean, std = model.energy_scale(cond)
    residual = ((z - mean[:, :1]) / std[:, :1]).squeeze(1).detach().numpy()
    for band in (low, high):
        assert 0.8 < residual[band].std() < 1.25, residual[band].std()          # unit spread at both ends
    assert z[torch.from_numpy(high)].std() < 0.3 * z[torch.from_numpy(low)].std()  # not so standardised globally
    for e_inc in (1.5e3, 6e4):
        gen = load_generator(run).sample(np.full(1000, e_inc), batch_size=500, seed=3)
        spread = np.std(gen.energy.sum(axis=1) / e_inc)
        truth = 0.10 / np.sqrt(e_inc / 1e3)
        assert 0.6 * truth < spread < 1.6 * truth, (e_inc, spread, truth)
    geo = showers.geometry
    with pytest.raises(InputError, match=r"params: energy_scale_knots must be 0 \(off\) or 2..64, got 1"):
        CaloCFM((geo.n_voxels,), 1, {**CaloCFM.default_config, **CaloCFM.tiny_config, "energy_scale_knots": 1},
                geometry=geo)
    for bad in ("abc", 2.5, True):                       # not integers: refused before a run directory exists
        with pytest.raises(InputError, match=f"energy_scale_knots must be 0 \\(off\\) or 2..64, got {bad!r}"):
            train("calo-cfm", showers[:50], tmp_path / "bad", {"params": {"energy_scale_knots": bad}}, max_epochs=1)
        assert not (tmp_path / "bad").exists()


def test_ring_hits_give_each_cell_row_its_own_ring_count():
    """With ``ring_hits`` (the default on a cylindrical readout conditioned on E_inc) the ring network generates √q and the hit count of each ring
    (2 x 9 coordinates per calochallenge-2 layer), the rings' counts add up to the layer's, and the cell network
    sees on each row its own ring's count (decoded back exactly from the context); off without a geometry (one
    ring: its count is the layer's, already in the context)."""
    from hepgen.models.calo_cfm import CaloCFM
    from hepgen.training.config import resolve_config

    geo = get_geometry("calochallenge-2")
    rng = np.random.default_rng(0)
    n = 16
    energy = np.zeros((n, 45, 16, 9), np.float32)            # calochallenge-2 voxel order: layer, alpha, r
    energy[:, :10, :, :4] = rng.uniform(0.5, 1.5, (n, 10, 16, 4)) * (rng.random((n, 10, 16, 4)) < 0.4)
    x, cond = torch.from_numpy(energy.reshape(n, -1)), torch.ones(n, 1)
    params = resolve_config("calo-cfm")["params"]
    model = CaloCFM((geo.n_voxels,), 1, {**params, **CaloCFM.tiny_config}, geometry=geo)
    assert model.ring_hits and model.n_ring_coordinates == 18
    old = CaloCFM((geo.n_voxels,), 1, {**resolve_config("calo-cfm", "alpha-ordered")["params"], **CaloCFM.tiny_config},
                  geometry=geo)                                          # the default before: no ring counts
    assert not old.ring_hits and not old.cell_sorted and old.n_ring_coordinates == 9
    model.before_training({"x": x, "cond": cond})
    counts = model.ring_hit_counts(x, cond)
    torch.testing.assert_close(counts.sum(dim=2), model.hit_counts(x, cond))
    torch.testing.assert_close(counts[:, :10, :4], torch.from_numpy((energy[:, :10, :, :4] > 0).sum(axis=2)).float())
    seen = {}
    ring_velocity, cell_velocity = model.ring_velocity, model.cell_velocity
    model.ring_velocity = lambda v, t, c, z: seen.setdefault("ring", v.shape) and ring_velocity(v, t, c, z)
    model.cell_velocity = lambda v, t, context: seen.setdefault("context", context) is not None and cell_velocity(
        v, t, context)
    model.training_step({"x": x, "cond": cond}, {"model": torch.optim.SGD(model.parameters(), lr=0.0)}, 0, 0)
    assert seen["ring"] == (n, 45, 18)
    _, q, _ = model.split(x)
    rows = (q > 0).reshape(-1).nonzero().squeeze(1)                         # the filled rings, as the loss takes them
    layer, ring = (rows // 9) % 45, rows % 9
    log_n = seen["context"][:, 1] * model.ring_hits_std[layer, ring] + model.ring_hits_mean[layer, ring]
    torch.testing.assert_close(torch.floor(torch.exp(log_n) - 1.0), counts.reshape(-1)[rows])
    assert model.sample(cond[:3], torch.Generator().manual_seed(0)).shape == (3, geo.n_voxels)
    one_ring = CaloCFM((10,), 1, {**params, **CaloCFM.tiny_config})                 # no geometry: one ring
    assert not one_ring.ring_hits and one_ring.n_ring_coordinates == 1


def test_sorted_cells_learn_order_statistics_and_land_on_random_alpha_cells():
    """With ``cell_sorted`` (the default there too) the k-th cell coordinate of a ring is its k-th largest cell: the fitted
    means fall with k; generated showers put each ring's largest value on a uniformly drawn α cell (calochallenge-2:
    16), never only on the first; the option is refused without ``ring_hits`` and is off by default where a ring's
    cells are not exchangeable (a cell grid, or more conditions than E_inc); runs trained before it load without
    it."""
    from hepgen.errors import InputError
    from hepgen.models.calo_cfm import CaloCFM
    from hepgen.training.config import resolve_config
    from hepgen.training.run import run_params

    geo = get_geometry("calochallenge-2")
    rng = np.random.default_rng(0)
    n = 64
    energy = np.zeros((n, 45, 16, 9), np.float32)            # calochallenge-2 voxel order: layer, alpha, r
    energy[:, :10, :, :4] = rng.exponential(1.0, (n, 10, 16, 4)) * (rng.random((n, 10, 16, 4)) < 0.6)
    x, cond = torch.from_numpy(energy.reshape(n, -1)), torch.ones(n, 1)
    params = resolve_config("calo-cfm")["params"]
    model = CaloCFM((geo.n_voxels,), 1, {**params, **CaloCFM.tiny_config}, geometry=geo)
    model.before_training({"x": x, "cond": cond})
    means = model.cell_mean[5, 0, :6]
    assert bool((means[1:] < means[:-1]).all()), means                     # order statistics, largest first
    generated = model.sample(torch.ones(200, 1), torch.Generator().manual_seed(1)).reshape(200, 45, 16, 9)
    core = generated[:, 5, :, 0]
    largest = core[core.sum(dim=1) > 0].argmax(dim=1)
    assert len(largest) > 50 and len(torch.unique(largest)) >= 12, largest.tolist()
    with pytest.raises(InputError, match="cell_sorted: true needs ring_hits: true"):
        CaloCFM((geo.n_voxels,), 1, {**params, **CaloCFM.tiny_config, "ring_hits": False, "cell_sorted": True},
                geometry=geo)
    assert not CaloCFM((geo.n_voxels,), 1, {**params, **CaloCFM.tiny_config, "ring_hits": False},
                       geometry=geo).cell_sorted                             # "auto" follows an explicit false
    assert not CaloCFM((geo.n_voxels,), 2, {**params, **CaloCFM.tiny_config}, geometry=geo).cell_sorted   # + theta
    grid = get_geometry("belle2-ecl-5x5")
    assert not CaloCFM((grid.n_voxels,), 1, {**params, **CaloCFM.tiny_config}, geometry=grid).ring_hits
    assert run_params(CaloCFM, {"lr": 1e-3})["cell_sorted"] is False                # an older run's config.yaml


def test_sorted_cells_export_to_onnx_with_the_same_showers(tmp_path):
    """The random α placement of ``cell_sorted`` (argsort of the cell noise) is in the exported graph: ONNX Runtime
    gives PyTorch's showers for the same draws, on a readout with padded rings (Belle II 5x5, where the option is
    off by default and set here)."""
    from conftest import tiny_config, tiny_data

    from hepgen.training.onnx import export_onnx

    cfg = tiny_config("calo-cfm", batch_size=24, val_fraction=0.0, num_threads=1)
    cfg["params"].update(ring_hits=True, cell_sorted=True)
    run = train("calo-cfm", tiny_data("showers")[:48], tmp_path / "run", cfg, max_epochs=1, seed=0)
    report = export_onnx(run, tmp_path / "model.onnx", n_check=4)
    assert report.passed, report.summary()


def test_rings_with_one_hit_skip_the_cell_network():
    """With ring counts and sorted cells, a ring whose generated count is one gets its energy in one cell without
    the cell ODE (and with ``ring_count_gates`` one whose count is 0 none): the cell network sees only the other filled rings (sampling) or is overruled on those rows (the
    dense graph: the same showers); each such ring ends with one hit where its layer's count leaves no room for
    more; ``cell_ode_one_hit: true`` (and an older run's config) integrates every filled ring as before."""
    from hepgen.models.calo_cfm import CaloCFM
    from hepgen.models.solvers import integrate
    from hepgen.training.run import run_params

    geo = get_geometry("calochallenge-2")
    torch.manual_seed(0)
    config = {**CaloCFM.default_config, **CaloCFM.tiny_config, "ring_count_gates": True}     # both sampling rules
    model = CaloCFM((geo.n_voxels,), 1, config, geometry=geo).eval()
    assert model.ring_hits and model.cell_sorted
    model.ring_hits_mean.fill_(float(np.log(3.0)))       # generated ring counts from 0 to tens
    model.hits_mean.fill_(float(np.log(20.0)))
    cond = torch.linspace(-1.0, 1.0, 8).unsqueeze(1)
    noise = model._noise(8, "cpu", torch.float32, torch.Generator().manual_seed(1))
    rows_seen = []
    integrate_cells = model._integrate_cells
    model._integrate_cells = lambda v, context: rows_seen.append(len(v)) or integrate_cells(v, context)
    with torch.no_grad():
        sparse = model.transform(cond, *noise, skip_empty_rings=True)
        dense = model.transform(cond, *noise)
        mean, std, steps = *model.energy_scale(cond), int(model.config["steps"])
        z = integrate(lambda y, t: model.energy_velocity(y, t, cond), noise[0], steps, "midpoint")[:, 0] * std + mean
        w = integrate(lambda y, t: model.ring_velocity(y, t, cond, z), noise[1], steps, "midpoint")
    torch.testing.assert_close(sparse, dense)
    one_hit = model.one_hit_rings(w).reshape(8, 45, 9)
    n_ring = torch.floor(torch.exp(w[..., 9:] * model.ring_hits_std + model.ring_hits_mean) - 1.0)
    assert torch.equal(one_hit, n_ring <= 1) and 0.1 < float(one_hit.float().mean()) < 0.9
    u = model.decode_energy(z[:, :46], model.decode_hits(z[:, 46:]) > 0.5)      # as transform has them
    q = model._normalised(model.gate_rings((w[..., :9] * model.ring_std + model.ring_mean).clamp(0.0, 1.0) ** 2, w),
                          model.ring_real)
    filled = (u.unsqueeze(-1) * q) > 0
    assert not bool((filled & (n_ring < 1) & (n_ring >= 1).any(dim=2, keepdim=True)).any())   # count 0: empty
    assert rows_seen[0] == int((filled & ~one_hit).sum()) and int((filled & one_hit).sum()) > 20
    ring_energy = model.split(sparse)[1] * model.split(sparse)[0].unsqueeze(-1)
    cells = model.split(sparse)[2] * ring_energy.unsqueeze(-1)
    kept = filled & one_hit & (ring_energy > 0)
    assert int(kept.sum()) > 20                          # the one-hit rings' energy is in one cell (1e-7 elsewhere)
    assert bool((cells.amax(dim=-1)[kept] >= 0.999 * ring_energy[kept]).all())
    model.config["cell_ode_one_hit"] = True
    rows_seen.clear()
    with torch.no_grad():
        model.transform(cond, *noise, skip_empty_rings=True)
    assert model.one_hit_rings(w) is None and rows_seen[0] == int(filled.sum())
    assert run_params(CaloCFM, {"lr": 1e-3})["cell_ode_one_hit"] is True            # an older run's config.yaml
    from hepgen.errors import InputError

    with pytest.raises(InputError, match="cell_ode_one_hit must be true or false, got 'sometimes'"):
        CaloCFM((geo.n_voxels,), 1, {**config, "cell_ode_one_hit": "sometimes"}, geometry=geo)

