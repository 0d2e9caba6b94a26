r"""Which one-class anomaly score: corrections of the reconstruction error.

  python -m experiments.one_class_scores              # Fashion-MNIST, seed 0
  python -m experiments.one_class_scores --classes=0,8 --epochs=2 \
      --config=experiments/configs/ae.py:smoke

Trains the one-class protocol's model per class (`ae_jax.tasks.one_class`,
the same trainer, keys and epochs) and scores the test set in several ways,
all higher = more anomalous, to show what each buys (BUILD.md, "Reproducing
the papers"):

  mse              reconstruction error per pixel (`ae_jax.anomaly`)
  mse_over_tv      ... over the image's total variation (`ae_jax.anomaly`)
  tv_alone         minus the total variation: the complexity alone, no model
  mse_minus_png    log mse minus log PNG length (Serra et al. 2020)
  mse_minus_zlib   log mse minus log zlib length of the 8-bit pixels
  mse_over_var     mse over the image's pixel variance
  code_distance    Mahalanobis distance of the code to the class's training
                   codes (a Gaussian fitted to them)

Prints one Markdown table: AUROC % per class and the mean of each score.
"""

import io
import os
import zlib

from absl import app
from absl import flags
import jax
from ml_collections import config_flags
import numpy as np
from PIL import Image

from ae_jax import anomaly
from ae_jax import figures
from ae_jax.metrics import batching
from ae_jax.tasks import markdown
from ae_jax.tasks import one_class
from experiments import cli

SCORES = (
    'mse',
    'mse_over_tv',
    'tv_alone',
    'mse_minus_png',
    'mse_minus_zlib',
    'mse_over_var',
    'code_distance',
)

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs', 'ae.py')
    + ':dataset=fashion_mnist',
    'Model config file (experiments/configs/*.py[:args]).',
    lock_config=True,
)
_CLASSES = flags.DEFINE_list('classes', None, 'Normal classes (default: all).')
_EPOCHS = flags.DEFINE_integer(
    'epochs', one_class.DEFAULT_EPOCHS, 'Training epochs per class.'
)


def _code_lengths(images: np.ndarray) -> dict[str, np.ndarray]:
  """Bits of each image as a PNG and as zlib-compressed 8-bit pixels."""
  pixels = np.round(255 * np.clip(images, 0, 1)).astype(np.uint8)
  png, deflate = [], []
  for image in pixels:
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
        buffer, 'PNG', optimize=True
    )
    png.append(8 * len(buffer.getvalue()))
    deflate.append(8 * len(zlib.compress(image.tobytes(), 9)))
  return {'png': np.array(png, float), 'zlib': np.array(deflate, float)}


def _mahalanobis(train_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
  mean = train_codes.mean(0)
  cov = np.cov(train_codes.T) + 1e-6 * np.eye(train_codes.shape[1])
  centred = codes - mean
  return np.einsum('ni,ij,nj->n', centred, np.linalg.inv(cov), centred)


def run(config, classes=None, epochs=one_class.DEFAULT_EPOCHS) -> list[dict]:
  """AUROC (%) of every score in `SCORES`, one row per class."""
  config = one_class.check_args(config, epochs, 0.0)
  dataset, classes, _, trainer = one_class.setup(
      config, classes, epochs, kinds=('mse', 'mse_over_tv')
  )
  model = trainer.model
  x = dataset.test_images
  images = x.reshape(len(x), *figures.image_shape(x.shape[1:]))
  flat = images.reshape(len(x), -1).astype(np.float64)
  tv = np.asarray(anomaly.total_variation(images), np.float64)
  lengths = _code_lengths(images)
  rows = []
  for c in classes:
    params, _ = trainer.train(c)
    mse = anomaly.score(model, params, x, 'mse')
    encode = jax.jit(lambda v, p=params: model.encode(p, v))
    codes, train_codes = (
        batching.apply_in_batches(encode, v, batch_size=500).reshape(len(v), -1)
        for v in (x, dataset.train_images[dataset.train_labels == c])
    )
    scores = {
        'mse': mse,
        'mse_over_tv': anomaly.score(model, params, x, 'mse_over_tv'),
        'tv_alone': -tv,
        'mse_minus_png': np.log(mse) - np.log(lengths['png']),
        'mse_minus_zlib': np.log(mse) - np.log(lengths['zlib']),
        'mse_over_var': mse / (flat.var(1) + 1e-6),
        'code_distance': _mahalanobis(train_codes, codes),
    }
    is_anomaly = dataset.test_labels != c
    rows.append(
        {'class': c}
        | {k: 100 * anomaly.auroc(scores[k], is_anomaly) for k in SCORES}
    )
  return rows


def table(rows: list[dict]) -> str:
  mean = {k: np.mean([r[k] for r in rows]) for k in SCORES}
  cells = lambda r: {k: f'{r[k]:.1f}' for k in SCORES}
  return markdown.table(
      [{'class': r['class'], **cells(r)} for r in rows]
      + [{'class': 'mean', **{k: f'{v:.2f}' for k, v in mean.items()}}]
  )


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  rows = cli.exit_on_user_error(
      lambda: run(
          _CONFIG.value,
          one_class.parse_classes(_CLASSES.value),
          _EPOCHS.value,
      )
  )
  print(table(rows))


if __name__ == '__main__':
  cli.run(main)
