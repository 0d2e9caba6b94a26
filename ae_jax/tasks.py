"""Evaluation tasks run on a trained work directory, each against its baseline.

``run(name, trained, dataset, baseline=None) -> dict`` of plain numbers (JSON
ready). Each task measures the property a model family is built for:

  'pca'       test reconstruction MSE against PCA with as many components as
              the code (Hinton & Salakhutdinov 2006);
  'sparsity'  fraction of near-zero code entries and each unit's mean
              activation (against ``config.sparsity_target`` for KL sparsity);
  'denoise'   PSNR of noisy and denoised test images at several noise types
              and levels, and of a baseline model fed the same noisy input;
  'jacobian'  mean Frobenius norm of the encoder Jacobian on test images
              (contractive AE), and the baseline model's;
  'probe'     logistic-regression accuracy on the codes, on raw pixels and on
              PCA features of the same size (and the model's own accuracy for
              a classifier);
  'prior'     MMD between test codes and the model's prior (adversarial
              autoencoder), against a baseline model's codes;
  'nll'       importance-sampled test negative log-likelihood (k = 5000) of a
              VAE or IWAE;
  'latent'    per-dimension KL, active units and a latent interpolation grid
              of a VAE-family model.
"""

from collections.abc import Callable
import functools

from etils import epath
import jax
import jax.numpy as jnp
import numpy as np

from ae_jax import corruptions
from ae_jax import data
from ae_jax import evaluation
from ae_jax import figures
from ae_jax import likelihood
from ae_jax import losses
from ae_jax import trained as trained_lib

BATCH = 500
JACOBIAN_EXAMPLES = 1000
NOISE_LEVELS = {
    'gaussian': (0.1, 0.3, 0.5),
    'masking': (0.25, 0.5),
    'salt_and_pepper': (0.1, 0.3),
}


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


def _batched(fn: Callable, x: np.ndarray) -> np.ndarray:
  return evaluation.apply_in_batches(jax.jit(fn), x, batch_size=BATCH)


def codes(trained, x) -> np.ndarray:
  """``trained``'s codes of ``x``, in batches (its jitted encode, one compile)."""
  return evaluation.apply_in_batches(trained.encode, x, batch_size=BATCH)


def _reconstruct(trained, x):
  return evaluation.apply_in_batches(trained.reconstruct, x, batch_size=BATCH)


def _mse(a, b) -> float:
  return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def pca(trained, dataset, baseline=None, outdir=None) -> dict:
  del outdir  # No figure.
  del baseline
  x = dataset.test_images
  ae = _mse(_reconstruct(trained, x), x)
  flat = lambda a: a.reshape(len(a), -1)
  pca_mse = evaluation.pca_reconstruction_mse(
      flat(dataset.train_images), flat(x), num_components=trained.latent_dim
  )
  return {
      'code_size': trained.latent_dim,
      'ae_mse': ae,
      'pca_mse': pca_mse,
      'ae_over_pca': ae / pca_mse,
  }


def sparsity(trained, dataset, baseline=None, outdir=None) -> dict:
  del outdir  # No figure.
  del baseline
  x = dataset.test_images
  z = codes(trained, x)
  activation = evaluation.mean_unit_activation(z)
  out = {
      'fraction_near_zero': evaluation.fraction_near_zero(z),
      'mean_activation': float(activation.mean()),
      'min_unit_activation': float(activation.min()),
      'max_unit_activation': float(activation.max()),
      'mse': _mse(_reconstruct(trained, x), x),
  }
  if trained.config.sparsity == 'kl':
    rho = trained.config.sparsity_target
    out['target'] = rho
    out['max_deviation_from_target'] = float(np.abs(activation - rho).max())
  return out


def denoise(trained, dataset, baseline=None, outdir=None) -> dict:
  """PSNR table; with ``outdir`` also ``denoise.png``: 10 test images, and
  per noise type at its middle level, noisy / denoised (/ baseline)."""
  x = dataset.test_images
  rows, shown = [], {'clean': x[:10]}
  for noise, levels in NOISE_LEVELS.items():
    for i, level in enumerate(levels):
      noisy = np.asarray(
          corruptions.corrupt(noise, jax.random.PRNGKey(0), x, level=level)
      )
      denoised = _reconstruct(trained, noisy)
      row = {
          'noise': noise,
          'level': level,
          'psnr_noisy': _psnr(x, noisy),
          'psnr_denoised': _psnr(x, denoised),
      }
      if baseline is not None:
        base = _reconstruct(baseline, noisy)
        row['psnr_baseline'] = _psnr(x, base)
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


def _psnr(clean, images) -> float:
  """Mean per-image PSNR; an image left identical counts as 100 dB, not inf."""
  per_image = evaluation.psnr(clean, np.clip(images, 0.0, 1.0))
  return float(np.mean(np.minimum(per_image, 100.0)))


def jacobian(trained, dataset, baseline=None, outdir=None) -> dict:
  del outdir  # No figure.
  x = dataset.test_images[:JACOBIAN_EXAMPLES]
  norm = lambda t: evaluation.mean_encoder_jacobian_norm(
      functools.partial(t.model.encode, t.params), x
  )
  out = {
      'examples': len(x),
      'jacobian_norm': norm(trained),
      'mse': _mse(
          _reconstruct(trained, dataset.test_images), dataset.test_images
      ),
  }
  if baseline is not None:
    out['baseline_jacobian_norm'] = norm(baseline)
    out['baseline_mse'] = _mse(
        _reconstruct(baseline, dataset.test_images), dataset.test_images
    )
    out['ratio'] = out['jacobian_norm'] / out['baseline_jacobian_norm']
  return out


def probe(trained, dataset, baseline=None, outdir=None) -> dict:
  del outdir  # No figure.
  del baseline
  flat = lambda a: a.reshape(len(a), -1)
  train_x, test_x = flat(dataset.train_images), flat(dataset.test_images)
  labels = dataset.train_labels, dataset.test_labels
  acc = lambda a, b: evaluation.linear_probe_accuracy(
      a, labels[0], b, labels[1]
  )
  k = trained.latent_dim
  pca_train, pca_test = evaluation.pca_codes(train_x, test_x, num_components=k)
  out = {
      'code_size': k,
      'codes': acc(
          codes(trained, dataset.train_images),
          codes(trained, dataset.test_images),
      ),
      'raw_pixels': acc(train_x, test_x),
      'pca': acc(pca_train, pca_test),
  }
  if hasattr(trained.model, 'predict'):  # A classifier: its own accuracy.
    predicted = _batched(
        functools.partial(trained.model.predict, trained.params),
        dataset.test_images,
    )
    out['model_accuracy'] = float(np.mean(predicted == dataset.test_labels))
  return out


MMD_EXAMPLES = 2000
NLL_EXAMPLES = 1000  # k = 5000 on all 10,000 images is hours on a CPU.
NLL_SAMPLES = 5000


def nll(trained, dataset, baseline=None, outdir=None) -> dict:
  """Importance-sampled test negative log-likelihood (k = 5000) of a VAE or
  IWAE, on the first `NLL_EXAMPLES` test images, beside their negative ELBO."""
  del baseline, outdir
  model = trained.model
  if not hasattr(model, 'log_importance_weights'):
    raise ValueError(
        f'Task nll needs a latent-variable model with importance weights '
        f'(vae, iwae); {trained.config.model!r} has none.'
    )
  x = dataset.test_images[:NLL_EXAMPLES]
  fn = functools.partial(model.log_importance_weights, trained.params)
  log_px = likelihood.dataset_log_likelihood(fn, x, num_samples=NLL_SAMPLES)
  elbo = likelihood.dataset_log_likelihood(fn, x, num_samples=1)
  return {
      'examples': len(x),
      'num_samples': NLL_SAMPLES,
      'nll': float(-np.mean(log_px)),
      'neg_elbo_one_sample': float(-np.mean(elbo)),
  }


def scaled_prior_mmd(z: np.ndarray, prior, *, seed: int = 0) -> float:
  """MMD between codes and as many prior samples, after scaling the codes by
  one number so their mean squared norm equals the prior's (so a model is not
  rewarded or punished for the overall scale of its codes)."""
  prior_z = np.asarray(prior.sample(jax.random.PRNGKey(seed), len(z)))
  scale = np.sqrt(np.mean(np.sum(prior_z**2, -1)) / np.mean(np.sum(z**2, -1)))
  return float(losses.mmd(jnp.asarray(z * scale), jnp.asarray(prior_z)))


def prior(trained, dataset, baseline=None, outdir=None) -> dict:
  """How well test codes match the model's prior (adversarial autoencoders),
  against a baseline model's codes and against a second prior sample."""
  del outdir  # latent_codes.png of the run shows the codes.
  p = getattr(trained.model, 'prior', None)
  if p is None:
    raise ValueError(
        f'Task prior needs a model with a prior (aae); '
        f'{trained.config.model!r} has none.'
    )
  x = dataset.test_images[:MMD_EXAMPLES]
  out = {
      'examples': len(x),
      'mmd': scaled_prior_mmd(codes(trained, x), p),
      'mmd_prior_to_prior': scaled_prior_mmd(
          np.asarray(p.sample(jax.random.PRNGKey(1), len(x))), p
      ),
  }
  if baseline is not None:
    out['baseline_mmd'] = scaled_prior_mmd(codes(baseline, x), p)
  return out


ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. (2015), Sec. 5.2.


def latent(trained, dataset, baseline=None, outdir=None) -> dict:
  """Per-dimension KL and active units of a VAE-family model, and with
  ``outdir`` ``interpolations.png``: decoded straight lines between the codes
  of pairs of test images (8 pairs, 10 steps)."""
  del baseline
  model = trained.model
  if not hasattr(model, 'encode_distribution'):
    raise ValueError(
        f'Task latent needs a model with a Gaussian posterior (vae, iwae, '
        f'factor_vae); {trained.config.model!r} has none.'
    )
  x = dataset.test_images
  encode = functools.partial(model.encode_distribution, trained.params)
  stats = _batched(lambda v: jnp.concatenate(encode(v), -1), x)
  mean, log_var = np.split(stats.astype(np.float64), 2, axis=-1)
  kl = 0.5 * (mean**2 + np.exp(log_var) - 1.0 - log_var)  # Per dimension.
  activity = np.var(mean, axis=0)  # Cov_x(E_q[z_u]).
  out = {
      'kl_per_dimension': [float(v) for v in kl.mean(0)],
      'activity_per_dimension': [float(v) for v in activity],
      'active_units': int(np.sum(activity > ACTIVE_UNIT_THRESHOLD)),
      'latent_dim': int(mean.shape[1]),
      'total_kl': float(kl.sum(1).mean()),
  }
  if outdir is not None:
    steps = np.linspace(0.0, 1.0, 10)[:, None]
    rows = {}
    for i in range(8):
      a, b = mean[2 * i], mean[2 * i + 1]
      path = ((1 - steps) * a + steps * b).astype(np.float32)
      rows[f'pair {i}'] = np.asarray(model.decode(trained.params, path))
    figures.save_image_rows(
        epath.Path(outdir) / 'interpolations.png',
        rows,
        dataset.input_shape,
        title=f'Latent interpolations between test images, {dataset.name}',
    )
  return out


TASKS = {
    'pca': pca,
    'sparsity': sparsity,
    'denoise': denoise,
    'jacobian': jacobian,
    'probe': probe,
    'prior': prior,
    'nll': nll,
    'latent': latent,
}


def run(name, trained, dataset, baseline=None, outdir=None) -> dict:
  """Task ``name`` on ``trained``; figures (if any) go to ``outdir``."""
  if name not in TASKS:
    raise ValueError(f'Unknown task {name!r}; use one of {sorted(TASKS)}.')
  return TASKS[name](trained, dataset, baseline, outdir)
