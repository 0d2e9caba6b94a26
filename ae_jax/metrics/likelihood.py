"""Test-set log-likelihood of latent-variable models by importance sampling.

``log p(x) ~= log (1/K) sum_k p(x, z_k) / q(z_k | x)`` with ``z_k ~ q(z | x)``
(Burda et al. 2015, Sec. 5; K = 5000 is the standard for MNIST-like data).
The K samples are drawn in chunks and combined with a running log-sum-exp, so
memory holds one chunk (``chunk_size x batch x input``) whatever K is;
`dataset_log_likelihood` sizes batch and chunk so that one forward pass sees
at most ``batch_size`` (image, sample) rows, as one evaluation batch would.
"""

from collections.abc import Callable
import math

import jax
import jax.numpy as jnp
import numpy as np

from ae_jax.metrics import batching
from ae_jax.metrics import checks

__all__ = [
    'batch_and_chunk',
    'dataset_log_likelihood',
    'importance_sampled_log_likelihood',
]


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
  fn = 'importance_sampled_log_likelihood'
  num_samples = checks.positive_int(fn, 'num_samples', num_samples)
  chunk_size = checks.positive_int(fn, 'chunk_size', chunk_size)
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


def batch_and_chunk(
    num_samples: int, num_examples: int, batch_size: int
) -> tuple[int, int]:
  """``(images, samples)`` per forward pass with ``images * samples <=
  batch_size``: as many images as fit (the whole set when it is smaller),
  then the largest divisor of `num_samples` that fits beside them.

  The activations of one pass are ``[samples * images, ...]``; holding them
  to one evaluation batch keeps k = 5000 as cheap in memory as k = 1. A
  divisor, so every chunk has one shape (one compile); at least 1 sample.
  """
  for name, value in (
      ('num_samples', num_samples),
      ('num_examples', num_examples),
      ('batch_size', batch_size),
  ):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f'{name}={value!r} must be an integer >= 1.')
  images = min(batch_size, num_examples)
  room = batch_size // images
  chunk = max(
      d for d in range(1, min(room, num_samples) + 1) if num_samples % d == 0
  )
  return images, chunk


def dataset_log_likelihood(
    log_weights_fn: LogWeightsFn,
    images: np.ndarray,
    *,
    num_samples: int = 5000,
    batch_size: int = 500,
    seed: int = 0,
) -> np.ndarray:
  """``log p(x)`` of every image, ``[N]``, streamed (one compile).

  Args:
    log_weights_fn: as for `importance_sampled_log_likelihood`.
    images: ``[N, ...]``, N >= 1.
    num_samples: K importance samples per image (keyword-only).
    batch_size: the most (image, sample) rows one forward pass may see, e.g.
      ``config.eval_batch_size``; images and samples per pass come from
      `batch_and_chunk` (keyword-only).
    seed: images ``[i * b, (i + 1) * b)`` draw with
      ``fold_in(PRNGKey(seed), i)`` (keyword-only).
  """
  images = checks.real_array(
      'dataset_log_likelihood', 'images', images, min_ndim=2
  )
  per_call, chunk_size = batch_and_chunk(num_samples, len(images), batch_size)
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
  images = images.astype(np.float32, copy=False)
  for i, real, (chunk,) in batching.padded_batches(images, batch_size=per_call):
    key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
    out.append(np.asarray(fn(chunk, key))[:real])
  return np.concatenate(out)
