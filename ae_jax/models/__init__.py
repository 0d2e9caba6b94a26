"""Autoencoder models: flax.linen modules paired with their objectives.

Find a model by its registry name (``config.model``):
  'ae'              autoencoder.py  deep/sparse/denoising/contractive/dropout/conv AE
  'vae'             vae.py          variational autoencoder, beta-VAE
  'iwae'            vae.py          the VAE network on the K-sample IWAE bound
  'factor_vae'      factor_vae.py   VAE + total-correlation discriminator
  'aae'             aae.py          adversarial autoencoder (prior matching)
  'rbm'             rbm.py          restricted Boltzmann machine (CD-k, PCD)
  'beta_tc_vae'     beta_tc_vae.py  VAE with a weighted total-correlation term
  'vampprior'       vampprior.py    VAE with a mixture-of-posteriors prior
  'flow_vae'        flow_vae.py     VAE with a planar / radial / IAF flow posterior
  'miwae'           miwae.py        the VAE network on MIWAE / CIWAE / PIWAE bounds
  'hierarchical_vae'  hierarchical_vae.py  two stochastic layers (VAE or IWAE)
  'vae_gan'         vae_gan.py      VAE with a discriminator-feature reconstruction
  'wae'             wae.py          Wasserstein AE (MMD to the prior)
  'rae'             rae.py          regularised AE + ex-post density sampling
  'vq_vae'          vq_vae.py       VQ-VAE: discrete codes from a learned codebook
  'lstm_ae'         lstm_ae.py      LSTM sequence autoencoder
  'mlp_classifier'  classifier.py   the fine-tuned network of a stacked AE
`networks.py` holds the MLP and convolutional encoders/decoders they share.
"""

from ae_jax.models.aae import AdversarialAutoencoder
from ae_jax.models.autoencoder import Autoencoder, AutoencoderModule
from ae_jax.models.base import Model
from ae_jax.models.classifier import MLPClassifier
from ae_jax.models.lstm_ae import LSTMAutoencoder
from ae_jax.models.rbm import RBM
from ae_jax.models.registry import MODELS, build_model, check_model_config, sizing_fields
from ae_jax.models.vae import VAEModule, VariationalAutoencoder, reparameterize
