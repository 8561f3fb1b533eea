"""Reproducible studies of the source theses that are not amplification studies (those are in
:mod:`hepgen.amplify`): the β-VAE posterior-collapse study (:mod:`hepgen.studies.beta_vae`)."""
