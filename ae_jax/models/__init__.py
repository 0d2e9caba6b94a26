"""Autoencoder models: flax.linen modules paired with their objectives.

Find a model by its name: `autoencoder.py` ('ae'), `vae.py` ('vae');
`networks.py` holds the MLP and convolutional encoders/decoders they share.
"""

from ae_jax.models.autoencoder import Autoencoder, AutoencoderModule
from ae_jax.models.base import Model
from ae_jax.models.registry import MODELS, build_model, check_model_config
from ae_jax.models.vae import VAEModule, VariationalAutoencoder, reparameterize
