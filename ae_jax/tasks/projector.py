"""Embedding export: the test codes for TensorBoard's embedding projector.

Writes the codes of the first `MAX_POINTS` test examples, their labels (and
class names) and, for image data, a sprite of the examples themselves, with
tensorboardX's ``SummaryWriter.add_embedding``, into
``<outdir>/projector/``. Open it with

  tensorboard --logdir <workdir>/projector

(the PROJECTOR tab: PCA, t-SNE or UMAP of the codes, points coloured or
labelled by class, hovering shows the image). Nothing is measured; the
result says where the files are and how many points they hold.

Files (tensorboardX's layout; ``<step>`` is the model's training step,
zero-padded to five digits, ``codes`` the tensor's name):

  projector_config.pbtxt        the projector's index of the files below;
  <step>/codes/tensors.tsv      one code per line, tab-separated;
  <step>/codes/metadata.tsv     a header line ``label<TAB>class`` and one
                                line per point (just the label id, no
                                header, when the data has no class names);
  <step>/codes/sprite.png       the points' images tiled row by row (image
                                data only).
"""

import math
import numbers
import os
import shutil

import numpy as np

from ae_jax import figures
from ae_jax.tasks import common

# Test points exported (the first ones, in the split's order): enough for
# t-SNE in the browser to show the classes, small enough that it stays
# interactive (TensorBoard's t-SNE samples 10,000 points at most).
MAX_POINTS = 5000
SUBDIR = 'projector'
TAG = 'codes'
# The largest sprite side TensorBoard's frontend loads (tensorboardX refuses
# larger ones with an assertion).
MAX_SPRITE_SIDE = 8192


def _sprite_side(num: int, tile: int) -> int:
  """The side of tensorboardX's square sprite of ``num`` square tiles."""
  per_row = math.ceil(math.sqrt(num * tile * tile) / tile)
  return per_row * tile


def _sprites(images: np.ndarray, shape) -> np.ndarray:
  """``[N, C, S, S]`` tiles in [0, 1]: each image padded with black at the
  bottom and right to a square (the projector needs square tiles)."""
  h, w, c = shape
  side = max(h, w)
  x = np.clip(np.asarray(images, np.float32).reshape(-1, h, w, c), 0.0, 1.0)
  tiles = np.zeros((len(x), side, side, c), np.float32)
  tiles[:, :h, :w] = x
  return tiles.transpose(0, 3, 1, 2)


def _clean(name: str) -> str:
  """A metadata cell: tabs and newlines would break the TSV."""
  return ' '.join(str(name).split())


def projector(
    trained, dataset, baseline=None, outdir=None, *, max_points=None
) -> dict:
  """Writes the codes, labels and (image data) sprites of the first
  ``max_points`` test examples (default `MAX_POINTS`) for TensorBoard's
  projector into ``<outdir>/projector/``, replacing an earlier export.

  Returns ``points``, ``code_size``, ``sprite`` (whether images were
  written: for image data (`figures.image_shape_or_none`, not a dataset marked
  ``is_images=False``) whose values are in [0, 1]), ``logdir`` (for
  ``tensorboard --logdir``) and the paths of ``config``, ``tensors``,
  ``metadata`` and ``sprite_file`` (None without sprites).
  """
  del baseline
  max_points = MAX_POINTS if max_points is None else max_points
  if (
      isinstance(max_points, bool)
      or not isinstance(max_points, numbers.Integral)
      or max_points < 1
  ):
    raise ValueError(
        'projector: max_points (--projector_points) must be a positive '
        f'int, got {max_points!r}'
    )
  if outdir is None:
    raise ValueError(
        'projector: writes files, so it needs outdir (experiments.evaluate '
        'passes the work directory); pass outdir=<a directory>.'
    )
  num = min(int(max_points), len(dataset.test_labels))
  x = dataset.test_images[:num]
  labels = np.asarray(dataset.test_labels[:num])
  shape = figures.image_shape_or_none(dataset.input_shape)
  # Vectors the data loader knows are not images (a csv: table), and other
  # data outside [0, 1] (a standardised table), get no sprite.
  if not getattr(dataset, 'is_images', True):
    shape = None
  if shape is not None and (x.min() < 0 or x.max() > 1):
    shape = None
  if shape is not None:
    tile = max(shape[:2])
    if _sprite_side(num, tile) > MAX_SPRITE_SIDE:
      most = (MAX_SPRITE_SIDE // tile) ** 2
      raise ValueError(
          f'projector: max_points={max_points} gives a sprite of '
          f'{_sprite_side(num, tile)} px a side, more than the '
          f'{MAX_SPRITE_SIDE} TensorBoard loads; use max_points <= {most}.'
      )

  z = np.asarray(common.codes(trained, x), np.float32).reshape(num, -1)
  names = tuple(getattr(dataset, 'class_names', ()) or ())
  if names:
    metadata = [[int(y), _clean(names[y])] for y in labels]
    header = ['label', 'class']
  else:
    metadata, header = [int(y) for y in labels], None

  # pylint: disable-next=g-import-not-at-top
  from tensorboardX import SummaryWriter

  final = os.path.join(os.fspath(outdir), SUBDIR)
  staging = final + '.tmp'
  # add_embedding appends to projector_config.pbtxt: write a fresh folder,
  # then swap it in, so a rerun (or a killed one) leaves one clean export.
  shutil.rmtree(staging, ignore_errors=True)
  writer = SummaryWriter(logdir=staging)
  try:
    writer.add_embedding(
        z,
        metadata=metadata,
        label_img=None if shape is None else _sprites(x, shape),
        global_step=int(trained.step),
        tag=TAG,
        metadata_header=header,
    )
  finally:
    writer.close()
  shutil.rmtree(final, ignore_errors=True)
  os.replace(staging, final)
  folder = os.path.join(final, f'{int(trained.step):05d}', TAG)
  return {
      'points': int(num),
      'code_size': int(z.shape[1]),
      'sprite': shape is not None,
      'logdir': final,
      'config': os.path.join(final, 'projector_config.pbtxt'),
      'tensors': os.path.join(folder, 'tensors.tsv'),
      'metadata': os.path.join(folder, 'metadata.tsv'),
      'sprite_file': (
          None if shape is None else os.path.join(folder, 'sprite.png')
      ),
  }
