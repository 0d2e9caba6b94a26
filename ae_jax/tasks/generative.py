"""Generative models: test likelihood, codes against the prior, latent
statistics and interpolations."""

import functools

from etils import epath
import jax
import jax.numpy as jnp
import numpy as np

from ae_jax import figures
from ae_jax import likelihood
from ae_jax import losses
from ae_jax.tasks import common

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
      'mmd': scaled_prior_mmd(common.codes(trained, x), p),
      'mmd_prior_to_prior': scaled_prior_mmd(
          np.asarray(p.sample(jax.random.PRNGKey(1), len(x))), p
      ),
  }
  if baseline is not None:
    out['baseline_mmd'] = scaled_prior_mmd(common.codes(baseline, x), p)
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
  stats = common.batched(lambda v: jnp.concatenate(encode(v), -1), x)
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
