"""VAE with a normalizing-flow posterior: planar, radial or IAF steps.

The encoder's diagonal Gaussian q_0(z|x) is pushed through K invertible
steps (`ae_jax.flows`), so the posterior can be skewed, curved or
multi-modal while its density stays exact:

  z_K = f_K o ... o f_1(z_0),  log q_K(z_K|x) = log q_0(z_0|x) - sum_k log|det df_k/dz|.

* ``flow='planar'`` / ``'radial'`` (Rezende & Mohamed 2015, "Variational
  Inference with Normalizing Flows", ICML): each step's parameters are
  amortised, i.e. extra outputs of the encoder's last layer (2D + 1 per
  planar step, D + 2 per radial step).
* ``flow='iaf'`` (Kingma et al. 2016, "Improved Variational Inference with
  Inverse Autoregressive Flow", NeurIPS): the encoder also outputs a context
  h (``flow_hidden`` units); each step is a MADE network (one masked hidden
  layer of ``flow_hidden`` ELUs plus h) giving m and s, the update is
  ``sigmoid(s) * z + (1 - sigmoid(s)) * m``, and the order of the units is
  reversed between steps. s starts near +2 (the paper's forget-gate bias),
  so every step starts close to the identity.

The loss is the one-sample negative ELBO ``-log p(x|z_K) + beta * (log
q_K(z_K|x) - log p(z_K))``; the importance-sampled log-likelihood (task
``nll``) uses q_K as its proposal. The code of `encode` is the flow applied
to the posterior mean.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ae_jax import flows
from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import networks
from ae_jax.models import vae

FLOWS = ('planar', 'radial', 'iaf')


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of model='flow_vae'."""

  beta: float = base.hparam(1.0, traced=True)  # KL weight (1 = the ELBO).
  flow: str = base.hparam('planar')  # 'planar' | 'radial' | 'iaf'.
  flow_length: int = base.hparam(10)  # K steps.
  flow_hidden: int = base.hparam(256)  # IAF: MADE width and context size.


class MADE(nn.Module):
  """``(z [..., D], context [..., H]) -> (m, s)``, each unit i of m and s a
  function of the units before it in the order (reversed if ``reverse``)."""

  dim: int
  hidden: int
  reverse: bool = False

  @nn.compact
  def __call__(self, z, context):
    order = np.arange(1, self.dim + 1)
    if self.reverse:
      order = order[::-1]
    degrees = np.arange(self.hidden) % max(self.dim - 1, 1) + 1
    mask_in = jnp.asarray(degrees[None, :] >= order[:, None], z.dtype)
    mask_out = jnp.asarray(order[None, :] > degrees[:, None], z.dtype)
    w_in = self.param(
        'w_in', nn.initializers.lecun_normal(), (self.dim, self.hidden)
    )
    h = z @ (w_in * mask_in) + nn.Dense(self.hidden, name='context')(context)
    h = nn.elu(h)
    out = {}
    for name, bias in (('m', 0.0), ('s', 2.0)):
      w = self.param(
          f'w_{name}',
          nn.initializers.variance_scaling(0.01, 'fan_in', 'normal'),
          (self.hidden, self.dim),
      )
      b = self.param(f'b_{name}', nn.initializers.constant(bias), (self.dim,))
      out[name] = h @ (w * mask_out) + b
    return out['m'], out['s']


class FlowVAEModule(vae.VAEModule):
  """`vae.VAEModule` whose encoder also outputs the flow's inputs."""

  flow: str = 'planar'
  flow_length: int = 10
  flow_hidden: int = 256

  def setup(self):
    super().setup()
    if self.flow == 'iaf':
      self.made = [
          MADE(self.latent_dim, self.flow_hidden, reverse=k % 2 == 1)
          for k in range(self.flow_length)
      ]

  def encode_all(self, x):
    """``(mean, log_variance, flow inputs)`` of the encoder's one pass."""
    h = self.encoder(x)
    d = self.latent_dim
    return h[..., :d], h[..., d : 2 * d], h[..., 2 * d :]

  def encode(self, x):
    mean, log_variance, _ = self.encode_all(x)
    return mean, log_variance

  def transform(self, z, extra):
    """``(z_K, sum of log|det|)`` for ``z [..., B, D]`` and the encoder's
    flow inputs ``extra [B, E]``."""
    d, k = self.latent_dim, self.flow_length
    extra = jnp.broadcast_to(extra, (*z.shape[:-1], extra.shape[-1]))
    log_det = jnp.zeros(z.shape[:-1], z.dtype)
    if self.flow == 'planar':
      steps = extra.reshape((*z.shape[:-1], k, 2 * d + 1))
      for i in range(k):
        p = steps[..., i, :]
        z, ld = flows.planar(z, p[..., :d], p[..., d : 2 * d], p[..., -1])
        log_det += ld
    elif self.flow == 'radial':
      steps = extra.reshape((*z.shape[:-1], k, d + 2))
      for i in range(k):
        p = steps[..., i, :]
        z, ld = flows.radial(z, p[..., :d], p[..., d], p[..., d + 1])
        log_det += ld
    else:
      for made in self.made:
        m, s = made(z, extra)
        z, ld = flows.iaf_step(z, m, s)
        log_det += ld
    return z, log_det

  def __call__(self, x, rng):
    mean, log_variance, extra = self.encode_all(x)
    z0 = vae.reparameterize(rng, mean, log_variance)
    z, log_det = self.transform(z0, extra)
    log_q = losses.gaussian_log_likelihood(mean, log_variance, z0) - log_det
    return self.decode(z), z, log_q, self.decoder_log_variance()


def extra_outputs(flow: str, latent_dim: int, length: int, hidden: int) -> int:
  """How many numbers the encoder adds for the flow."""
  per_step = {'planar': 2 * latent_dim + 1, 'radial': latent_dim + 2}
  return hidden if flow == 'iaf' else length * per_step[flow]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlowVAE(vae.VariationalAutoencoder):
  """`vae.VariationalAutoencoder` with the flow posterior q_K."""

  module: FlowVAEModule
  analytic_kl = False  # q_K is not the encoder's Gaussian.

  def init(self, rng):
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    return self.module.init(rng, x, jax.random.PRNGKey(0))['params']

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train, labels
    outputs, z, log_q, out_log_var = self.module.apply(
        {'params': params}, x, rng
    )
    log_px = self.log_likelihood(outputs, x, out_log_var)
    kl = log_q - self.log_prior(params, z)  # One-sample estimate.
    return self.sampled_elbo_metrics(outputs, x, log_px, kl)

  def _posterior_draws(self, params, x, rng, num_samples):
    """``(z_K [K, B, D], log q_K)``: K draws of the flow, its density
    traced with them (as `log_importance_weights` always did here)."""
    apply = lambda *a, method: self.module.apply(
        {'params': params}, *a, method=method
    )
    mean, log_var, extra = apply(x, method='encode_all')
    eps = jax.random.normal(rng, (num_samples, *mean.shape), mean.dtype)
    z0 = mean + jnp.exp(0.5 * log_var) * eps
    z, log_det = apply(z0, extra, method='transform')
    log_q = (
        losses.gaussian_log_likelihood(
            jnp.broadcast_to(mean, z0.shape),
            jnp.broadcast_to(log_var, z0.shape),
            z0,
        )
        - log_det
    )
    return z, lambda: log_q

  def encode(self, params, x):
    """The flow applied to the posterior mean, ``[B, latent_dim]``."""
    mean, _, extra = self.module.apply(
        {'params': params}, x, method='encode_all'
    )
    return self.module.apply(
        {'params': params}, mean, extra, method='transform'
    )[0]


def build(config, data: base.DataSpec) -> FlowVAE:
  """The 'flow_vae' entry of the model registry."""
  hp = base.hparams(config, Config)  # beta is checked by vae.build.
  if hp.flow not in FLOWS:
    raise ValueError(
        f'Unknown flow {hp.flow!r}; set --config.flow to one of {FLOWS}.'
    )
  for field in ('flow_length', 'flow_hidden'):
    value = getattr(hp, field)
    if not (isinstance(value, int) and value >= 1):
      raise ValueError(f'config.{field}={value!r} must be a positive integer.')
  model = vae.build(config, data)  # The VAE's network and checks.
  d = config.latent_dim
  extra = extra_outputs(hp.flow, d, hp.flow_length, hp.flow_hidden)
  module = FlowVAEModule(
      **{
          **vae.network_fields(model.module),
          'encoder': networks.make_encoder(
              config, data.input_shape, 2 * d + extra
          ),
      },
      flow=hp.flow,
      flow_length=hp.flow_length,
      flow_hidden=hp.flow_hidden,
  )
  return vae.extend(model, FlowVAE, module=module)
