"""ae_jax's data layer: datasets in host memory and the batches made from them.

``load_dataset`` materialises a dataset's splits as NumPy arrays (see
``datasets``); ``train_batches`` / ``eval_batches`` cut them into fixed-shape,
per-process batches and ``prefetch`` runs that (plus the transfer to devices)
ahead of the training step (see ``pipeline``). ``load_ground_truth(name)`` gives
the datasets with known factors and the sampler the disentanglement metrics
draw from (see ``ground_truth`` and ``sprites``).
"""

from ae_jax.data.datasets import DATASET_NAMES
from ae_jax.data.datasets import Dataset
from ae_jax.data.datasets import DatasetNotFoundError
from ae_jax.data.datasets import load_configured
from ae_jax.data.datasets import load_dataset
from ae_jax.data.ground_truth import GroundTruthData
from ae_jax.data.ground_truth import load_ground_truth
from ae_jax.data.pipeline import as_unit_float
from ae_jax.data.pipeline import eval_batches
from ae_jax.data.pipeline import num_eval_batches
from ae_jax.data.pipeline import prefetch
from ae_jax.data.pipeline import train_batches
from ae_jax.data.pipeline import train_indices

__all__ = [
    'DATASET_NAMES',
    'Dataset',
    'DatasetNotFoundError',
    'GroundTruthData',
    'as_unit_float',
    'load_configured',
    'load_ground_truth',
    'eval_batches',
    'load_dataset',
    'num_eval_batches',
    'prefetch',
    'train_batches',
    'train_indices',
]
