"""What every evaluation task shares: the run's data and batched, jitted
encoders and decoders of a trained model."""

from collections.abc import Callable

import jax
import numpy as np

from ae_jax import data
from ae_jax import evaluation
from ae_jax import trained as trained_lib

BATCH = 500


def load_data(trained: trained_lib.TrainedModel) -> data.Dataset:
  """The data a work directory was trained on, in its layout."""
  c = trained.config
  return data.load_dataset(
      c.dataset,
      data_dir=c.data_dir or None,
      idx_dir=c.idx_dir or None,
      layout=c.layout,
      binarize='static' if c.binarize == 'dynamic' else c.binarize,
      seed=c.seed,
  )


def batched(fn: Callable, x: np.ndarray) -> np.ndarray:
  return evaluation.apply_in_batches(jax.jit(fn), x, batch_size=BATCH)


def codes(trained, x) -> np.ndarray:
  """``trained``'s codes of ``x``, in batches (its jitted encode, one compile)."""
  return evaluation.apply_in_batches(trained.encode, x, batch_size=BATCH)


def reconstruct(trained, x):
  return evaluation.apply_in_batches(trained.reconstruct, x, batch_size=BATCH)


def mse(a, b) -> float:
  return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def mean_psnr(clean, images) -> float:
  """Mean per-image PSNR; an image left identical counts as 100 dB, not inf."""
  per_image = evaluation.psnr(clean, np.clip(images, 0.0, 1.0))
  return float(np.mean(np.minimum(per_image, 100.0)))
