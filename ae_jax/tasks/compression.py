"""Compression: rate-distortion of the quantised code against PCA."""

from etils import epath

from ae_jax import figures
from ae_jax.metrics import pca
from ae_jax.metrics import rate_distortion
from ae_jax.tasks import common

BITS = (2, 3, 4, 6, 8)


def _model_rows(method, trained, dataset) -> tuple[list[dict], float]:
  """Rate-distortion rows of a trained model, and its unquantised test MSE."""
  decode = lambda z: common.decode(trained, z)
  encode = lambda x: common.codes(trained, x)
  points = rate_distortion.rate_distortion(
      encode, decode, dataset.train_images, dataset.test_images, BITS
  )
  x = dataset.test_images
  raw = common.mse(common.reconstruct(trained, x), x)
  return [{'method': method, **p} for p in points], raw


def compression(trained, dataset, baseline=None, outdir=None) -> dict:
  """Bits per test image of the quantised code against reconstruction MSE.

  Per method (the model; PCA with as many components, the same quantiser;
  the baseline model if given) and bits per code dimension in `BITS`: the
  fixed and entropy-coded rates and the test MSE / PSNR (see
  `ae_jax.metrics.rate_distortion`). ``unquantized_mse`` gives each method's MSE from
  unrounded float32 codes, the limit of many bits. With ``outdir`` also
  ``rate_distortion.png``: MSE against bits per image, entropy-coded and
  fixed rate, one curve each per method.
  """
  k = trained.latent_dim
  rows, raw = _model_rows('model', trained, dataset)
  unquantized = {'model': raw}
  pca_points = rate_distortion.pca_rate_distortion(
      dataset.train_images, dataset.test_images, k, BITS
  )
  rows += [{'method': 'pca', **p} for p in pca_points]
  flat = lambda a: a.reshape(len(a), -1)
  unquantized['pca'] = pca.pca_reconstruction_mse(
      flat(dataset.train_images), flat(dataset.test_images), num_components=k
  )
  if baseline is not None:
    base_rows, unquantized['baseline'] = _model_rows(
        'baseline', baseline, dataset
    )
    rows += base_rows
  if outdir is not None:
    curves = {}
    for method in unquantized:
      mine = [r for r in rows if r['method'] == method]
      mse = [r['mse'] for r in mine]
      curves[f'{method}, entropy-coded'] = (
          [r['entropy_bits_per_image'] for r in mine],
          mse,
      )
      curves[f'{method}, fixed rate'] = (
          [r['fixed_bits_per_image'] for r in mine],
          mse,
      )
    figures.save_curves(
        epath.Path(outdir) / 'rate_distortion.png',
        curves,
        xlabel='bits per test image',
        ylabel='test MSE per pixel',
        title=f'Rate-distortion of quantised codes, {dataset.name}, {k}-d',
        logy=True,
    )
  return {
      'code_size': k,
      'rows': rows,
      'unquantized_mse': unquantized,
  }
