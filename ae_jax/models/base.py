"""What every trainable autoencoder in ae_jax provides.

A `Model` pairs a flax.linen module with its objective. All of its methods are
pure functions of ``params`` (no hidden state), so the trainer can `jax.jit`,
shard and differentiate them, and `ae_jax.load` can call them on new arrays.

The objective is written once, per example: `per_example_losses` returns a
dict of ``[B]`` arrays whose ``'loss'`` entry is minimised. Training takes the
batch mean; evaluation takes a masked sum over padded batches, so every test
example counts exactly once.
"""

import abc
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from ae_jax import losses

Params = Any
Metrics = dict[str, jax.Array]

LIKELIHOODS = ('bernoulli', 'gaussian')


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """What a model's ``build`` may know of its data.

  Attributes:
    input_shape: shape of one example, e.g. ``(784,)`` or ``(28, 28, 1)``.
    num_classes: number of label classes (0 for unlabelled data).
    num_train: number of training examples (0 where unknown, e.g. a model
      rebuilt for inference), for objectives that need the dataset size.
  """

  input_shape: tuple[int, ...]
  num_classes: int = 0
  num_train: int = 0


def hparam(default, *, traced: bool = False):
  """A hyperparameter of a model's ``Config`` dataclass, with its default.

  Each model declares its hyperparameters once, in the ``Config`` dataclass
  beside it; `ae_jax.configs` builds the run config from those declarations.
  ``traced=True`` marks a number that the objective reads as a (possibly
  traced) value, an attribute of the model of the same name: a vmapped sweep
  (`ae_jax.train.sweep`) may give each member its own value.
  """
  return dataclasses.field(default=default, metadata={'traced': traced})


def hparams(config, config_cls):
  """A ``config_cls`` instance from ``config``'s fields of that name; fields
  ``config`` does not have keep their declared defaults."""
  names = [f.name for f in dataclasses.fields(config_cls)]
  return config_cls(**{k: config[k] for k in names if k in config})


def traced_fields(config_cls) -> tuple[str, ...]:
  """The `hparam`s of a ``Config`` dataclass declared ``traced``."""
  return tuple(
      f.name
      for f in dataclasses.fields(config_cls)
      if f.metadata.get('traced', False)
  )


@dataclasses.dataclass(frozen=True)
class Model(abc.ABC):
  """An autoencoder as pure functions of its parameters.

  Attributes:
    input_shape: shape of one example, e.g. ``(784,)`` or ``(28, 28, 1)``.
    latent_dim: size of the code returned by `encode`.
    likelihood: 'bernoulli' (decoder outputs logits; data in [0, 1]) or
      'gaussian' (decoder outputs means).
  """

  input_shape: tuple[int, ...]
  latent_dim: int
  likelihood: str

  generative = False  # Models with a prior set this and implement `sample`.
  reconstructs = True  # False for models with no decoder (a classifier).
  # The validation metric (lower is better) that picks the best checkpoint
  # (``step='best'``): the objective, unless it measures no quality (an
  # RBM's CD surrogate, a GAN's adversarial sum).
  best_metric = 'loss'

  @property
  def event_ndims(self) -> int:
    return len(self.input_shape)

  @abc.abstractmethod
  def init(self, rng: jax.Array) -> Params:
    """Fresh parameters."""

  @abc.abstractmethod
  def per_example_losses(
      self,
      params: Params,
      x: jax.Array,
      rng: jax.Array,
      *,
      train: bool,
      labels: jax.Array | None = None,
  ) -> Metrics:
    """Per-example ``[B]`` metrics for inputs ``x`` ``[B, *input_shape]``.

    Must contain ``'loss'`` (the objective to minimise) and, for models that
    reconstruct, ``'mse'``: the mean squared error per pixel of the
    decoder's mean output at the code the objective decodes, the sampled
    code for single-sample objectives (vae, beta_tc_vae, vampprior,
    flow_vae, vae_gan) and the posterior mean for the multi-sample ones
    (iwae, miwae, hierarchical_vae), so it runs higher and noisier for the
    former. Reconstructions compared across models come from `reconstruct`
    (the evaluation tasks, e.g. ``pca``). ``labels`` (``[B]`` int32) are
    passed by the trainer to every model; unsupervised models ignore them.
    """

  def init_model_state(self, rng: jax.Array, batch_size: int) -> Any:
    """State a model carries between training steps besides its parameters.

    E.g. the persistent Gibbs chains of an RBM trained with persistent CD.
    It lives in the train state (checkpointed, replicated across devices)
    and is updated by `train_losses`. Most models have none.
    """
    del rng, batch_size
    return {}

  def param_groups(self) -> dict[str, float] | None:
    """Learning rate per top-level params key, for models with several optimisers.

    ``None`` (most models): one optimiser for everything. An adversarial
    model returns e.g. ``{'encoder': lr, 'decoder': lr, 'discriminator':
    d_lr}``; its ``'loss'`` is then the sum of every group's objective with
    ``stop_gradient`` on the other groups, so one gradient of ``'loss'``
    gives each group the gradient of its own objective and one jitted step
    updates all of them.
    """
    return None

  def train_losses(
      self,
      params: Params,
      model_state: Any,
      x: jax.Array,
      rng: jax.Array,
      *,
      labels: jax.Array | None = None,
  ) -> tuple[Metrics, Any]:
    """``(per-example metrics, new model state)`` of one training step."""
    metrics = self.per_example_losses(params, x, rng, train=True, labels=labels)
    return metrics, model_state

  def update_gates(self, metrics: dict) -> dict[str, jax.Array] | None:
    """Which parameter groups this step updates, from its batch-mean metrics.

    ``None`` (every model but a balanced GAN): all of them. A model with
    `param_groups` may return ``{group: bool scalar}``; a group whose gate
    is False keeps its parameters and its optimiser state this step
    (`ae_jax.train.state.make_optimizer`), e.g. the VAE-GAN pausing a
    discriminator that wins by a margin (Larsen et al.'s equilibrium rule).
    """
    del metrics
    return None

  def after_update(self, params: Params, model_state: Any) -> Params:
    """Parameters after the optimiser's step, given the new model state.

    For parameters that are not (only) learned by gradient, e.g. a VQ-VAE's
    codebook kept as an exponential moving average of its encoder outputs,
    or dead codes restarted: `train_losses` computes the values into the
    model state and this writes them into the parameters. Most models
    return ``params`` unchanged.
    """
    del model_state
    return params

  @abc.abstractmethod
  def encode(self, params: Params, x: jax.Array) -> jax.Array:
    """Deterministic codes ``[B, latent_dim]`` (a VAE returns its posterior mean)."""

  @abc.abstractmethod
  def decode(self, params: Params, z: jax.Array) -> jax.Array:
    """Mean reconstruction in data space ``[B, *input_shape]`` for codes ``z``."""

  def reconstruct(self, params: Params, x: jax.Array) -> jax.Array:
    return self.decode(params, self.encode(params, x))

  def sample(self, params: Params, rng: jax.Array, num: int) -> jax.Array:
    raise NotImplementedError(
        f'{type(self).__name__} has no prior to sample from; use a generative '
        "model such as 'vae'."
    )

  # Helpers shared by the concrete models.

  def output_mean(self, outputs: jax.Array) -> jax.Array:
    """Decoder outputs -> mean of the data distribution."""
    return (
        jax.nn.sigmoid(outputs) if self.likelihood == 'bernoulli' else outputs
    )

  def log_likelihood(
      self,
      outputs: jax.Array,
      x: jax.Array,
      log_variance: jax.Array | float = 0.0,
  ) -> jax.Array:
    """log p(x | decoder outputs) per example, ``[B]``."""
    if self.likelihood == 'bernoulli':
      return losses.bernoulli_log_likelihood(
          outputs, x, event_ndims=self.event_ndims
      )
    log_variance = jnp.broadcast_to(log_variance, outputs.shape)
    return losses.gaussian_log_likelihood(
        outputs, log_variance, x, event_ndims=self.event_ndims
    )

  def reconstruction_cost(self, outputs: jax.Array, x: jax.Array) -> jax.Array:
    """Per-example cost of a deterministic autoencoder, ``[B]``: binary
    cross-entropy for Bernoulli pixels, squared error summed over the event
    for Gaussian ones."""
    if self.likelihood == 'bernoulli':
      return losses.binary_cross_entropy(
          outputs, x, event_ndims=self.event_ndims
      )
    return losses.squared_error(outputs, x, event_ndims=self.event_ndims)

  def pixel_mse(self, outputs: jax.Array, x: jax.Array) -> jax.Array:
    return losses.mean_squared_error(
        self.output_mean(outputs), x, event_ndims=self.event_ndims
    )


def is_on(weight) -> bool:
  """Whether a loss term with this weight is computed: a nonzero number, or a
  traced value (a vmapped sweep, `ae_jax.train.sweep`, where some members may
  have weight 0 and get the term times 0)."""
  return isinstance(weight, jax.core.Tracer) or bool(weight)


def check_likelihood(likelihood: str) -> None:
  if likelihood not in LIKELIHOODS:
    raise ValueError(
        f'config.likelihood={likelihood!r} is not one of '
        f'{LIKELIHOODS}; set --config.likelihood to one of them.'
    )
