"""The earlier name of `vamp_vae.py` (the same config); commands that name
``experiments/configs/vampprior.py`` keep working."""

from experiments.configs.vamp_vae import get_config  # pylint: disable=unused-import
