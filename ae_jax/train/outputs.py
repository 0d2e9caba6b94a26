"""Figures a finished run leaves in its work directory, and batched inference.

``reconstructions.png`` (test inputs above their reconstructions; images only),
``latent_codes.png`` (test codes coloured by label, PCA if the code has more
than two dimensions), ``samples.png`` (generative models: decoded prior
samples; images only) and ``loss_curve.png`` (train and test loss against step).

Every forward pass here sees at most one evaluation batch (`predict`,
`sample_in_batches`), however large the test split.
"""

from collections.abc import Callable

from etils import epath
import jax
from jax.experimental import multihost_utils
import numpy as np

from ae_jax import data
from ae_jax import figures
from ae_jax.models import base
from ae_jax.train import metric_writer
from ae_jax.train import sharding
from ae_jax.train import step as step_lib


def predict(
    fn: Callable,
    params,
    images: np.ndarray,
    *,
    batch_size: int,
    mesh: jax.sharding.Mesh,
) -> np.ndarray:
  """``fn(params, x)`` over ``images`` in padded batches -> NumPy, in order.

  ``fn`` is the jitted form from `step.jit_batch_fn`; every batch has the same
  shape, so it compiles once. Works across processes (outputs are gathered).
  """
  labels = np.zeros(len(images), np.int32)
  out = []
  for i, batch in enumerate(
      data.eval_batches(
          images,
          labels,
          batch_size=batch_size,
          process_index=jax.process_index(),
          process_count=jax.process_count(),
      )
  ):
    x = sharding.put_batch({'image': batch['image']}, mesh)['image']
    y = multihost_utils.process_allgather(fn(params, x), tiled=True)
    out.append(np.asarray(y)[: min(batch_size, len(images) - i * batch_size)])
  return np.concatenate(out)


def sample_in_batches(
    sample_fn: Callable[[jax.Array, int], jax.Array],
    num: int,
    *,
    batch_size: int,
    seed: int,
) -> np.ndarray:
  """``num`` draws of ``sample_fn(rng, n)`` -> NumPy, `batch_size` at a time.

  Decoding prior samples is a forward pass like any other, so it streams in
  evaluation batches too. Every call draws the same ``n`` (the last one is
  trimmed), so a jitted ``sample_fn`` compiles once; call ``i`` uses
  ``fold_in(PRNGKey(seed), i)``, so the draws depend on `batch_size`.
  """
  for name, value in (('num', num), ('batch_size', batch_size)):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f'{name}={value!r} must be an integer >= 1.')
  per_call = min(num, batch_size)
  key = jax.random.PRNGKey(seed)
  out = [
      np.asarray(sample_fn(jax.random.fold_in(key, i), per_call))
      for i in range(-(-num // per_call))
  ]
  return np.concatenate(out)[:num]


def write_figures(
    model: base.Model,
    params,
    dataset: data.Dataset,
    workdir: epath.PathLike,
    mesh: jax.sharding.Mesh,
    *,
    batch_size: int,
    seed: int,
    write: bool = True,
) -> list[str]:
  """Writes the PNGs listed in the module docstring; returns their names."""
  workdir = epath.Path(workdir)
  shape = dataset.input_shape
  name = f'{type(model).__name__} on {dataset.name}'
  encode = step_lib.jit_batch_fn(model.encode, mesh)
  reconstruct = step_lib.jit_batch_fn(model.reconstruct, mesh)

  shown = dataset.test_images[:16]
  recon = None
  if model.reconstructs:
    recon = predict(
        reconstruct, params, shown, batch_size=batch_size, mesh=mesh
    )
  codes = predict(
      encode, params, dataset.test_images, batch_size=batch_size, mesh=mesh
  )
  samples = None
  if model.generative:
    sample = jax.jit(model.sample, static_argnums=2)
    samples = sample_in_batches(
        lambda key, n: sample(params, key, n),
        64,
        batch_size=batch_size,
        seed=seed,
    )
  if not write:
    return []

  written = ['latent_codes.png']
  if not figures.drawable(dataset.is_images, shape):  # No image grids.
    recon = samples = None
  if recon is not None:
    written.append('reconstructions.png')
    figures.save_reconstructions(
        workdir / 'reconstructions.png',
        shown,
        recon,
        shape,
        title=f'{name}: test reconstructions',
    )
  figures.save_latent_scatter(
      workdir / 'latent_codes.png',
      codes,
      dataset.test_labels,
      dataset.class_names,
      title=f'{name}: test codes',
  )
  if samples is not None:
    written.append('samples.png')
    figures.save_image_grid(
        workdir / 'samples.png',
        samples,
        shape,
        title=f'{name}: samples from the prior',
    )
  records = metric_writer.read_metrics(workdir)
  if records:
    written.append('loss_curve.png')
    figures.save_loss_curve(
        workdir / 'loss_curve.png', records, title=f'{name}: loss'
    )
  return written
