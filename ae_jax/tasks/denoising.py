"""Denoising: PSNR and SSIM of noisy and denoised test images."""

from etils import epath
import jax
import numpy as np

from ae_jax import corruptions
from ae_jax import figures
from ae_jax.metrics import image_quality
from ae_jax.tasks import common

NOISE_LEVELS = {
    'gaussian': (0.1, 0.3, 0.5),
    'masking': (0.25, 0.5),
    'salt_and_pepper': (0.1, 0.3),
}


def mean_ssim(clean, images, image_shape) -> float:
  """Mean per-image SSIM of ``images`` clipped to [0, 1] (as `mean_psnr`)."""
  per_image = image_quality.ssim(
      clean, np.clip(images, 0.0, 1.0), image_shape=image_shape
  )
  return float(np.mean(per_image))


def denoise(trained, dataset, baseline=None, outdir=None) -> dict:
  """PSNR and SSIM table (means over the test images; SSIM with an 11x11
  Gaussian window, or the largest odd one that fits smaller images, see
  `image_quality.ssim`); with ``outdir`` also ``denoise.png``: 10 test images,
  and per noise type at its middle level, noisy / denoised (/ baseline)."""
  x = dataset.test_images
  shape = figures.image_shape(dataset.input_shape)
  rows, shown = [], {'clean': x[:10]}
  for noise, levels in NOISE_LEVELS.items():
    for i, level in enumerate(levels):
      noisy = np.asarray(
          corruptions.corrupt(noise, jax.random.PRNGKey(0), x, level=level)
      )
      denoised = common.reconstruct(trained, noisy)
      row = {
          'noise': noise,
          'level': level,
          'psnr_noisy': common.mean_psnr(x, noisy),
          'psnr_denoised': common.mean_psnr(x, denoised),
      }
      if baseline is not None:
        base = common.reconstruct(baseline, noisy)
        row['psnr_baseline'] = common.mean_psnr(x, base)
      row['ssim_noisy'] = mean_ssim(x, noisy, shape)
      row['ssim_denoised'] = mean_ssim(x, denoised, shape)
      if baseline is not None:
        row['ssim_baseline'] = mean_ssim(x, base, shape)
      if i == (len(levels) - 1) // 2:  # The middle level goes in the figure.
        shown[f'{noise} {level}'] = noisy[:10]
        shown[f'denoised ({noise})'] = denoised[:10]
        if baseline is not None:
          shown[f'baseline ({noise})'] = base[:10]
      rows.append(row)
  if outdir is not None:
    figures.save_image_rows(
        epath.Path(outdir) / 'denoise.png',
        shown,
        dataset.input_shape,
        title=f'Denoising, {dataset.name} test images',
    )
  return {'rows': rows}
