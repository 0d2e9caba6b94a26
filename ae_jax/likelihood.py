"""Test-set log-likelihood of latent-variable models by importance sampling.

``log p(x) ~= log (1/K) sum_k p(x, z_k) / q(z_k | x)`` with ``z_k ~ q(z | x)``
(Burda et al. 2015, Sec. 5; K = 5000 is the standard for MNIST-like data).
The K samples are drawn in chunks and combined with a running log-sum-exp, so
memory holds one chunk (``chunk_size x batch x input``) whatever K is.
"""

from collections.abc import Callable
import math

import jax
import jax.numpy as jnp
import numpy as np

LogWeightsFn = Callable[[jax.Array, jax.Array, int], jax.Array]


def importance_sampled_log_likelihood(
    log_weights_fn: LogWeightsFn,
    x: jax.Array,
    rng: jax.Array,
    *,
    num_samples: int,
    chunk_size: int,
) -> jax.Array:
  """Estimate of ``log p(x)`` per example, ``[B]``.

  Args:
    log_weights_fn: ``(x, rng, k) -> [k, B]`` log importance weights, e.g.
      ``functools.partial(vae.log_importance_weights, params)``.
    x: a batch ``[B, ...]``.
    rng: PRNG key.
    num_samples: K, a multiple of ``chunk_size`` (keyword-only, static).
    chunk_size: samples drawn at once (keyword-only, static).
  """
  if not (isinstance(num_samples, int) and num_samples >= 1):
    raise ValueError(f'num_samples={num_samples!r} must be an integer >= 1.')
  if not (isinstance(chunk_size, int) and 1 <= chunk_size):
    raise ValueError(f'chunk_size={chunk_size!r} must be an integer >= 1.')
  chunk_size = min(chunk_size, num_samples)
  if num_samples % chunk_size:
    raise ValueError(
        f'num_samples={num_samples} must be a multiple of '
        f'chunk_size={chunk_size}.'
    )

  def body(total, key):
    log_w = log_weights_fn(x, key, chunk_size)
    return jnp.logaddexp(total, jax.nn.logsumexp(log_w, axis=0)), None

  keys = jax.random.split(rng, num_samples // chunk_size)
  start = jnp.full((x.shape[0],), -jnp.inf, jnp.float32)
  total, _ = jax.lax.scan(body, start, keys)
  return total - math.log(num_samples)


def dataset_log_likelihood(
    log_weights_fn: LogWeightsFn,
    images: np.ndarray,
    *,
    num_samples: int = 5000,
    chunk_size: int = 500,
    batch_size: int = 100,
    seed: int = 0,
) -> np.ndarray:
  """``log p(x)`` of every image, ``[N]``, in batches (one compile)."""
  fn = jax.jit(
      lambda x, key: importance_sampled_log_likelihood(
          log_weights_fn,
          x,
          key,
          num_samples=num_samples,
          chunk_size=chunk_size,
      )
  )
  out = []
  for i, start in enumerate(range(0, len(images), batch_size)):
    chunk = np.asarray(images[start : start + batch_size], np.float32)
    real = len(chunk)
    if real < batch_size:  # Pad so every call has one shape.
      chunk = np.concatenate(
          [chunk, np.repeat(chunk[-1:], batch_size - real, 0)]
      )
    key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
    out.append(np.asarray(fn(chunk, key))[:real])
  return np.concatenate(out)
