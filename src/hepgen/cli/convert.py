"""``hepgen convert IN OUT``: between shower layouts, voxels to point clouds, jet formats, and CALICE-style ROOT hit
trees (``IN.root`` -> HDF5 with MIP-to-MeV conversion, cuts and selections; ``--to root`` back)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def convert(
    source: Path = typer.Argument(..., help="Input file (CaloChallenge/ILD shower HDF5, JetNet .h5/.npy/.npz, or a "
                                  "CALICE-style ROOT hit tree .root)."),
    target: Path = typer.Argument(..., help="Output file."),
    to: str = typer.Option("calochallenge", "--to", help="Output format: calochallenge, ild, points (one point per "
                           "hit voxel), or jetnet (jets; the suffix .h5/.npz/.npy picks the container)."),
    geometry: Optional[str] = typer.Option(None, "--geometry", "-g",
                                           help="Geometry of the input, when the file does not say."),
    compression: str = typer.Option("gzip", help="HDF5 compression of shower output: gzip, lzf or none."),
    chunk_size: int = typer.Option(10_000, help="Showers converted at a time (bounds the memory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    root_layout: Optional[str] = typer.Option(None, "--root-layout", help="ROOT hit tree: key=value pairs, e.g. "
                                              "'tree=bigtree,i=ahc_hitI,j=ahc_hitJ,k=ahc_hitK,energy=ahc_hitEnergy,"
                                              "event=eventNumber,beam_energy=beamEnergy,index_base=1' (the defaults)."),
    mip_mev: Optional[float] = typer.Option(None, "--mip-mev", help="ROOT: 1 MIP in MeV of the output energies "
                                            "(default: 26.8 for calice-ahcal-2018, calibrated; 0.5 for ild-ahcal)."),
    cut_mip: float = typer.Option(0.2, "--cut-mip", help="ROOT import: drop hits below this (MIP); 0.2 is the "
                                  "thesis's training cut (the evaluation applies 0.5)."),
    beam_energy: Optional[float] = typer.Option(None, "--beam-energy", help="ROOT import: beam energy in GeV when "
                                                "the tree has no beam-energy branch."),
    drop_back_layers: bool = typer.Option(False, "--drop-back-layers", help="ROOT import: drop hits in layers behind "
                                          "the geometry's last (the prototype's last two layers), instead of refusing "
                                          "them."),
    max_start_layer: Optional[int] = typer.Option(None, "--max-start-layer", help="ROOT import: keep showers that "
                                                  "start (CALICE finder) in the first N layers (the thesis: 5)."),
    min_hits: int = typer.Option(0, "--min-hits", help="ROOT import: punch-through rejection, keep showers with at "
                                 "least N hits >= 0.5 MIP (ILD pions: 70)."),
    require_start: bool = typer.Option(False, "--require-start", help="ROOT import: keep only showers with a shower "
                                       "start (no start: a punch-through)."),
) -> None:
    """Convert a file between formats, streaming in chunks; the output appears only when complete."""
    from hepgen.data.convert import convert_file

    is_root = source.suffix.lower() == ".root"
    root = {"layout": root_layout, "mip_mev": mip_mev}
    if is_root:
        root.update(cut_mip=cut_mip, beam_energy_gev=beam_energy, drop_back_layers=drop_back_layers,
                    max_start_layer=max_start_layer, min_hits=min_hits, require_start=require_start)
    n = convert_file(source, target, to=to, geometry=geometry, compression=compression,
                     chunk_size=chunk_size, overwrite=overwrite, root=root)
    typer.echo(f"wrote {n} entries to {target} ({to})")
