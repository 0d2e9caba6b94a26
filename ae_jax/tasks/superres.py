"""Super-resolution: PSNR and SSIM of test images upsampled from low resolution.

Each test image is average-pooled by a factor (2 and 4, those that divide
its height and width) and brought back to full size three ways: by
nearest-neighbour upsampling (the blocky image itself, which is also what a
model trained with ``noise='downsample'`` sees:
`ae_jax.corruptions.downsample`), by bicubic interpolation, and by the model
fed the nearest-neighbour image (and a baseline model fed the same).
"""

from collections.abc import Sequence

from etils import epath
import jax
import numpy as np

from ae_jax import corruptions
from ae_jax import figures
from ae_jax.models import capabilities
from ae_jax.tasks import common
from ae_jax.tasks import denoising

FACTORS = (2, 4)
SHOWN = 10  # Test images in the figure.


def factors(image_shape: Sequence[int]) -> tuple[int, ...]:
  """The `FACTORS` that divide both sides of ``(H, W, C)`` images."""
  h, w = image_shape[:2]
  return tuple(f for f in FACTORS if h % f == 0 and w % f == 0)


def nearest(trained, images: np.ndarray, factor: int) -> np.ndarray:
  """``images [N, H, W, C]`` average-pooled by ``factor`` and upsampled by
  nearest neighbour (in ``trained``'s eval batches): exactly the input of a
  model trained with ``noise='downsample'`` at ``factor``.
  ``[:, ::factor, ::factor]`` of it is the low-resolution image."""
  return common.batched(
      trained,
      lambda x: corruptions.downsample(None, x, level=factor),
      images,
  )


def bicubic(trained, low: np.ndarray, image_shape: Sequence[int]):
  """``low`` upsampled to ``(H, W, C)`` images by `jax.image.resize`'s
  bicubic interpolation (Keys' cubic convolution, a = -0.5, as in PIL; pixel
  centres aligned, weights renormalised at the border), clipped to [0, 1]
  (the kernel overshoots at edges); in ``trained``'s eval batches."""
  up = lambda x: jax.image.resize(x, (len(x), *image_shape), method='bicubic')
  return np.clip(common.batched(trained, up, low), 0.0, 1.0)


def trained_factor(model) -> int:
  """The factor ``model`` was trained to undo (0: not a super-resolution model)."""
  if not capabilities.is_super_resolution(model):
    return 0
  return int(round(model.noise_level))


def _framed(low: np.ndarray, image_shape: Sequence[int]) -> np.ndarray:
  """Low-resolution images drawn at their own size, centred on black
  full-size canvases (for the figure)."""
  h, w = image_shape[:2]
  lh, lw = low.shape[1:3]
  canvas = np.zeros((len(low), *image_shape), low.dtype)
  top, left = (h - lh) // 2, (w - lw) // 2
  canvas[:, top : top + lh, left : left + lw] = low
  return canvas


def superres(trained, dataset, baseline=None, outdir=None) -> dict:
  """PSNR and SSIM (means over the test images, as task ``denoise``) of the
  model's output, bicubic and nearest-neighbour upsampling (and
  ``baseline``'s output), one row per factor.

  With ``outdir`` also ``superres.png``: per factor, 10 test images at low
  resolution (drawn at their own size), nearest, bicubic, model (and
  baseline); then the originals.

  Raises:
    ValueError: if no factor of `FACTORS` divides the image size.
  """
  x = dataset.test_images
  shape = figures.image_shape(dataset.input_shape)
  usable = factors(shape)
  if not usable:
    raise ValueError(
        f'Task superres downsamples by {FACTORS}, none of which divides the '
        f'{shape[0]}x{shape[1]} images of {dataset.name}; use a dataset whose '
        'image sides are even.'
    )
  images = np.asarray(x, np.float32).reshape(len(x), *shape)
  own = trained_factor(trained.model)
  rows, shown = [], {}
  for factor in usable:
    blocky = nearest(trained, images, factor)
    low = blocky[:, ::factor, ::factor]
    cubic = bicubic(trained, low, shape)
    # The models see the nearest-neighbour image, in their own layout.
    model_in = blocky.reshape(x.shape)
    outputs = {'model': common.reconstruct(trained, model_in)}
    if baseline is not None:
      outputs['baseline'] = common.reconstruct(baseline, model_in)
    outputs = {k: v.reshape(images.shape) for k, v in outputs.items()}
    row = {
        'factor': factor,
        'low_res': f'{shape[0] // factor}x{shape[1] // factor}',
        'trained_at_factor': factor == own,
    }
    upsampled = {'nearest': blocky, 'bicubic': cubic, **outputs}
    for name, images_up in upsampled.items():
      row[f'psnr_{name}'] = common.mean_psnr(images, images_up)
    row['psnr_model_minus_bicubic'] = row['psnr_model'] - row['psnr_bicubic']
    for name, images_up in upsampled.items():
      row[f'ssim_{name}'] = denoising.mean_ssim(images, images_up, shape)
    rows.append(row)
    shown[f'{row["low_res"]} (x{factor})'] = _framed(low[:SHOWN], shape)
    for name, images_up in upsampled.items():
      shown[f'{name} x{factor}'] = images_up[:SHOWN]
  shown['original'] = images[:SHOWN]
  if outdir is not None:
    figures.save_image_rows(
        epath.Path(outdir) / 'superres.png',
        shown,
        shape,
        title=f'Super-resolution, {dataset.name} test images',
    )
  return {'trained_factor': own, 'rows': rows}
