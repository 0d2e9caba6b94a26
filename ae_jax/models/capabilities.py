"""What a model can do, as small Protocols: the one place tasks ask.

Evaluation tasks, anomaly scores and figures check a model with
``isinstance(model, capabilities.X)`` (structural: a model has the
capability when it has the members), never by its registry name. Two
capabilities every `base.Model` declares as class attributes instead, since
the base class provides default methods for them: ``reconstructs`` (False
for a model with no decoder, e.g. a classifier) and ``generative`` (True for
a model with a prior to `sample` from).
"""

from typing import Any, Protocol, runtime_checkable

import jax


@runtime_checkable
class LatentVariableModel(Protocol):
  """A Gaussian posterior q(z|x) and importance weights log p(x,z)/q(z|x).

  What the ELBO-based numbers need: posterior statistics (task ``latent``)
  and the ``neg_elbo`` anomaly score; it is also `ImportanceWeighted` (task
  ``nll``). vae, iwae, factor_vae and the other VAE subclasses.
  """

  def encode_distribution(
      self, params: Any, x: jax.Array
  ) -> tuple[jax.Array, jax.Array]:
    ...

  def log_importance_weights(
      self, params: Any, x: jax.Array, rng: jax.Array, num_samples: int
  ) -> jax.Array:
    ...


@runtime_checkable
class ImportanceWeighted(Protocol):
  """Importance weights log p(x, z) / q(z | x) of any latent structure
  (task ``nll``): every `LatentVariableModel`, and the two-stochastic-layer
  VAE, whose z = (z1, z2) has no single Gaussian posterior."""

  def log_importance_weights(
      self, params: Any, x: jax.Array, rng: jax.Array, num_samples: int
  ) -> jax.Array:
    ...


@runtime_checkable
class StochasticLayers(Protocol):
  """Several stochastic layers (the two-layer VAE): the posterior mean of
  each layer, E_q[z_l | x], for task ``latent``'s active units per layer
  (Burda et al. 2015, Sec. 5.2)."""

  def layer_posterior_means(
      self, params: Any, x: jax.Array, rng: jax.Array
  ) -> tuple[jax.Array, ...]:
    ...


@runtime_checkable
class DiscreteCodes(Protocol):
  """Codes that are symbols of a codebook (the VQ-VAE): its ex-post density
  is a prior over symbols (`ae_jax.expost.CodePrior`), not a mixture."""

  codebook_size: int

  def code_indices(self, params: Any, x: jax.Array) -> jax.Array:
    ...

  def codes_of(self, params: Any, indices: jax.Array) -> jax.Array:
    ...


@runtime_checkable
class PriorModel(Protocol):
  """A model whose codes are pushed to an explicit `ae_jax.priors.Prior`
  (task ``prior``): the adversarial autoencoder."""

  prior: Any


@runtime_checkable
class Classifier(Protocol):
  """A model that predicts labels (its own test accuracy in task ``probe``)."""

  num_classes: int

  def predict(self, params: Any, x: jax.Array) -> jax.Array:
    ...


@runtime_checkable
class RegularisedAutoencoder(Protocol):
  """A deterministic autoencoder with code-sparsity and contractive
  penalties (tasks ``sparsity`` and ``jacobian`` when they are on)."""

  sparsity: str
  contractive_weight: float


@runtime_checkable
class DenoisingAutoencoder(Protocol):
  """An autoencoder trained on corrupted inputs (`ae_jax.corruptions`):
  ``noise`` names the corruption, ``noise_level`` its level; with
  ``noise='downsample'`` a super-resolution model (task ``superres``)."""

  noise: str
  noise_level: float


@runtime_checkable
class LayerwisePretrainable(Protocol):
  """An MLP whose layers greedy layer-wise pretraining trains one at a time
  (``config.pretrain``, `ae_jax.train.pretrain`): ae, mlp_classifier."""

  def pretrain_layer_sizes(self) -> tuple[int, ...]:
    """Widths of the pretrained layers, bottom first."""
    ...

  def pretrain_top_activation(self) -> str | None:
    """The code nonlinearity the top layer must produce (None: that of the
    hidden units)."""
    ...

  def with_pretrained_layers(self, params: Any, layers: list) -> Any:
    """``params`` with ``layers`` [(encoding, decoding) ``{'kernel',
    'bias'}``, bottom first] in place."""
    ...


def reconstructs(model) -> bool:
  return bool(model.reconstructs)


def is_sparse(model) -> bool:
  return isinstance(model, RegularisedAutoencoder) and model.sparsity != 'none'


def is_contractive(model) -> bool:
  return (
      isinstance(model, RegularisedAutoencoder) and model.contractive_weight > 0
  )


def has_prior(model) -> bool:
  return isinstance(model, PriorModel) and model.prior is not None


def is_super_resolution(model) -> bool:
  return isinstance(model, DenoisingAutoencoder) and model.noise == 'downsample'
