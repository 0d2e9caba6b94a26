"""Restricted Boltzmann machines trained by contrastive divergence.

An RBM with visible units ``v`` ``[V]`` and hidden units ``h`` ``[H]`` has the
energy

    E(v, h) = E_v(v) + E_h(h) - v W h

with a visible term ``E_v(v) = -b.v`` (Bernoulli units) or ``||v - b||^2 / 2``
(Gaussian units of unit variance) and a hidden term ``E_h(h) = -c.h``
(Bernoulli) or ``||h||^2 / 2 - c.h`` (Gaussian, unit variance; the linear
hidden units of the top RBM of Hinton & Salakhutdinov 2006). The conditionals
factorise: ``p(h_j = 1 | v) = sigmoid(c_j + (v W)_j)`` or ``h | v ~ N(c + v W,
I)``, and likewise for ``v | h`` with ``b + W h``.

With both unit types Gaussian the model is itself a Gaussian, normalisable
only while every singular value of ``W`` is below 1; Gibbs chains diverge
otherwise, so prefer Bernoulli units on at least one side.

Training follows the gradient of the log-likelihood, whose intractable
negative phase is estimated from samples ``v_model`` of a Gibbs chain: started
at the data and run k steps (CD-k, Hinton 2002, "Training products of experts
by minimizing contrastive divergence") or carried across parameter updates
(persistent CD, Tieleman 2008, "Training restricted Boltzmann machines using
approximations to the likelihood gradient"). `contrastive_divergence_loss` is
a surrogate whose gradient is that estimate, so any optax optimiser applies.
Initialisation and unit types follow Hinton (2010), "A practical guide to
training restricted Boltzmann machines".

The functions are pure and Flax-free; ``params`` is a dict ``{'kernel': [V,
H], 'visible_bias': [V], 'hidden_bias': [H]}``. Visible arrays are ``[B, V]``
(any leading shape works; the last axis holds the units) and every
per-example output is ``[B]``: nothing is reduced over the batch. `RBM` wraps
them as a `base.Model` for the trainer.
"""

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ae_jax.models import base

Params = dict[str, jax.Array]

UNIT_TYPES = ('bernoulli', 'gaussian')

# Gibbs steps `RBM.sample` runs from random visibles.
SAMPLE_GIBBS_STEPS = 1000


# ---------------------------------------------------------------------------
# Trace-time checks.
# ---------------------------------------------------------------------------


def _check_unit_type(fn_name: str, name: str, unit_type: str) -> None:
  if unit_type not in UNIT_TYPES:
    raise ValueError(
        f'{fn_name}: {name}={unit_type!r} is not one of {UNIT_TYPES}.'
    )


def _check_units(
    fn_name: str, params: Params, name: str, x: jax.typing.ArrayLike, axis: int
) -> jax.Array:
  """Checks ``params`` and that ``x`` has ``kernel.shape[axis]`` units.

  Returns ``x`` as an array cast to the kernel's dtype (binary data may come
  as bool or uint8).
  """
  kernel = params['kernel']
  if kernel.ndim != 2:
    raise ValueError(
        f'{fn_name}: params["kernel"] must be [V, H], got shape {kernel.shape}.'
    )
  num_visible, num_hidden = kernel.shape
  for key, size in (('visible_bias', num_visible), ('hidden_bias', num_hidden)):
    if params[key].shape != (size,):
      raise ValueError(
          f'{fn_name}: params["{key}"] shape {params[key].shape} != '
          f'({size},) for a kernel of shape {kernel.shape}.'
      )
  x = jnp.asarray(x)
  if not (
      jnp.issubdtype(x.dtype, jnp.floating)
      or jnp.issubdtype(x.dtype, jnp.integer)
      or jnp.issubdtype(x.dtype, jnp.bool_)
  ):
    raise TypeError(f'{fn_name}: {name} must have a real dtype, got {x.dtype}.')
  units = kernel.shape[axis]
  if x.ndim < 1 or x.shape[-1] != units:
    raise ValueError(
        f'{fn_name}: {name} shape {x.shape} must end in {units} units to '
        f'match params["kernel"] of shape {kernel.shape}; flatten each '
        'example first.'
    )
  return x.astype(kernel.dtype)


def _check_steps(fn_name: str, steps: Any) -> None:
  is_int = isinstance(steps, (int, np.integer)) and not isinstance(
      steps, (bool, np.bool_)
  )
  if not is_int or steps < 0:
    raise ValueError(
        f'{fn_name}: steps must be a static int >= 0, got {steps!r}; close '
        'over it or mark it static under jit.'
    )


# ---------------------------------------------------------------------------
# Energies and conditionals.
# ---------------------------------------------------------------------------


def init_params(
    rng: jax.Array, num_visible: int, num_hidden: int, dtype=jnp.float32
) -> Params:
  """``W ~ N(0, 0.01^2)`` and zero biases (Hinton 2010, section 8)."""
  return {
      'kernel': 0.01 * jax.random.normal(rng, (num_visible, num_hidden), dtype),
      'visible_bias': jnp.zeros((num_visible,), dtype),
      'hidden_bias': jnp.zeros((num_hidden,), dtype),
  }


def _hidden_input(params: Params, v: jax.Array) -> jax.Array:
  return params['hidden_bias'] + v @ params['kernel']


def _visible_input(params: Params, h: jax.Array) -> jax.Array:
  return params['visible_bias'] + h @ params['kernel'].T


def free_energy(
    params: Params,
    v: jax.typing.ArrayLike,
    *,
    visible: str = 'bernoulli',
    hidden: str = 'bernoulli',
) -> jax.Array:
  """``F(v) = -log sum_h exp(-E(v, h))``, so that ``p(v) = exp(-F(v)) / Z``.

  ``F(v) = E_v(v) - sum_j softplus(c_j + (v W)_j)`` for Bernoulli hidden
  units. For Gaussian hidden units the integral over ``h`` gives ``F(v) =
  E_v(v) - ||c + v W||^2 / 2`` *up to the additive constant* ``-(H / 2) log(2
  pi)``, which is left out: it depends on neither ``v`` nor the parameters,
  so it cancels in conditionals, in `contrastive_divergence_loss` and in
  `pseudo_log_likelihood`.

  Args:
    params: RBM parameters, kernel ``[V, H]``.
    v: visible states ``[B, V]`` (any real dtype).
    visible: 'bernoulli' (``E_v = -b.v``) or 'gaussian' (``||v - b||^2 / 2``).
    hidden: 'bernoulli' or 'gaussian'.

  Returns:
    ``[B]`` free energies.
  """
  _check_unit_type('free_energy', 'visible', visible)
  _check_unit_type('free_energy', 'hidden', hidden)
  v = _check_units('free_energy', params, 'v', v, axis=0)
  if visible == 'bernoulli':
    visible_term = -v @ params['visible_bias']
  else:
    visible_term = 0.5 * jnp.sum((v - params['visible_bias']) ** 2, axis=-1)
  x = _hidden_input(params, v)
  if hidden == 'bernoulli':
    hidden_term = -jnp.sum(jax.nn.softplus(x), axis=-1)
  else:
    hidden_term = -0.5 * jnp.sum(x**2, axis=-1)
  return visible_term + hidden_term


def hidden_mean(
    params: Params, v: jax.typing.ArrayLike, *, hidden: str = 'bernoulli'
) -> jax.Array:
  """``E[h | v]`` ``[B, H]``: ``sigmoid(c + v W)`` or ``c + v W``."""
  _check_unit_type('hidden_mean', 'hidden', hidden)
  v = _check_units('hidden_mean', params, 'v', v, axis=0)
  x = _hidden_input(params, v)
  return jax.nn.sigmoid(x) if hidden == 'bernoulli' else x


def visible_mean(
    params: Params, h: jax.typing.ArrayLike, *, visible: str = 'bernoulli'
) -> jax.Array:
  """``E[v | h]`` ``[B, V]``: ``sigmoid(b + h W^T)`` or ``b + h W^T``."""
  _check_unit_type('visible_mean', 'visible', visible)
  h = _check_units('visible_mean', params, 'h', h, axis=1)
  x = _visible_input(params, h)
  return jax.nn.sigmoid(x) if visible == 'bernoulli' else x


def _sample_units(rng: jax.Array, mean: jax.Array, unit_type: str):
  """Bernoulli(mean) as floats, or N(mean, 1)."""
  if unit_type == 'bernoulli':
    return jax.random.bernoulli(rng, mean).astype(mean.dtype)
  return mean + jax.random.normal(rng, mean.shape, mean.dtype)


def sample_hidden(
    rng: jax.Array,
    params: Params,
    v: jax.typing.ArrayLike,
    *,
    hidden: str = 'bernoulli',
) -> jax.Array:
  """A sample of ``h ~ p(h | v)``, ``[B, H]``."""
  return _sample_units(rng, hidden_mean(params, v, hidden=hidden), hidden)


def sample_visible(
    rng: jax.Array,
    params: Params,
    h: jax.typing.ArrayLike,
    *,
    visible: str = 'bernoulli',
) -> jax.Array:
  """A sample of ``v ~ p(v | h)``, ``[B, V]``."""
  return _sample_units(rng, visible_mean(params, h, visible=visible), visible)


def _gibbs_step(rng, params, v, *, visible, hidden):
  """One ``v -> h -> v`` sweep: ``(v sample, E[v | h])``."""
  h_rng, v_rng = jax.random.split(rng)
  h = sample_hidden(h_rng, params, v, hidden=hidden)
  mean = visible_mean(params, h, visible=visible)
  return _sample_units(v_rng, mean, visible), mean


def gibbs_chain(
    rng: jax.Array,
    params: Params,
    v: jax.typing.ArrayLike,
    *,
    steps: int,
    visible: str = 'bernoulli',
    hidden: str = 'bernoulli',
) -> jax.Array:
  """Block Gibbs sampling: ``steps`` sweeps ``v -> h ~ p(h|v) -> v ~ p(v|h)``.

  Every chain (row of ``v``) runs independently; step ``i`` draws from
  ``fold_in(rng, i)``.

  Args:
    rng: PRNG key.
    params: RBM parameters, kernel ``[V, H]``.
    v: initial visible states ``[B, V]``.
    steps: number of sweeps, a static int >= 0 (0 returns ``v``).
    visible: visible unit type.
    hidden: hidden unit type.

  Returns:
    The visible samples ``v_k`` ``[B, V]`` after ``steps`` sweeps.
  """
  _check_steps('gibbs_chain', steps)
  _check_unit_type('gibbs_chain', 'visible', visible)
  _check_unit_type('gibbs_chain', 'hidden', hidden)
  v = _check_units('gibbs_chain', params, 'v', v, axis=0)

  def body(i, v):
    step_rng = jax.random.fold_in(rng, i)
    return _gibbs_step(step_rng, params, v, visible=visible, hidden=hidden)[0]

  return jax.lax.fori_loop(0, steps, body, v)


def random_visibles(
    rng: jax.Array, shape: tuple[int, ...], *, visible: str, dtype=jnp.float32
) -> jax.Array:
  """Chain starts: fair coin flips (Bernoulli) or ``N(0, 1)`` (Gaussian)."""
  _check_unit_type('random_visibles', 'visible', visible)
  if visible == 'bernoulli':
    return jax.random.bernoulli(rng, 0.5, shape).astype(dtype)
  return jax.random.normal(rng, shape, dtype)


# ---------------------------------------------------------------------------
# Objectives and diagnostics.
# ---------------------------------------------------------------------------


def contrastive_divergence_loss(
    params: Params,
    v_data: jax.typing.ArrayLike,
    v_model: jax.typing.ArrayLike,
    *,
    visible: str = 'bernoulli',
    hidden: str = 'bernoulli',
) -> jax.Array:
  """Surrogate ``F(v_data) - F(stop_gradient(v_model))`` whose gradient is CD.

  ``-log p(v) = F(v) + log Z`` and ``d log Z / d theta = -E_model[dF/dtheta]``,
  so the batch mean of this loss has gradient ``E_data[dF/dtheta] -
  E_samples[dF/dtheta]``: the CD-k (or PCD) estimate of the negative
  log-likelihood gradient, e.g. ``<v h>_model - <v h>_data`` for the kernel
  (Hinton 2002, eq. 5; Tieleman 2008). Its *value* is not a log-likelihood,
  nor a bound on one: it is a difference of free energies, which may be
  negative and need not fall as the model improves.

  Args:
    params: RBM parameters, kernel ``[V, H]``.
    v_data: training examples ``[B, V]``.
    v_model: negative-phase samples ``[B, V]`` (Gibbs chains started at the
      data for CD-k, persistent chains for PCD); no gradient flows into them.
    visible: visible unit type.
    hidden: hidden unit type.

  Returns:
    ``[B]`` surrogate losses.
  """
  v_data = jnp.asarray(v_data)
  v_model = jnp.asarray(v_model)
  if v_data.shape != v_model.shape:
    raise ValueError(
        f'contrastive_divergence_loss: v_data shape {v_data.shape} != '
        f'v_model shape {v_model.shape}; run one chain per example.'
    )
  kwargs = dict(visible=visible, hidden=hidden)
  return free_energy(params, v_data, **kwargs) - free_energy(
      params, jax.lax.stop_gradient(v_model), **kwargs
  )


def pseudo_log_likelihood(
    rng: jax.Array,
    params: Params,
    v: jax.typing.ArrayLike,
    *,
    hidden: str = 'bernoulli',
) -> jax.Array:
  """Stochastic pseudo-log-likelihood of Bernoulli visible units.

  ``sum_i log p(v_i | v_{-i}) ~= V * log sigmoid(F(v~) - F(v))`` with ``v~``
  equal to ``v`` with one uniformly chosen unit ``i`` flipped to ``1 - v_i``
  (an unbiased one-term estimate of the sum; the same estimate as
  scikit-learn's ``BernoulliRBM.score_samples``). Higher is better; it is at
  most 0 for binary ``v``.

  Args:
    rng: PRNG key choosing the flipped unit of each example.
    params: RBM parameters, kernel ``[V, H]``.
    v: visible states ``[B, V]`` in [0, 1].
    hidden: hidden unit type.

  Returns:
    ``[B]`` estimates.
  """
  v = _check_units('pseudo_log_likelihood', params, 'v', v, axis=0)
  num_visible = v.shape[-1]
  index = jax.random.randint(rng, v.shape[:-1], 0, num_visible)
  flip = jax.nn.one_hot(index, num_visible, dtype=v.dtype)
  v_flipped = v + flip * (1.0 - 2.0 * v)  # v_i -> 1 - v_i.
  kwargs = dict(visible='bernoulli', hidden=hidden)
  delta = free_energy(params, v_flipped, **kwargs) - free_energy(
      params, v, **kwargs
  )
  # log p(v_i | v_-i) = -F(v) - logaddexp(-F(v), -F(v~)), stably.
  return num_visible * jax.nn.log_sigmoid(delta)


def reconstruction_error(
    params: Params,
    v: jax.typing.ArrayLike,
    *,
    visible: str = 'bernoulli',
    hidden: str = 'bernoulli',
) -> jax.Array:
  """Mean squared error per unit of a mean-field pass ``v -> E[h|v] -> E[v|h]``.

  The usual (biased, but cheap) progress monitor of Hinton (2010), section 5.

  Args:
    params: RBM parameters, kernel ``[V, H]``.
    v: visible states ``[B, V]``.
    visible: visible unit type.
    hidden: hidden unit type.

  Returns:
    ``[B]`` errors.
  """
  v = _check_units('reconstruction_error', params, 'v', v, axis=0)
  h = hidden_mean(params, v, hidden=hidden)
  return jnp.mean((visible_mean(params, h, visible=visible) - v) ** 2, -1)


# ---------------------------------------------------------------------------
# The model.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of model='rbm'."""

  rbm_visible: str = base.hparam('bernoulli')  # Or 'gaussian' (unit variance).
  rbm_hidden: str = base.hparam('bernoulli')  # Or 'gaussian' (unit variance).
  cd_steps: int = base.hparam(
      1
  )  # k of CD-k: Gibbs steps of the negative phase.
  persistent_chains: bool = base.hparam(False)  # Persistent CD (Tieleman 2008).


@dataclasses.dataclass(frozen=True, kw_only=True)
class RBM(base.Model):
  """`base.Model` for an RBM over flattened examples of ``input_shape``.

  ``latent_dim`` is the number of hidden units; `encode` is ``E[h | v]`` and
  `decode` is ``E[v | h]``. The ``'loss'`` metric is the CD surrogate of
  `contrastive_divergence_loss` (not a likelihood); compare models by
  ``'mse'``, ``'free_energy'`` or ``'pseudo_log_likelihood'`` instead.

  Attributes:
    visible: 'bernoulli' (data in [0, 1]) or 'gaussian' (standardised data).
    hidden: 'bernoulli' or 'gaussian' (linear hidden units).
    cd_steps: Gibbs sweeps k of the negative phase.
    persistent: train with persistent chains (PCD) carried in the model state
      instead of chains started at the data (CD-k).
  """

  visible: str
  hidden: str
  cd_steps: int
  persistent: bool

  generative = True
  # Its 'loss' wanders in sign as the model improves (a review run: the best
  # by it was the first checkpoint, reconstruction MSE 0.074 against 0.038).
  best_metric = 'mse'

  @property
  def num_visible(self) -> int:
    return math.prod(self.input_shape)

  def _units(self) -> dict[str, str]:
    return dict(visible=self.visible, hidden=self.hidden)

  def _flatten(self, x: jax.Array) -> jax.Array:
    x = jnp.asarray(x)
    if tuple(x.shape[1:]) != tuple(self.input_shape):
      raise ValueError(
          f'RBM: inputs of shape {x.shape} are not [B, *{self.input_shape}].'
      )
    return x.reshape(x.shape[0], self.num_visible).astype(jnp.float32)

  def init(self, rng):
    return init_params(rng, self.num_visible, self.latent_dim)

  def encode(self, params, x):
    return hidden_mean(params, self._flatten(x), hidden=self.hidden)

  def decode(self, params, z):
    mean = visible_mean(params, z, visible=self.visible)
    return mean.reshape(mean.shape[0], *self.input_shape)

  def sample(self, params, rng, num):
    """``E[v | h]`` after a `SAMPLE_GIBBS_STEPS`-step chain from noise."""
    init_rng, chain_rng, last_rng = jax.random.split(rng, 3)
    v = random_visibles(init_rng, (num, self.num_visible), visible=self.visible)
    v = gibbs_chain(
        chain_rng, params, v, steps=SAMPLE_GIBBS_STEPS - 1, **self._units()
    )
    _, mean = _gibbs_step(last_rng, params, v, **self._units())
    return mean.reshape(num, *self.input_shape)

  def _metrics(self, params, v, v_model, rng) -> base.Metrics:
    metrics = {
        'loss': contrastive_divergence_loss(
            params, v, v_model, **self._units()
        ),
        'free_energy': free_energy(params, v, **self._units()),
        'mse': reconstruction_error(params, v, **self._units()),
    }
    if self.visible == 'bernoulli':
      metrics['pseudo_log_likelihood'] = pseudo_log_likelihood(
          rng, params, v, hidden=self.hidden
      )
    return metrics

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    """Metrics with a CD-k negative phase from chains started at ``x``."""
    del train, labels
    v = self._flatten(x)
    chain_rng, pll_rng = jax.random.split(rng)
    v_model = gibbs_chain(
        chain_rng, params, v, steps=self.cd_steps, **self._units()
    )
    return self._metrics(params, v, v_model, pll_rng)

  def init_model_state(self, rng, batch_size):
    """``{'chains': [batch_size, V]}`` random visibles for PCD, else ``{}``."""
    if not self.persistent:
      return {}
    shape = (batch_size, self.num_visible)
    return {'chains': random_visibles(rng, shape, visible=self.visible)}

  def train_losses(self, params, model_state, x, rng, *, labels=None):
    """PCD: persistent chains advance ``cd_steps`` sweeps and are returned."""
    if not self.persistent:
      metrics = self.per_example_losses(
          params, x, rng, train=True, labels=labels
      )
      return metrics, model_state
    v = self._flatten(x)
    chains = model_state['chains']
    if chains.shape != v.shape:
      raise ValueError(
          f'RBM.train_losses: persistent chains {chains.shape} do not match '
          f'the batch {v.shape}; create the model state with '
          f'init_model_state(rng, batch_size={v.shape[0]}).'
      )
    chain_rng, pll_rng = jax.random.split(rng)
    chains = jax.lax.stop_gradient(
        gibbs_chain(
            chain_rng, params, chains, steps=self.cd_steps, **self._units()
        )
    )
    return self._metrics(params, v, chains, pll_rng), {'chains': chains}


def build(config, data: base.DataSpec) -> RBM:
  """The 'rbm' entry of the model registry.

  Reads ``config.latent_dim`` (hidden units), ``config.rbm_visible``,
  ``config.rbm_hidden``, ``config.cd_steps`` and ``config.persistent_chains``;
  ``config.likelihood`` is not read (it follows ``rbm_visible``). RBMs
  compute in float32 only: `registry.check_precision` refuses
  ``config.compute_dtype='bfloat16'`` for them.
  """
  input_shape = data.input_shape
  if config.rbm_visible not in UNIT_TYPES:
    raise ValueError(
        f'config.rbm_visible={config.rbm_visible!r} is not a unit type; set '
        f'--config.rbm_visible to one of {UNIT_TYPES}.'
    )
  if config.rbm_hidden not in UNIT_TYPES:
    raise ValueError(
        f'config.rbm_hidden={config.rbm_hidden!r} is not a unit type; set '
        f'--config.rbm_hidden to one of {UNIT_TYPES}.'
    )
  for field in ('latent_dim', 'cd_steps'):
    value = config[field]
    if not (
        isinstance(value, int) and not isinstance(value, bool) and value >= 1
    ):
      raise ValueError(
          f'config.{field}={value!r} must be an integer >= 1; set '
          f'--config.{field} to one, e.g. --config.{field}=1.'
      )
  if not isinstance(config.persistent_chains, bool):
    raise ValueError(
        f'config.persistent_chains={config.persistent_chains!r} must be '
        'a bool; set --config.persistent_chains to True or False.'
    )
  return RBM(
      input_shape=tuple(input_shape),
      latent_dim=config.latent_dim,
      likelihood='bernoulli'
      if config.rbm_visible == 'bernoulli'
      else 'gaussian',
      visible=config.rbm_visible,
      hidden=config.rbm_hidden,
      cd_steps=config.cd_steps,
      persistent=config.persistent_chains,
  )
