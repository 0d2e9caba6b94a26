"""A denoising autoencoder as a generative model: its vector field and chain.

A denoising autoencoder trained with squared error learns
``r(x_tilde) = E[x | x_tilde]``. Two consequences, both pure JAX functions
here that work under `jax.jit`:

* `reconstruction_field`: ``r(x) - x``. For Gaussian corruption of std
  ``sigma`` the optimum is exactly ``sigma^2 grad log p_sigma(x)``, the score
  of the data density smoothed by the noise (Tweedie's formula, Miyasawa
  1961), and so ``~ sigma^2 grad log p(x)`` for small ``sigma`` (Alain &
  Bengio 2014, Theorem 1): the field points up the density.
* `markov_chain`: Bengio et al. (2013) alternate corruption and denoising,
  ``x_tilde_t ~ C(x_tilde | x_t)``, ``x_{t+1} ~ P(x | x_tilde_t)``. When the
  autoencoder's ``P(x | x_tilde)`` is the true conditional, the chain is a
  Gibbs sampler of the joint ``p(x) C(x_tilde | x)`` and its stationary
  distribution is the data distribution (their Theorem 1). A squared-error
  (or cross-entropy) autoencoder gives only the mean of ``P(x | x_tilde)``:
  ``sample_fn=None`` steps to that mean, ``x_{t+1} = r(x_tilde_t)`` (a
  chain that concentrates on the modes: for 1-D Gaussian data and small
  ``sigma`` its stationary variance is about half the data's), while
  ``sample_fn`` draws ``x_{t+1}`` around it, e.g. `gaussian_output_sampler`
  with the autoencoder's residual std (`denoising_residual_std`) or
  `bernoulli_output_sampler` for binary data, as Bengio et al. do.

``reconstruct_fn`` is a pure ``x -> r(x)`` on batches, e.g.
``functools.partial(model.reconstruct, params)`` of a loaded run
(`ae_jax.tasks.dae_chain.reconstruct_fn`); ``corrupt_fn`` is
``(rng, x) -> x_tilde``, e.g. ``functools.partial(corruptions.gaussian_noise,
level=0.05)`` (`ae_jax.corruptions`).

References:
  Alain & Bengio, `What Regularized Auto-Encoders Learn from the
  Data-Generating Distribution <https://jmlr.org/papers/v15/alain14a.html>`_,
  JMLR 15, 2014.

  Bengio, Yao, Alain & Vincent, `Generalized Denoising Auto-Encoders as
  Generative Models <https://arxiv.org/abs/1305.6663>`_, NeurIPS 2013.
"""

from collections.abc import Callable
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    'bernoulli_output_sampler',
    'denoising_residual_std',
    'gaussian_output_sampler',
    'markov_chain',
    'reconstruction_field',
]

ReconstructFn = Callable[[jax.Array], jax.Array]
CorruptFn = Callable[[jax.Array, jax.Array], jax.Array]
SampleFn = Callable[[jax.Array, jax.Array], jax.Array]


def _floating(fn_name: str, x) -> jax.Array:
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(
        f'{fn_name}: x must be floating point, got dtype {x.dtype}; cast it '
        'first, e.g. x.astype(jnp.float32).'
    )
  return x


def _same_shape(fn_name: str, what: str, x: jax.Array, y: jax.Array) -> None:
  if y.shape != x.shape:
    raise ValueError(
        f'{fn_name}: {what} returned shape {y.shape} for x of shape '
        f'{x.shape}; it must map a batch to a batch of the same shape.'
    )


def reconstruction_field(
    reconstruct_fn: ReconstructFn, x: jax.typing.ArrayLike
) -> jax.Array:
  """The denoising autoencoder's vector field ``r(x) - x``.

  Args:
    reconstruct_fn: ``x -> r(x)``, a batch to a batch of the same shape.
    x: floating array ``[B, *input_shape]``.

  Returns:
    ``r(x) - x``, shape and dtype of ``x``. For Gaussian corruption of std
    ``sigma`` and the optimal ``r``, ``sigma^2 grad log p_sigma(x)`` (module
    docstring).

  Raises:
    TypeError: if ``x`` is not floating point.
    ValueError: if ``reconstruct_fn`` changes the shape.
  """
  x = _floating('reconstruction_field', x)
  r = reconstruct_fn(x)
  _same_shape('reconstruction_field', 'reconstruct_fn', x, r)
  return r.astype(x.dtype) - x


def _count(fn_name: str, name: str, value, minimum: int) -> int:
  if (
      isinstance(value, bool)
      or not isinstance(value, (numbers.Integral, np.integer))
      or value < minimum
  ):
    raise ValueError(
        f'{fn_name}: {name}={value!r} must be an int >= {minimum} (a static '
        'Python int: it sets the length of the scan).'
    )
  return int(value)


def markov_chain(
    rng: jax.Array,
    reconstruct_fn: ReconstructFn,
    corrupt_fn: CorruptFn,
    x0: jax.typing.ArrayLike,
    num_steps: int,
    *,
    sample_fn: SampleFn | None = None,
    burn_in: int = 0,
    thin: int = 1,
) -> jax.Array:
  """The corrupt-then-denoise chain of Bengio et al. (2013), as `lax.scan`.

  Step ``t = 1..num_steps`` uses the key ``fold_in(rng, t)``, split into a
  corruption and an output key: ``x_tilde = corrupt_fn(k1, x_{t-1})``,
  ``x_t = r(x_tilde)`` if ``sample_fn`` is None, else
  ``sample_fn(k2, r(x_tilde))``. Every row of ``x0`` is its own chain.
  The same ``rng`` gives the same states whatever ``burn_in`` and ``thin``.

  Args:
    rng: a PRNG key.
    reconstruct_fn: ``x -> r(x)``, the mean of ``P(x | x_tilde)``.
    corrupt_fn: ``(rng, x) -> x_tilde``, the training corruption.
    x0: floating ``[B, *input_shape]``, the chains' starting states.
    num_steps: total steps, a static int >= 1.
    sample_fn: optional ``(rng, mean) -> x`` drawing ``x_{t+1}`` from the
      decoder's distribution (keyword-only); None steps to the mean.
    burn_in: steps before the first kept state, static, in
      ``[0, num_steps)`` (keyword-only).
    thin: keep every ``thin``-th state after the burn-in, static >= 1; it
      must divide ``num_steps - burn_in`` (keyword-only).

  Returns:
    ``[(num_steps - burn_in) // thin, *x0.shape]``: the states at steps
    ``burn_in + thin, burn_in + 2 thin, ..., num_steps``. With the defaults,
    the whole trajectory ``x_1..x_T``; the last row is the final state.

  Raises:
    TypeError: if ``x0`` is not floating point.
    ValueError: bad ``num_steps``, ``burn_in`` or ``thin``, or a function
      that changes the shape of the batch.
  """
  name = 'markov_chain'
  x0 = _floating(name, x0)
  num_steps = _count(name, 'num_steps', num_steps, 1)
  burn_in = _count(name, 'burn_in', burn_in, 0)
  thin = _count(name, 'thin', thin, 1)
  if burn_in >= num_steps:
    raise ValueError(
        f'{name}: burn_in={burn_in} leaves no state of the {num_steps} '
        'steps to return; use burn_in < num_steps.'
    )
  if (num_steps - burn_in) % thin:
    raise ValueError(
        f'{name}: thin={thin} does not divide num_steps - burn_in = '
        f'{num_steps - burn_in}; choose num_steps = burn_in + k * thin.'
    )

  def step(x, t):
    corrupt_rng, sample_rng = jax.random.split(jax.random.fold_in(rng, t))
    x_tilde = corrupt_fn(corrupt_rng, x)
    _same_shape(name, 'corrupt_fn', x, x_tilde)
    mean = reconstruct_fn(x_tilde)
    _same_shape(name, 'reconstruct_fn', x, mean)
    x_next = mean if sample_fn is None else sample_fn(sample_rng, mean)
    _same_shape(name, 'sample_fn', x, x_next)
    return x_next.astype(x.dtype)

  def run(x, first, count):
    """``count`` steps from step ``first``: the final state."""
    body = lambda i, x: step(x, first + i)
    return jax.lax.fori_loop(0, count, body, x)

  x = run(x0, 1, burn_in) if burn_in else x0

  def kept(x, k):
    x = run(x, burn_in + 1 + k * thin, thin)
    return x, x

  _, states = jax.lax.scan(kept, x, jnp.arange((num_steps - burn_in) // thin))
  return states


def gaussian_output_sampler(std: jax.typing.ArrayLike) -> SampleFn:
  """``(rng, mean) -> mean + std * N(0, I)``: a draw of a Gaussian decoder.

  ``std`` is a non-negative scalar or an array broadcastable to one example
  (e.g. per-dimension, `denoising_residual_std`); 0 gives back the mean.

  Raises:
    ValueError: if a concrete ``std`` is negative or not finite.
  """
  # jax arrays (possibly tracers) are used unchecked, as in `corruptions`.
  if not isinstance(std, jax.Array) and not (
      np.all(np.isfinite(np.asarray(std))) and np.all(np.asarray(std) >= 0)
  ):
    raise ValueError(
        f'gaussian_output_sampler: std={std!r} must be finite and >= 0, '
        'e.g. denoising_residual_std(...).'
    )

  def sample(rng: jax.Array, mean: jax.Array) -> jax.Array:
    noise = jax.random.normal(rng, mean.shape, mean.dtype)
    return mean + jnp.asarray(std, mean.dtype) * noise

  return sample


def bernoulli_output_sampler(rng: jax.Array, mean: jax.Array) -> jax.Array:
  """A draw of a Bernoulli decoder: each element 1 with probability
  ``mean`` (in [0, 1]), else 0; ``mean``'s shape and dtype."""
  return jax.random.bernoulli(rng, mean).astype(mean.dtype)


def denoising_residual_std(
    rng: jax.Array,
    reconstruct_fn: ReconstructFn,
    corrupt_fn: CorruptFn,
    x: jax.typing.ArrayLike,
) -> jax.Array:
  """Per-dimension std of ``x - r(corrupt(x))`` over the batch ``x``.

  The std of a Gaussian ``P(x | x_tilde)`` around the autoencoder's mean
  that matches its denoising error on ``x`` (e.g. training data): the
  ``std`` of `gaussian_output_sampler`. Shape ``x.shape[1:]``.
  """
  x = _floating('denoising_residual_std', x)
  residual = x - reconstruct_fn(corrupt_fn(rng, x))
  return jnp.sqrt(jnp.mean(jnp.square(residual), axis=0))
