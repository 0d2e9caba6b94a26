"""What every evaluation task shares: the run's data and batched, jitted
encoders and decoders of a trained model."""

from collections.abc import Callable
import dataclasses
import functools

import jax
import numpy as np

from ae_jax import data
from ae_jax import trained as trained_lib
from ae_jax.metrics import batching
from ae_jax.metrics import image_quality
from ae_jax.train import outputs

DEFAULT_BATCH = 500  # A run whose config predates eval_batch_size.


# Training images the tasks see of a uint8 train split (dSprites' 737,280
# would take 11.6 GiB as float32): a fixed draw, as float32.
EVAL_TRAIN_MAX = 60000


def load_data(trained: trained_lib.TrainedModel) -> data.Dataset:
  """The data a work directory was trained on, in its layout. A uint8
  train split (kept as bytes for training) becomes a fixed draw of
  `EVAL_TRAIN_MAX` of its images, as float32, so every task sees [0, 1]."""
  dataset = _load_dataset(trained.config)
  _check_same_data(trained, dataset)
  if dataset.train_images.dtype != np.uint8:
    return dataset
  n = len(dataset.train_images)
  rows = np.sort(
      np.random.default_rng(0).choice(n, min(n, EVAL_TRAIN_MAX), replace=False)
  )
  return dataclasses.replace(
      dataset,
      train_images=data.as_unit_float(dataset.train_images[rows]),
      train_labels=dataset.train_labels[rows],
  )


def _check_same_data(trained, dataset: data.Dataset) -> None:
  """Refuses data other than a work directory's training data, by the name
  and (for the user's own npz:, images:, csv: files, read again for each
  evaluation) the arrays' SHA-256 in ``dataset.json``.

  A run trained on arrays in memory (a `Dataset` passed to
  `train_and_evaluate`, an estimator's rows) records their name there, while
  ``config.dataset`` keeps its default: loading it would evaluate another
  dataset (scikit-learn's digits for a table) without a word.
  """
  from ae_jax.data import user_files  # pylint: disable=g-import-not-at-top
  from ae_jax.train import run_files  # pylint: disable=g-import-not-at-top

  if getattr(trained, 'workdir', None) is None:  # Not from a work directory.
    return
  info = run_files.read_dataset_info(trained.workdir) or {}
  saved_name = info.get('name')
  # Another name for the same arrays (a pretraining layer's run on the data
  # itself, 'digits/layer_0') is the same data.
  if (
      saved_name is not None
      and saved_name != dataset.name
      and info.get('sha256') != run_files.dataset_fingerprint(dataset)
  ):
    raise ValueError(
        f'{trained.workdir} was trained on {saved_name!r} (dataset.json) but '
        f'its config.dataset loads {dataset.name!r}, other arrays: data '
        "passed in memory (an estimator's rows, a lower layer's codes) "
        'cannot be read again from a work directory. Call its encode, '
        'reconstruct or score on your own arrays instead (ae_jax.load(...)'
        '.preprocess(X) standardises raw rows as in training).'
    )
  if not user_files.parse_source(dataset.name):
    return
  if trained.config.binarize == 'dynamic':  # Trained on another binarisation.
    return
  saved = info.get('sha256')
  if saved and saved != run_files.dataset_fingerprint(dataset):
    raise ValueError(
        f'{dataset.name} changed since {trained.workdir} was trained on it '
        '(its arrays no longer match the sha256 in dataset.json), so the '
        'splits and statistics would differ; restore the file or train '
        'again.'
    )


def _load_dataset(c) -> data.Dataset:
  return data.load_configured(
      c, binarize='static' if c.binarize == 'dynamic' else c.binarize
  )


def pca_components(trained, dataset) -> int:
  """The PCA baseline's size: the code's, at most the input's dimension and
  the training examples (a narrow table may have a wider code)."""
  width = int(np.prod(dataset.train_images.shape[1:]))
  return min(trained.latent_dim, width, len(dataset.train_images))


def batch_size(trained: trained_lib.TrainedModel) -> int:
  """Rows per forward pass of every task: the run's ``eval_batch_size``.

  One knob bounds evaluation memory (issue 7): tasks stream the test set
  through the model in batches of this size, and derived passes (importance
  samples, Jacobian passes) fit their extra axis into the same budget.
  """
  return int(getattr(trained.config, 'eval_batch_size', DEFAULT_BATCH))


def batched(trained, fn: Callable, x: np.ndarray) -> np.ndarray:
  """``fn`` jitted over ``x`` in batches of `batch_size` (one compile)."""
  return batching.apply_in_batches(
      jax.jit(fn), x, batch_size=batch_size(trained)
  )


def codes(trained, x) -> np.ndarray:
  """``trained``'s codes of ``x``, in batches (its jitted encode)."""
  return batching.apply_in_batches(
      trained.encode, x, batch_size=batch_size(trained)
  )


def decode(trained, z) -> np.ndarray:
  """Mean reconstructions of codes ``z``, in batches."""
  return batching.apply_in_batches(
      trained.decode, np.asarray(z, np.float32), batch_size=batch_size(trained)
  )


def reconstruct(trained, x) -> np.ndarray:
  return batching.apply_in_batches(
      trained.reconstruct, x, batch_size=batch_size(trained)
  )


def samples(trained, num: int, *, seed: int = 0, train_x=None) -> np.ndarray:
  """``num`` decoded samples, in batches: of the prior of a generative
  model, else of the ex-post density (`TrainedModel.expost_density`, fitted
  on the codes of ``train_x`` if it is not fitted yet)."""
  if not trained.model.generative:
    return expost_samples(trained, num, seed=seed, train_x=train_x)
  return outputs.sample_in_batches(
      functools.partial(
          jax.jit(trained.model.sample, static_argnums=2), trained.params
      ),
      num,
      batch_size=batch_size(trained),
      seed=seed,
  )


def mse(a, b) -> float:
  return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def mean_psnr(clean, images) -> float:
  """Mean per-image PSNR; an image left identical counts as 100 dB, not inf."""
  per_image = image_quality.psnr(clean, np.clip(images, 0.0, 1.0))
  return float(np.mean(np.minimum(per_image, 100.0)))


def expost_samples(trained, num: int, *, seed: int = 0, train_x=None):
  """``num`` decoded draws of ``trained``'s ex-post density."""
  return decode(trained, trained.expost_codes(num, seed=seed, train_x=train_x))
