"""Variational autoencoder with a diagonal-Gaussian encoder and a N(0, I) prior.

Kingma & Welling (2014), "Auto-Encoding Variational Bayes", ICLR. The loss is
the negative ELBO, ``-E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I))``, with
one reparameterised sample of z per example; beta = 1 is the VAE, other values
give the beta-VAE of Higgins et al. (2017).

With likelihood='gaussian' the decoder outputs means and the model learns one
shared log-variance for every pixel (a parameter of the module), or one per
feature with ``output_variance='per_feature'`` (tabular data, whose columns
have their own noise levels).

Variants of the objective, by config field:
* ``capacity_max > 0``: the capacity-annealed beta-VAE of Burgess et al.
  (2018), ``-E_q[log p(x|z)] + gamma * |KL - C(step)|`` with C rising
  linearly from 0 to ``capacity_max`` nats over ``capacity_steps`` (the step
  is carried in the model state);
* ``mmd_weight > 0``: InfoVAE (Zhao et al. 2017) adds ``mmd_weight`` times
  the MMD between the batch's posterior samples and as many prior samples;
  ``beta = 0`` with it is the MMD-VAE (alpha = 1 in the paper's terms);
* ``iwae_samples = K > 1`` (registry name 'iwae'): the IWAE bound;
* ``kl_warmup_steps = T > 0``: the KL term's weight rises linearly from 1/T
  to beta over the first T training steps (the "warm-up" of Bowman et al.
  2016 and Sonderby et al. 2016, used by the VampPrior paper); evaluation
  always measures the full objective.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import networks

MMD_KERNELS = ('imq', 'rbf')
OUTPUT_VARIANCES = ('shared', 'per_feature')


def reparameterize(
    rng: jax.Array, mean: jax.Array, log_variance: jax.Array
) -> jax.Array:
  """A sample of N(mean, exp(log_variance)) that is differentiable in both."""
  eps = jax.random.normal(rng, mean.shape, mean.dtype)
  return mean + jnp.exp(0.5 * log_variance) * eps


class VAEModule(nn.Module):
  """Encoder producing ``2 * latent_dim`` numbers (mean, log-variance) and a decoder."""

  encoder: nn.Module
  decoder: nn.Module
  latent_dim: int
  learn_output_variance: bool = False
  # Shape of the learned log-variance: () shared, or the input's shape.
  output_variance_shape: tuple[int, ...] = ()

  def setup(self):
    if self.learn_output_variance:
      self.output_log_variance = self.param(
          'output_log_variance',
          nn.initializers.zeros,
          self.output_variance_shape,
      )

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = self.encoder(x)
    mean, log_variance = jnp.split(h, 2, axis=-1)
    return mean, log_variance

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)

  def decoder_log_variance(self) -> jax.Array:
    return (
        self.output_log_variance
        if self.learn_output_variance
        else jnp.zeros(())
    )

  def __call__(self, x: jax.Array, rng: jax.Array):
    mean, log_variance = self.encode(x)
    z = reparameterize(rng, mean, log_variance)
    return self.decode(z), z, mean, log_variance, self.decoder_log_variance()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ELBOConfig:
  """The weights of the (beta-)ELBO and of InfoVAE's MMD term."""

  beta: float = base.hparam(1.0, traced=True)  # KL weight (1 = the ELBO).
  # InfoVAE: weight of MMD(q(z), p(z)), and its kernel ('imq' | 'rbf').
  mmd_weight: float = base.hparam(0.0, traced=True)
  mmd_kernel: str = base.hparam('imq')


@dataclasses.dataclass(frozen=True, kw_only=True)
class WarmupConfig:
  """The KL warm-up of models trained on an ELBO."""

  # Training steps over which the KL weight rises linearly to beta (0: off).
  kl_warmup_steps: int = base.hparam(0)


def kl_warmup_weight(step: jax.Array, warmup_steps: int) -> jax.Array:
  """The KL weight's fraction of beta at ``step`` (0-based): ``(step + 1)
  / warmup_steps``, 1 from step ``warmup_steps - 1`` on."""
  return jnp.minimum(1.0, (step + 1).astype(jnp.float32) / warmup_steps)


def warmed_up(metrics: dict, step: jax.Array, warmup_steps: int, beta) -> dict:
  """``metrics`` of a loss ``loss_rec + beta * loss_kl (+ other terms)``
  with the KL weighted by `kl_warmup_weight` instead; ``kl_weight`` logs
  the weight in use."""
  w = kl_warmup_weight(step, warmup_steps)
  out = dict(metrics)
  out['loss'] = metrics['loss'] - (1.0 - w) * beta * metrics['loss_kl']
  out['kl_weight'] = jnp.broadcast_to(w * beta, metrics['loss'].shape)
  return out


def check_warmup(steps) -> None:
  if not (
      isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0
  ):
    raise ValueError(
        f'config.kl_warmup_steps={steps!r} must be an integer >= 0 (0 turns '
        'the warm-up off).'
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ELBOConfig, WarmupConfig):
  """Hyperparameters of model='vae': beta-VAE, InfoVAE, capacity annealing,
  KL warm-up."""

  # Capacity-annealed beta-VAE (Burgess et al. 2018): target KL in nats
  # (0 = off), the steps over which it rises there, and the weight of
  # |KL - capacity|.
  capacity_max: float = base.hparam(0.0)
  capacity_steps: int = base.hparam(10000)
  capacity_gamma: float = base.hparam(1000.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class IWAEConfig:
  """Hyperparameters of model='iwae' (Burda et al. 2015)."""

  iwae_samples: int = base.hparam(1)  # K importance samples (>= 2).


@dataclasses.dataclass(frozen=True, kw_only=True)
class VariationalAutoencoder(base.Model, Config):
  """`base.Model` for `VAEModule`; its hyperparameters are `Config`'s."""

  module: VAEModule
  # K > 1: the IWAE objective of Burda et al. (2015) with K importance
  # samples instead of the ELBO (registry name 'iwae').
  num_samples: int = 1

  generative = True
  # The posterior is the encoder's Gaussian and the prior N(0, I), so the
  # KL has a closed form per dimension (task ``latent``); a learned prior
  # (`vampprior`) or a flow posterior (`flow_vae`) sets False.
  analytic_kl = True

  def init(self, rng):
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    return self.module.init(rng, x, jax.random.PRNGKey(0))['params']

  def init_model_state(self, rng, batch_size):
    del rng, batch_size
    # The capacity schedule and the KL warm-up need the step count.
    scheduled = self.capacity_max or self.kl_warmup_steps
    return {'step': jnp.zeros((), jnp.int32)} if scheduled else {}

  def train_losses(self, params, model_state, x, rng, *, labels=None):
    if self.kl_warmup_steps:
      metrics, _ = super().train_losses(
          params, model_state, x, rng, labels=labels
      )
      step = model_state['step']
      metrics = warmed_up(metrics, step, self.kl_warmup_steps, self.beta)
      return metrics, {'step': step + 1}
    if not self.capacity_max:
      return super().train_losses(params, model_state, x, rng, labels=labels)
    capacity = losses.capacity_schedule(
        model_state['step'],
        max_capacity=self.capacity_max,
        num_steps=self.capacity_steps,
    )
    metrics, _ = self._elbo_losses(params, x, rng, capacity)
    return metrics, {'step': model_state['step'] + 1}

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train, labels
    if self.num_samples > 1:
      log_w = self.log_importance_weights(params, x, rng, self.num_samples)
      bound = losses.iwae_bound(log_w)
      return {
          'loss': -bound,
          'neg_iwae_bound': -bound,
          'neg_elbo': -jnp.mean(log_w, axis=0),
          'mse': losses.mean_squared_error(
              self.reconstruct(params, x), x, event_ndims=self.event_ndims
          ),
      }
    # Evaluation measures the capacity objective at its final target.
    return self._elbo_losses(params, x, rng, self.capacity_max)[0]

  def _elbo_losses(self, params, x, rng, capacity):
    """``(per-example metrics, the sampled codes z that were decoded)``."""
    outputs, z, mean, log_var, out_log_var = self.module.apply(
        {'params': params}, x, rng
    )
    terms = losses.elbo(
        self.log_likelihood(outputs, x, out_log_var),
        losses.standard_normal_kl(mean, log_var),
        beta=self.beta,
    )
    neg_elbo = terms.kl - terms.log_likelihood
    metrics = {
        'neg_elbo': neg_elbo,
        'loss_rec': -terms.log_likelihood,
        'loss_kl': terms.kl,
        'mse': self.pixel_mse(outputs, x),
    }
    loss = -terms.elbo
    if self.capacity_max:
      loss = -terms.log_likelihood + losses.capacity_kl(
          terms.kl, capacity=capacity, gamma=self.capacity_gamma
      )
      metrics['capacity'] = jnp.broadcast_to(capacity, neg_elbo.shape)
    if base.is_on(self.mmd_weight):
      # The decoded codes against as many prior samples.
      prior_z = jax.random.normal(jax.random.fold_in(rng, 1), z.shape)
      mmd = losses.mmd(z, prior_z, kernel=self.mmd_kernel)
      metrics['loss_mmd'] = jnp.broadcast_to(mmd, neg_elbo.shape)
      loss = loss + self.mmd_weight * metrics['loss_mmd']
    metrics['loss'] = loss
    return metrics, z

  def sampled_elbo_metrics(self, outputs, x, log_px, kl) -> dict:
    """Metrics of a one-sample ELBO whose KL is estimated (a learned prior,
    a flow posterior): ``kl = log q(z|x) - log p(z)`` at the decoded z."""
    return {
        'loss': -log_px + self.beta * kl,
        'neg_elbo': kl - log_px,
        'loss_rec': -log_px,
        'loss_kl': kl,
        'mse': self.pixel_mse(outputs, x),
    }

  def log_importance_weights(
      self, params, x: jax.Array, rng: jax.Array, num_samples: int
  ) -> jax.Array:
    """``log p(x, z_k) - log q(z_k | x)`` for K = ``num_samples`` draws, ``[K, B]``.

    The ingredients of the IWAE bound (`losses.iwae_bound`) and of the
    importance-sampled log-likelihood (`ae_jax.metrics.likelihood`).
    """
    z, log_q = self._posterior_draws(params, x, rng, num_samples)
    flat = z.reshape((-1, self.latent_dim))
    outputs = self.module.apply({'params': params}, flat, method='decode')
    outputs = outputs.reshape((num_samples, *x.shape))
    out_log_var = self.module.apply(
        {'params': params}, method='decoder_log_variance'
    )
    log_px = self.log_likelihood(
        outputs, jnp.broadcast_to(x, outputs.shape), out_log_var
    )
    log_pz = self.log_prior(params, z)
    log_qz = log_q()
    return log_px + log_pz - log_qz

  def sample_posterior(
      self, params, x: jax.Array, rng: jax.Array, num_samples: int
  ) -> tuple[jax.Array, jax.Array]:
    """``(z [K, B, D], log q(z | x) [K, B])`` for K = ``num_samples`` draws
    of the posterior: the encoder's Gaussian here, a flow's q_K in
    `flow_vae`."""
    z, log_q = self._posterior_draws(params, x, rng, num_samples)
    return z, log_q()

  def _posterior_draws(self, params, x, rng, num_samples):
    """``(z, log_q)``: `sample_posterior` with ``log_q()`` traced when
    called. `log_importance_weights` calls it after the decoder, where it
    always traced the Gaussian's density: JAX sums the gradients of a value
    used twice in trace order, so the parameters of IWAE runs stay bitwise
    those of earlier versions."""
    mean, log_var = self.encode_distribution(params, x)
    eps = jax.random.normal(rng, (num_samples, *mean.shape), mean.dtype)
    z = mean + jnp.exp(0.5 * log_var) * eps  # [K, B, D]
    return z, lambda: losses.gaussian_log_likelihood(
        jnp.broadcast_to(mean, z.shape), jnp.broadcast_to(log_var, z.shape), z
    )

  def log_prior(self, params, z: jax.Array) -> jax.Array:
    """``log p(z)``, ``[...]`` for codes ``[..., latent_dim]``: N(0, I) here;
    a learned prior (`vampprior`) overrides it and `sample_prior`."""
    del params
    zeros = jnp.zeros_like(z)
    return losses.gaussian_log_likelihood(zeros, zeros, z)

  def sample_prior(self, params, rng: jax.Array, num: int) -> jax.Array:
    """``num`` codes drawn from the prior, ``[num, latent_dim]``."""
    del params
    return jax.random.normal(rng, (num, self.latent_dim))

  def encode_distribution(self, params, x):
    """Posterior parameters ``(mean, log_variance)``, each ``[B, latent_dim]``."""
    return self.module.apply({'params': params}, x, method='encode')

  def encode(self, params, x):
    return self.encode_distribution(params, x)[0]

  def decode(self, params, z):
    outputs = self.module.apply({'params': params}, z, method='decode')
    return self.output_mean(outputs)

  def sample(self, params, rng, num):
    """Means of p(x|z) for ``num`` codes drawn from the prior."""
    return self.decode(params, self.sample_prior(params, rng, num))


def network_fields(module: VAEModule) -> dict:
  """The fields of a `VAEModule` that a subclass (FactorVAE's, VampPrior's)
  takes over to keep the VAE's network."""
  return {
      name: getattr(module, name)
      for name in (
          'encoder',
          'decoder',
          'latent_dim',
          'learn_output_variance',
          'output_variance_shape',
      )
  }


def extend(model: VariationalAutoencoder, cls: type, **changes):
  """``cls`` (a subclass of `VariationalAutoencoder`) with every field of
  ``model`` (the network and objective `build` made and checked), and
  ``changes`` (a new module, the subclass's own hyperparameters)."""
  fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
  return cls(**{**fields, **changes})


def check_mmd_kernel(kernel: str) -> None:
  """``config.mmd_kernel`` is one `losses.mmd` knows (InfoVAE, WAE)."""
  if kernel not in MMD_KERNELS:
    raise ValueError(
        f'config.mmd_kernel={kernel!r} is not one of {MMD_KERNELS}; set '
        '--config.mmd_kernel to one of them.'
    )


def build_iwae(config, data: base.DataSpec) -> VariationalAutoencoder:
  """The 'iwae' entry: the VAE network trained on the K-sample IWAE bound."""
  k = config.iwae_samples
  if not (isinstance(k, int) and k >= 2):
    raise ValueError(
        f'config.iwae_samples={k!r} must be an integer >= 2 for the IWAE '
        'bound (k = 1 is the ELBO: use --config.model=vae).'
    )
  return dataclasses.replace(build(config, data), num_samples=k)


def build(config, data: base.DataSpec) -> VariationalAutoencoder:
  """The 'vae' entry of the model registry (and the network of 'iwae' and
  'factor_vae', whose configs lack some of `Config`'s fields: those keep
  their declared defaults)."""
  input_shape = data.input_shape
  base.check_likelihood(config.likelihood)
  hp = base.hparams(config, Config)
  if not hp.beta >= 0:
    raise ValueError(
        f'config.beta={hp.beta} must be >= 0 (beta = 1 is the '
        'VAE ELBO); set --config.beta to a non-negative number.'
    )
  check_mmd_kernel(hp.mmd_kernel)
  output_variance = config.get('output_variance', 'shared')
  if output_variance not in OUTPUT_VARIANCES:
    raise ValueError(
        f'config.output_variance={output_variance!r} is not one of '
        f'{OUTPUT_VARIANCES}; set --config.output_variance to one of them.'
    )
  for field in ('mmd_weight', 'capacity_max', 'capacity_gamma'):
    if not getattr(hp, field) >= 0:
      raise ValueError(
          f'config.{field}={getattr(hp, field)} must be >= 0 (0 turns it off).'
      )
  warmup = hp.kl_warmup_steps
  check_warmup(warmup)
  if warmup and hp.capacity_max:
    raise ValueError(
        'config.kl_warmup_steps and config.capacity_max both schedule the '
        'KL term; set one of them to 0.'
    )
  if not (isinstance(hp.capacity_steps, int) and hp.capacity_steps >= 1):
    raise ValueError(
        f'config.capacity_steps={hp.capacity_steps!r} must be a positive '
        'integer (steps over which the KL capacity rises to capacity_max).'
    )
  module = VAEModule(
      encoder=networks.make_encoder(config, input_shape, 2 * config.latent_dim),
      decoder=networks.make_decoder(config, input_shape),
      latent_dim=config.latent_dim,
      learn_output_variance=config.likelihood == 'gaussian',
      output_variance_shape=(
          tuple(input_shape) if output_variance == 'per_feature' else ()
      ),
  )
  return VariationalAutoencoder(
      input_shape=tuple(input_shape),
      latent_dim=config.latent_dim,
      likelihood=config.likelihood,
      module=module,
      beta=float(hp.beta),
      mmd_weight=float(hp.mmd_weight),
      mmd_kernel=hp.mmd_kernel,
      capacity_max=float(hp.capacity_max),
      capacity_steps=int(hp.capacity_steps),
      capacity_gamma=float(hp.capacity_gamma),
      kl_warmup_steps=int(warmup),
  )
