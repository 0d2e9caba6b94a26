"""Two-stochastic-layer VAE / IWAE (Burda, Grosse & Salakhutdinov 2015).

The architecture of Burda et al.'s two-layer models (their Section 5):

  inference   q(z1|x) q(z2|z1):  x -> hidden_sizes -> z1 -> top_hidden_sizes -> z2
  generative  p(z2) p(z1|z2) p(x|z1):  z2 -> top_hidden_sizes -> z1 -> hidden_sizes -> x

with diagonal Gaussian q(z1|x), q(z2|z1), p(z1|z2), p(z2) = N(0, I) and the
likelihood of ``config.likelihood``; the paper: hidden 200-200 and 100-100
tanh units, z1 of 100 and z2 of 50 units. The log importance weight of a
draw is ``log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log
q(z2|z1)``; the loss is the ELBO (``iwae_samples`` = 1) or the K-sample
IWAE bound, and task ``nll`` uses the same weights. ``free_bits`` > 0 trains
the ELBO with each unit's batch-mean KL floored (Kingma et al. 2016), a
remedy for a top layer whose units collapse to the prior.

``inference='ladder'`` infers top-down instead (the ladder VAE, Sonderby et
al. 2016), with the same networks and generative model:

  q(z2|x) q(z1|z2, x):  q(z2|x) = N(z1_to_z2(mu1(x))), then
  q(z1|z2, x) = N(mu1(x), s1(x)) * p(z1|z2) / Z, the precision-weighted
  product of the bottom-up estimate ``(mu1, s1)`` of ``x_to_z1`` and the
  generative prior p(z1|z2) (`gaussian_product`),

so the posterior of z1 shares p(z1|z2)'s network and depends on z2: the
remedy Sonderby et al. propose for units of the top layer that collapse.
One departure: their upward path to z2 starts from the last hidden layer
of ``x_to_z1``; here it starts from that network's mean of z1, so both
inference modes have the same parameters. (Their batch normalisation is
not used.)

`encode` gives the mean of q(z1|x) (``latent_dim`` = z1's units; ladder:
of q(z1|z2, x) at q(z2|x)'s mean) and
`decode` the mean of p(x|z1), so every task that works on codes applies to
the first stochastic layer; `sample` draws z2 ~ N(0, I), z1 ~ p(z1|z2).
"""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import networks
from ae_jax.models import vae


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(vae.WarmupConfig):
  """Hyperparameters of model='hierarchical_vae' (z1 is ``latent_dim``);
  ``kl_warmup_steps`` (the ELBO only) as Sonderby et al. (2016) train
  hierarchical VAEs."""

  top_latent_dim: int = base.hparam(50)  # z2's units.
  top_hidden_sizes: tuple[int, ...] = base.hparam((100, 100))
  iwae_samples: int = base.hparam(1)  # K: 1 = the ELBO, else IWAE.
  # Free bits (Kingma et al. 2016), nats per latent unit (0 = off; the ELBO
  # only, in training): a unit whose KL, averaged over the batch, is below
  # this counts as exactly this much and gets no gradient from the KL, so
  # the KL cannot push it to collapse. Each unit's KL is the one-sample
  # estimate log q - log p (also for z2, whose closed form is not used), and
  # a floored z1 unit also gives p(z1|z2) no gradient from that unit's KL
  # (with ladder inference p(z1|z2) is also part of q(z1|z2, x), so it
  # still learns through the reconstruction).
  free_bits: float = base.hparam(0.0)
  # 'bottom_up' (Burda et al.: q(z1|x) q(z2|z1)) or 'ladder' (Sonderby et
  # al. 2016: q(z2|x) q(z1|z2, x), sharing p(z1|z2)).
  inference: str = base.hparam('bottom_up')


INFERENCE = ('bottom_up', 'ladder')


# Draws of z1 per image behind E_q[z2 | x] (`layer_posterior_means`).
ACTIVITY_SAMPLES = 100


def _split_gaussian(h):
  return jnp.split(h, 2, axis=-1)


def gaussian_product(mean_a, log_var_a, mean_b, log_var_b):
  """``(mean, log_var)`` of ``N(a) N(b) / Z``, elementwise: precisions
  add, and the mean is the precision-weighted average of the two means
  (the ladder VAE's combination of a bottom-up estimate and a top-down
  prior, Sonderby et al. 2016, eq. 18-19)."""
  log_var = -jnp.logaddexp(-log_var_a, -log_var_b)
  weight_a = jax.nn.sigmoid(log_var_b - log_var_a)  # Precision share of a.
  return weight_a * mean_a + (1.0 - weight_a) * mean_b, log_var


class HierarchicalModule(nn.Module):
  """The four conditionals; each method takes any leading shape."""

  x_to_z1: nn.Module
  z1_to_z2: nn.Module
  z2_to_z1: nn.Module
  z1_to_x: nn.Module

  @staticmethod
  def _flat(net, v):
    out = net(v.reshape((-1, v.shape[-1])))
    return out.reshape((*v.shape[:-1], *out.shape[1:]))

  def q_z1(self, x):
    return _split_gaussian(self.x_to_z1(x))

  def q_z2(self, z1):
    return _split_gaussian(self._flat(self.z1_to_z2, z1))

  def p_z1(self, z2):
    return _split_gaussian(self._flat(self.z2_to_z1, z2))

  def decode(self, z1):
    out = self.z1_to_x(z1.reshape((-1, z1.shape[-1])))
    return out.reshape((*z1.shape[:-1], *out.shape[1:]))

  def __call__(self, x):  # Creates every parameter.
    mean, _ = self.q_z1(x)
    z2, _ = self.q_z2(mean)
    return self.decode(self.p_z1(z2)[0])


@dataclasses.dataclass(frozen=True, kw_only=True)
class HierarchicalVAE(base.Model, Config):
  """`base.Model` of the two-stochastic-layer VAE / IWAE."""

  module: HierarchicalModule

  generative = True

  def init(self, rng):
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    return self.module.init(rng, x)['params']

  def _apply(self, params, *args, method):
    return self.module.apply({'params': params}, *args, method=method)

  def init_model_state(self, rng, batch_size):
    del rng, batch_size
    return {'step': jnp.zeros((), jnp.int32)} if self.kl_warmup_steps else {}

  def train_losses(self, params, model_state, x, rng, *, labels=None):
    metrics, _ = super().train_losses(
        params, model_state, x, rng, labels=labels
    )
    if not self.kl_warmup_steps:
      return metrics, model_state
    step = model_state['step']
    metrics = vae.warmed_up(metrics, step, self.kl_warmup_steps, 1.0)
    return metrics, {'step': step + 1}

  def log_importance_weights(self, params, x, rng, num_samples):
    """``log p(x, z1, z2) - log q(z1, z2 | x)``, ``[K, B]``."""
    log_px, log_ratio = self._log_weight_terms(params, x, rng, num_samples)
    return log_px + log_ratio

  def _log_weight_terms(self, params, x, rng, num_samples, *, per_unit=False):
    """``(log p(x | z1), log p(z1, z2) - log q(z1, z2 | x))``, each
    ``[K, B]``; with ``per_unit`` also the KL estimate of every latent unit,
    ``log q - log p`` per unit of z1 then z2, ``[K, B, d1 + d2]``."""
    r1, r2 = jax.random.split(rng)
    m1, lv1 = self._apply(params, x, method='q_z1')
    expand = lambda a: jnp.broadcast_to(a, (num_samples, *a.shape))
    if self.inference == 'ladder':  # z2 ~ q(z2|x), then z1 ~ q(z1|z2, x).
      m2, lv2 = map(expand, self._apply(params, m1, method='q_z2'))
      z2 = vae.reparameterize(r2, m2, lv2)
      pm1, plv1 = self._apply(params, z2, method='p_z1')
      m1, lv1 = gaussian_product(m1, lv1, pm1, plv1)
      z1 = vae.reparameterize(r1, m1, lv1)
    else:  # z1 ~ q(z1|x), then z2 ~ q(z2|z1).
      m1, lv1 = expand(m1), expand(lv1)
      z1 = vae.reparameterize(r1, m1, lv1)
      m2, lv2 = self._apply(params, z1, method='q_z2')
      z2 = vae.reparameterize(r2, m2, lv2)
      pm1, plv1 = self._apply(params, z2, method='p_z1')
    outputs = self._apply(params, z1, method='decode')
    log_px = self.log_likelihood(outputs, jnp.broadcast_to(x, outputs.shape))
    zeros = jnp.zeros_like(z2)
    log_p = losses.gaussian_log_likelihood(
        pm1, plv1, z1
    ) + losses.gaussian_log_likelihood(zeros, zeros, z2)
    log_q = losses.gaussian_log_likelihood(
        m1, lv1, z1
    ) + losses.gaussian_log_likelihood(m2, lv2, z2)
    if not per_unit:
      return log_px, log_p - log_q
    unit = functools.partial(losses.gaussian_log_likelihood, event_ndims=0)
    kl_units = jnp.concatenate(
        [
            unit(m1, lv1, z1) - unit(pm1, plv1, z1),
            unit(m2, lv2, z2) - unit(zeros, zeros, z2),
        ],
        axis=-1,
    )
    return log_px, log_p - log_q, kl_units

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del labels
    rng = jax.random.PRNGKey(0) if rng is None else rng
    free = train and base.is_on(self.free_bits)
    terms = self._log_weight_terms(
        params, x, rng, self.iwae_samples, per_unit=free
    )
    log_px, log_ratio = terms[:2]
    bound = losses.iwae_bound(log_px + log_ratio)
    loss = -bound
    if free:  # The ELBO (K = 1) with each unit's KL floored at free_bits.
      kl_units = terms[2][0]  # [B, d1 + d2]
      above = jnp.mean(kl_units, axis=0) > self.free_bits
      loss = -log_px[0] + jnp.sum(
          jnp.where(above, kl_units, self.free_bits), axis=-1
      )
    return {
        'loss': loss,
        'neg_elbo': -jnp.mean(log_px + log_ratio, axis=0),
        # The ELBO's two terms (a one-sample KL estimate, averaged over K).
        'loss_rec': -jnp.mean(log_px, axis=0),
        'loss_kl': -jnp.mean(log_ratio, axis=0),
        'neg_iwae_bound': -bound,
        'mse': losses.mean_squared_error(
            self.reconstruct(params, x), x, event_ndims=self.event_ndims
        ),
    }

  def layer_posterior_means(self, params, x, rng):
    """``(E_q[z1 | x], E_q[z2 | x])``. Bottom-up inference: z1's is q(z1|x)'s
    mean, z2's the mean of q(z2|z1)'s means over `ACTIVITY_SAMPLES` draws
    z1 ~ q(z1|x) (Burda et al.'s activity statistic takes the expectation
    under the whole posterior). Ladder: z2's is q(z2|x)'s mean, z1's the
    mean of q(z1|z2, x)'s means over as many draws z2 ~ q(z2|x)."""
    m1, lv1 = self._apply(params, x, method='q_z1')
    if self.inference == 'ladder':
      m2, lv2 = self._apply(params, m1, method='q_z2')
      shape = (ACTIVITY_SAMPLES, *m2.shape)
      z2 = vae.reparameterize(
          rng, jnp.broadcast_to(m2, shape), jnp.broadcast_to(lv2, shape)
      )
      means, _ = gaussian_product(
          m1, lv1, *self._apply(params, z2, method='p_z1')
      )
      return jnp.mean(means, axis=0), m2
    shape = (ACTIVITY_SAMPLES, *m1.shape)
    z1 = vae.reparameterize(
        rng, jnp.broadcast_to(m1, shape), jnp.broadcast_to(lv1, shape)
    )
    m2, _ = self._apply(params, z1, method='q_z2')
    return m1, jnp.mean(m2, axis=0)

  def encode(self, params, x):
    """The mean of q(z1 | x); ladder: of q(z1 | z2, x) at z2 = q(z2|x)'s
    mean, one deterministic code (`layer_posterior_means` averages over
    draws of z2 instead, as the activity statistic asks)."""
    m1, lv1 = self._apply(params, x, method='q_z1')
    if self.inference != 'ladder':
      return m1
    m2, _ = self._apply(params, m1, method='q_z2')
    return gaussian_product(m1, lv1, *self._apply(params, m2, method='p_z1'))[0]

  def decode(self, params, z):
    return self.output_mean(self._apply(params, z, method='decode'))

  def sample(self, params, rng, num):
    r2, r1 = jax.random.split(rng)
    z2 = jax.random.normal(r2, (num, self.top_latent_dim))
    z1 = vae.reparameterize(r1, *self._apply(params, z2, method='p_z1'))
    return self.decode(params, z1)


def build(config, data: base.DataSpec) -> HierarchicalVAE:
  """The 'hierarchical_vae' entry of the model registry."""
  base.check_likelihood(config.likelihood)
  if config.likelihood != 'bernoulli':
    raise ValueError(
        "model='hierarchical_vae' has a Bernoulli decoder only; set "
        '--config.likelihood=bernoulli.'
    )
  if config.encoder != 'mlp':
    raise ValueError(
        "model='hierarchical_vae' is built of MLPs (Burda et al.'s "
        'architecture); set --config.encoder=mlp.'
    )
  hp = base.hparams(config, Config)
  sizes = tuple(hp.top_hidden_sizes)
  if not all(isinstance(s, int) and s >= 1 for s in sizes):
    raise ValueError(
        f'config.top_hidden_sizes={sizes} must be positive integers, e.g. '
        '--config.top_hidden_sizes="(100, 100)".'
    )
  for field in ('top_latent_dim', 'iwae_samples'):
    value = getattr(hp, field)
    if not (isinstance(value, int) and value >= 1):
      raise ValueError(f'config.{field}={value!r} must be a positive integer.')
  vae.check_warmup(hp.kl_warmup_steps)
  if hp.inference not in INFERENCE:
    raise ValueError(
        f'config.inference={hp.inference!r} is not one of {INFERENCE}: '
        "'bottom_up' (Burda et al.) or 'ladder' (Sonderby et al.)."
    )
  if not hp.free_bits >= 0:
    raise ValueError(
        f'config.free_bits={hp.free_bits} must be >= 0 (nats per latent '
        'unit; 0 turns free bits off).'
    )
  if hp.free_bits and (hp.iwae_samples > 1 or hp.kl_warmup_steps):
    raise ValueError(
        f'config.free_bits={hp.free_bits} floors the KL term of the ELBO, '
        'which neither the IWAE bound nor a KL warm-up keeps as is; set '
        '--config.iwae_samples=1 and --config.kl_warmup_steps=0, or '
        '--config.free_bits=0.'
    )
  if hp.kl_warmup_steps and hp.iwae_samples > 1:
    raise ValueError(
        'config.kl_warmup_steps weights the KL term of the ELBO, which the '
        f'IWAE bound (iwae_samples={hp.iwae_samples}) does not have; set '
        '--config.iwae_samples=1 or --config.kl_warmup_steps=0.'
    )
  kw = dict(
      activation=config.activation,
      init_scheme=config.init,
      dtype=networks.compute_dtype(config),
  )
  d1, d2 = config.latent_dim, hp.top_latent_dim
  hidden = tuple(config.hidden_sizes)
  module = HierarchicalModule(
      x_to_z1=networks.MLPEncoder(hidden, 2 * d1, **kw),
      z1_to_z2=networks.MLPEncoder(sizes, 2 * d2, **kw),
      z2_to_z1=networks.MLPEncoder(sizes[::-1], 2 * d1, **kw),
      z1_to_x=networks.MLPDecoder(hidden[::-1], tuple(data.input_shape), **kw),
  )
  return HierarchicalVAE(
      input_shape=tuple(data.input_shape),
      latent_dim=d1,
      likelihood=config.likelihood,
      module=module,
      top_latent_dim=d2,
      top_hidden_sizes=sizes,
      iwae_samples=hp.iwae_samples,
      kl_warmup_steps=hp.kl_warmup_steps,
      free_bits=float(hp.free_bits),
      inference=hp.inference,
  )
