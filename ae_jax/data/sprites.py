"""Procedural sprite images with known factors: dSprites' grid and a small set.

``dsprites(path)`` reads the official file when given one; otherwise it
renders the same factor grid (3 shapes: square, ellipse, heart; 6 scales
linspace(0.5, 1); 40 orientations k * 2pi / 40; 32 x 32 positions; 64x64
binary images; 737,280 images, each combination once, in the official row
order) in 8-16 s on 2 CPU cores and caches it as packed bits (377 MB,
read back in 2-8 s) under the cache directory. ``xy_sprites()`` is a small colour set for CPU studies and tests.

How the rendering differs from the official images (which were drawn by a
vector renderer we do not have): shapes are point-sampled at pixel centres
(no anti-aliasing, then thresholded, as the official images are binary),
their sizes and the position range are ours (at scale 1 a square is 16 px
wide; centres span pixels 12.5..51.5 in 32 steps, so that every sprite stays inside the image), and the heart is the
implicit curve (x^2 + y^2 - 1)^3 = x^2 y^3. Factor order and sizes are the official ones, so factor-based metrics and
their code apply unchanged; pixel-level numbers are not comparable with
papers' dSprites figures. The orientation levels are k * 2pi / 40, k < 40
(the issue's grid); the official file's own levels (its ``latents_values``,
used for figures when the file is read) are described by its README as 40
values in [0, 2pi], which would make its first and last level the same
angle: check them there.
"""

from __future__ import annotations

import hashlib
import io

from absl import logging
from etils import epath
import numpy as np

from ae_jax.data.ground_truth import GroundTruthData
from ae_jax.data.ground_truth import factor_grid
from ae_jax.metrics import batching
from ae_jax.train import workdir

DSPRITES_FILE = 'dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz'
SHAPES = ('square', 'ellipse', 'heart')
DSPRITES_SIZES = (3, 6, 40, 32, 32)  # shape, scale, orientation, x, y.
# Bump when the rendering changes: the cache file name carries it.
_RENDER_VERSION = 1
_DSPRITES_SIZE = 64
_HALF_WIDTH = 8.0  # Half the square's side at scale 1, in pixels.
_POSITION_RANGE = (12.5, 51.5)  # Sprite centre, first and last position.


def _inside(shape_ids, u, v):
  """Whether the point (u, v), in units of the sprite's half-width, is in it."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  square = jnp.maximum(jnp.abs(u), jnp.abs(v)) <= 1.0
  ellipse = u**2 + (v / 0.5) ** 2 <= 1.0
  # The heart curve spans x in [-1.14, 1.14], y in [-1, 1.24]: scale and
  # centre it into the unit square, point up (image rows grow downwards).
  x, y = 1.14 * u, -1.12 * v + 0.12
  heart = (x**2 + y**2 - 1.0) ** 3 - x**2 * y**3 <= 0.0
  return jnp.select([shape_ids == 0, shape_ids == 1], [square, ellipse], heart)


def render(
    shape_ids, scales, angles, centres_x, centres_y, *, size: int, half_width
) -> np.ndarray:
  """Binary sprites, uint8 ``[N, size, size]`` of 0/255, one per row.

  ``shape_ids`` index `SHAPES`; ``scales`` multiply ``half_width`` (pixels);
  ``angles`` rotate (radians, counter-clockwise); centres are in pixels, the
  pixel (r, c) being the unit square around (c + 0.5, r + 0.5).
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  @jax.jit
  def draw(rows):  # [N, 5]: shape id, scale, angle, centre x, centre y.
    shape_id, scale, angle, cx, cy = rows.T
    shape_id = shape_id.astype(jnp.int32)
    grid = jnp.arange(size, dtype=jnp.float32) + 0.5
    dx = grid[None, :] - cx[:, None]  # [N, W]
    dy = grid[None, :] - cy[:, None]  # [N, H]
    cos, sin = jnp.cos(angle)[:, None, None], jnp.sin(angle)[:, None, None]
    r = (scale * half_width)[:, None, None]
    u = (cos * dx[:, None, :] + sin * dy[:, :, None]) / r
    v = (-sin * dx[:, None, :] + cos * dy[:, :, None]) / r
    hit = _inside(shape_id[:, None, None], u, v)
    return hit.astype(jnp.uint8) * jnp.uint8(255)

  rows = np.stack(
      [shape_ids, scales, angles, centres_x, centres_y], axis=1
  ).astype(np.float32)
  return batching.apply_in_batches(draw, rows, batch_size=8192)


def dsprites_factor_values() -> tuple[np.ndarray, ...]:
  return (
      np.array(SHAPES),
      np.linspace(0.5, 1.0, 6),
      np.arange(40) * (2 * np.pi / 40),
      np.linspace(0.0, 1.0, 32),
      np.linspace(0.0, 1.0, 32),
  )


def _dsprites_data(images: np.ndarray, values=None) -> GroundTruthData:
  return GroundTruthData(
      name='dsprites',
      factor_names=(
          'shape',
          'scale',
          'orientation',
          'position_x',
          'position_y',
      ),
      factor_sizes=DSPRITES_SIZES,
      images=images,
      factor_values=values or dsprites_factor_values(),
  )


def render_dsprites() -> np.ndarray:
  """The procedural dSprites images, uint8 ``[737280, 64, 64, 1]`` (0/255)."""
  values = dsprites_factor_values()
  f = factor_grid(DSPRITES_SIZES)
  lo, hi = _POSITION_RANGE
  positions = np.linspace(lo, hi, 32)
  images = render(
      f[:, 0],
      values[1][f[:, 1]],
      values[2][f[:, 2]],
      positions[f[:, 3]],
      positions[f[:, 4]],
      size=_DSPRITES_SIZE,
      half_width=_HALF_WIDTH,
  )
  return images[..., None]


def dsprites(path: str | None = None, *, cache_dir=None) -> GroundTruthData:
  """dSprites: the official file at ``path``, else the procedural rendering.

  The rendering is cached as ``dsprites_procedural_v<k>.npz`` (packed bits)
  in ``cache_dir``; an unreadable or damaged cache is rendered again.
  """
  if path:
    images, values = read_official_dsprites(path)
    return _dsprites_data(images, values)
  cache = epath.Path(cache_dir) if cache_dir else workdir.cache_dir()
  file = cache / f'dsprites_procedural_v{_RENDER_VERSION}.npz'
  return _dsprites_data(cached_render(file, render_dsprites))


def cached_render(file: epath.Path, render_fn) -> np.ndarray:
  """Binary images ``[N, 64, 64, 1]`` from ``file``, else ``render_fn()``
  (then cached there as packed bits with their checksum)."""
  images = _read_cache(file)
  if images is None:
    logging.info('Rendering %s...', file.name)
    images = render_fn()
    _write_cache(file, images)
  return images


def read_official_dsprites(path: str):
  """``(images, factor_values)`` of the official npz: ``imgs`` as uint8
  0/255 ``[737280, 64, 64, 1]``, and each factor's levels as the file's
  ``latents_values`` give them (when present)."""
  file = epath.Path(path)
  if not file.exists():
    raise FileNotFoundError(
        f'--config.dsprites_file={path}: no such file; point it at '
        f'{DSPRITES_FILE} (github.com/deepmind/dsprites-dataset), or leave it '
        'empty to render the factor grid procedurally.'
    )
  try:
    with file.open('rb') as f, np.load(f, allow_pickle=False) as npz:
      images = np.asarray(npz['imgs'])
      latents = npz['latents_values'] if 'latents_values' in npz else None
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(
        f'--config.dsprites_file={path}: not a readable dSprites npz with an '
        f"'imgs' array ({type(e).__name__}: {e}); download {DSPRITES_FILE} "
        'again, or leave the field empty to render the grid.'
    ) from e
  if images.dtype.kind not in 'biu' or images.max() > 1:
    raise ValueError(
        f'--config.dsprites_file={path}: imgs must hold 0/1 pixels (as the '
        f'official file does), got dtype {images.dtype} with maximum '
        f'{images.max()}; point it at the official {DSPRITES_FILE}.'
    )
  if images.shape != (737280, 64, 64):
    raise ValueError(
        f'--config.dsprites_file={path}: imgs has shape {images.shape}, not '
        f'(737280, 64, 64); point it at the official {DSPRITES_FILE}.'
    )
  images = images.astype(np.uint8, copy=False)  # Ours: scaled in place.
  images *= np.uint8(255)
  values = None
  if latents is not None and latents.shape == (737280, 6):
    values = (np.array(SHAPES),) + tuple(
        np.unique(latents[:, i]) for i in range(2, 6)
    )
  return images[..., None], values


def _read_cache(file: epath.Path) -> np.ndarray | None:
  try:
    with file.open('rb') as f, np.load(f) as npz:
      bits, digest = npz['bits'], str(npz['sha256'])
    if hashlib.sha256(bits.tobytes()).hexdigest() != digest:
      raise ValueError('checksum mismatch')
  except FileNotFoundError:
    return None
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('Ignoring damaged cache %s (%s); rendering again.', file, e)
    return None
  images = np.unpackbits(bits, axis=1)[:, : _DSPRITES_SIZE**2]
  images *= np.uint8(255)
  return images.reshape(-1, _DSPRITES_SIZE, _DSPRITES_SIZE, 1)


def _write_cache(file: epath.Path, images: np.ndarray) -> None:
  bits = np.packbits(images.reshape(len(images), -1) > 0, axis=1)
  digest = hashlib.sha256(bits.tobytes()).hexdigest()
  buffer = io.BytesIO()
  np.savez(buffer, bits=bits, sha256=digest)
  try:
    file.parent.mkdir(parents=True, exist_ok=True)
    workdir.write_bytes(file, buffer.getvalue())
  except OSError as e:
    logging.warning(
        'Could not cache dSprites in %s (%s); keeping it in memory.', file, e
    )


# The small set: shape x scale x colour x position on a 32x32 RGB canvas.
XY_COLOURS = np.array(
    [[1.0, 0.25, 0.25], [0.25, 1.0, 0.25], [0.3, 0.45, 1.0], [1.0, 0.9, 0.2]],
    np.float32,
)


def xy_sprites() -> GroundTruthData:
  """3,600 32x32 RGB images: 3 shapes x 3 scales x 4 colours x 10 x 10 positions.

  In the spirit of disent's XYObject: upright sprites (no rotation) whose
  half-width is 3, 4.5 or 6 pixels, coloured red, green, blue or yellow on
  black, centred on a 10 x 10 grid spanning pixels 7..25. Rendered in well
  under a second; not cached.
  """
  sizes = (3, 3, 4, 10, 10)
  scales = np.array([0.5, 0.75, 1.0])
  positions = np.linspace(7.0, 25.0, 10)
  f = factor_grid(sizes)
  masks = render(
      f[:, 0],
      scales[f[:, 1]],
      np.zeros(len(f)),
      positions[f[:, 3]],
      positions[f[:, 4]],
      size=32,
      half_width=6.0,
  )
  rgb = masks[..., None].astype(np.float32) * XY_COLOURS[f[:, 2]][:, None, None]
  return GroundTruthData(
      name='xy_sprites',
      factor_names=('shape', 'scale', 'colour', 'position_x', 'position_y'),
      factor_sizes=sizes,
      images=np.round(rgb).astype(np.uint8),
      factor_values=(
          np.array(SHAPES),
          scales,
          np.array(['red', 'green', 'blue', 'yellow']),
          positions,
          positions,
      ),
  )
