"""Physics studies built on hepgen's generators (e.g. the OnlineFlow bump hunt, :mod:`hepgen.studies.bumphunt`)."""
