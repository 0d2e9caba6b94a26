"""Generative models: test likelihood, codes against the prior, latent
statistics and interpolations."""

import functools
import time

from etils import epath
import jax
import jax.numpy as jnp
import numpy as np

from ae_jax import figures
from ae_jax import losses
from ae_jax.metrics import code_stats
from ae_jax.metrics import likelihood
from ae_jax.metrics import sample_quality
from ae_jax.models import capabilities
from ae_jax.tasks import common
from ae_jax.tasks import feature_classifier

MMD_EXAMPLES = 2000
# Test images of `nll` by default (k = 5000 on all 10,000: --nll_examples=0;
# its wall time in BUILD.md).
NLL_EXAMPLES = 1000
NLL_SAMPLES = 5000


def nll(
    trained, dataset, baseline=None, outdir=None, *, examples=NLL_EXAMPLES
) -> dict:
  """Importance-sampled test negative log-likelihood (k = 5000) of a VAE or
  IWAE, on the first ``examples`` test images (0: all of them, the papers'
  protocol), beside their negative ELBO, and the wall time it took."""
  del baseline, outdir
  if (
      isinstance(examples, bool)
      or not isinstance(examples, int)
      or examples < 0
  ):
    raise ValueError(
        f'--nll_examples={examples!r} must be an integer >= 0 (the first N '
        'test images; 0 = all of them).'
    )
  start = time.perf_counter()
  model = trained.model
  if not isinstance(model, capabilities.ImportanceWeighted):
    raise ValueError(
        f'Task nll needs a latent-variable model with importance weights '
        f'(vae, iwae); {trained.config.model!r} has none.'
    )
  x = dataset.test_images[: examples or None]
  fn = functools.partial(model.log_importance_weights, trained.params)
  # Images x samples per pass fit one evaluation batch, however large K.
  log_likelihood = functools.partial(
      likelihood.dataset_log_likelihood,
      fn,
      x,
      batch_size=common.batch_size(trained),
  )
  log_px = log_likelihood(num_samples=NLL_SAMPLES)
  elbo = log_likelihood(num_samples=1)
  return {
      'examples': len(x),
      'num_samples': NLL_SAMPLES,
      'nll': float(-np.mean(log_px)),
      'neg_elbo_one_sample': float(-np.mean(elbo)),
      'seconds': time.perf_counter() - start,
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
  if not capabilities.has_prior(trained.model):
    raise ValueError(
        'Task prior needs a model whose codes are pushed to a prior '
        f'(capabilities.PriorModel: aae, wae); {trained.config.model!r} has '
        'none.'
    )
  p = trained.model.prior
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


def _layer_activity(trained, x) -> dict:
  """Active units of each stochastic layer of a hierarchical model (Burda
  et al.): unit u of layer l is active when Cov_x(E_q[z_lu | x]) exceeds
  `ACTIVE_UNIT_THRESHOLD`; ``active_units`` is the sum over layers."""
  model, params = trained.model, trained.params
  rng = jax.random.PRNGKey(0)
  means = lambda v: model.layer_posterior_means(params, v, rng)
  dims = [s.shape[-1] for s in jax.eval_shape(means, x[:1])]
  stacked = common.batched(trained, lambda v: jnp.concatenate(means(v), -1), x)
  layers = np.split(stacked.astype(np.float64), np.cumsum(dims)[:-1], axis=-1)
  activity = [np.var(m, axis=0) for m in layers]
  per_layer = [int(np.sum(a > ACTIVE_UNIT_THRESHOLD)) for a in activity]
  return {
      'latent_dim_per_layer': dims,
      'active_units_per_layer': per_layer,
      'activity_per_dimension_per_layer': [
          [float(v) for v in a] for a in activity
      ],
      'active_units': sum(per_layer),
  }


def _posterior_statistics(trained, x) -> dict:
  """Latent statistics of a VAE-family model on ``x``."""
  model = trained.model
  if isinstance(model, capabilities.StochasticLayers):
    return _layer_activity(trained, x)
  if not isinstance(model, capabilities.LatentVariableModel):
    raise ValueError(
        f'Task latent needs models with a Gaussian posterior (vae, iwae, '
        f'factor_vae) or several stochastic layers (hierarchical_vae); '
        f'{trained.config.model!r} has neither.'
    )
  if not model.analytic_kl:
    return _sampled_statistics(trained, x)
  encode = functools.partial(model.encode_distribution, trained.params)
  stats = common.batched(trained, lambda v: jnp.concatenate(encode(v), -1), x)
  mean, log_var = np.split(stats.astype(np.float64), 2, axis=-1)
  kl = 0.5 * (mean**2 + np.exp(log_var) - 1.0 - log_var)  # Per dimension.
  activity = np.var(mean, axis=0)  # Cov_x(E_q[z_u]).
  # One sample per test image: draws from the aggregate posterior q(z).
  rng = np.random.default_rng(0)
  z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
  prior_z = rng.standard_normal((MMD_EXAMPLES, z.shape[1]))
  out = {
      'kl_per_dimension': [float(v) for v in kl.mean(0)],
      'activity_per_dimension': [float(v) for v in activity],
      'active_units': int(np.sum(activity > ACTIVE_UNIT_THRESHOLD)),
      'latent_dim': int(mean.shape[1]),
      'total_kl': float(kl.sum(1).mean()),
      'total_correlation': code_stats.gaussian_total_correlation(z),
      'mmd_to_prior': float(
          losses.mmd(
              jnp.asarray(z[:MMD_EXAMPLES], jnp.float32),
              jnp.asarray(prior_z, jnp.float32),
          )
      ),
  }
  return out


KL_SAMPLES = 64  # Posterior draws per image of a Monte Carlo KL.


def _sampled_statistics(trained, x) -> dict:
  """`_posterior_statistics` of a model whose KL has no closed form (a
  learned prior, a flow posterior): the KL is ``E_q[log q(z|x) - log
  p(z)]`` over `KL_SAMPLES` draws of its own posterior and prior; codes are
  drawn from that posterior (after the flow) and compared with samples of
  its own prior. No per-dimension KL: it does not split by dimension."""
  model, params = trained.model, trained.params
  rng = jax.random.PRNGKey(0)

  def per_image(v):  # [b, ...] -> [b, 1 + D]: the KL, then one code.
    z, log_q = model.sample_posterior(params, v, rng, KL_SAMPLES)
    kl = jnp.mean(log_q - model.log_prior(params, z), axis=0)
    return jnp.concatenate([kl[:, None], z[0]], -1)

  stats = common.batched(trained, per_image, x).astype(np.float64)
  kl, z = stats[:, 0], stats[:, 1:]
  activity = np.var(common.codes(trained, x).astype(np.float64), axis=0)
  prior_z = model.sample_prior(params, jax.random.PRNGKey(1), MMD_EXAMPLES)
  return {
      'activity_per_dimension': [float(v) for v in activity],
      'active_units': int(np.sum(activity > ACTIVE_UNIT_THRESHOLD)),
      'latent_dim': int(z.shape[1]),
      'total_kl': float(kl.mean()),
      'kl_samples': KL_SAMPLES,
      'total_correlation': code_stats.gaussian_total_correlation(z),
      'mmd_to_prior': float(
          losses.mmd(
              jnp.asarray(z[:MMD_EXAMPLES], jnp.float32),
              jnp.asarray(prior_z, jnp.float32),
          )
      ),
  }


def latent(trained, dataset, baseline=None, outdir=None) -> dict:
  """Latent statistics of a VAE-family model on the test set: per-dimension
  KL and active units (Burda et al.), the Gaussian total correlation of
  sampled codes (FactorVAE's target) and the MMD of sampled codes to N(0, I)
  (InfoVAE's); the same scalars for a baseline model. A model with several
  stochastic layers gets the active units of each layer (their prior is not
  N(0, I), so the other statistics do not apply). A learned prior
  (vampprior) or a flow posterior (flow_vae) gets a Monte Carlo KL to its
  own prior, codes from its own posterior and the MMD to its own prior
  (`_sampled_statistics`)."""
  del outdir  # `generate` draws the interpolations.
  out = _posterior_statistics(trained, dataset.test_images)
  if baseline is not None:
    base = _posterior_statistics(baseline, dataset.test_images)
    for key, value in base.items():
      if not isinstance(value, list):
        out[f'baseline_{key}'] = value
  return out


SAMPLE_EXAMPLES = 1000
FRECHET_EXAMPLES = 5000
INTERPOLATION_PAIRS = 8
INTERPOLATION_STEPS = 10


def _sampler_name(model) -> str:
  if model.generative:
    return 'prior'
  if isinstance(model, capabilities.DiscreteCodes):
    return 'code_prior'
  return 'expost_gmm'


def _pixel_mmd(a: np.ndarray, b: np.ndarray) -> float:
  flat = lambda v: jnp.asarray(v.reshape(len(v), -1), jnp.float32)
  return float(losses.mmd(flat(a), flat(b)))


def _sample_quality(trained, dataset, samples, baseline_samples) -> dict:
  """Frechet and kernel distances in the features of the dataset's own
  classifier (`feature_classifier`) between ``n`` test images and: the next
  ``n`` test images (``reference_*``, the floor a perfect sampler reaches
  at this ``n``), the model's reconstructions of those next ``n``, and
  the first ``n`` of ``samples`` (and of ``baseline_samples`` if given).
  ``n`` is `frechet_count`."""
  try:
    extractor = feature_classifier.feature_extractor(dataset)
  except ValueError as e:
    return {'sample_quality_skipped': str(e)}
  n = frechet_count(dataset)
  features = lambda x: extractor.features(
      x, batch_size=common.batch_size(trained)
  )
  real = features(dataset.test_images[:n])
  held_out = dataset.test_images[n : 2 * n]

  def distances(prefix: str, images) -> dict:
    f = features(images)
    return {
        f'{prefix}frechet_distance': sample_quality.frechet_distance(f, real),
        f'{prefix}kernel_distance': sample_quality.kernel_distance(f, real),
    }

  train_x = dataset.train_images
  out = {
      'feature_classifier_test_accuracy': extractor.test_accuracy,
      'frechet_examples': n,
      **distances('reference_', held_out),
      **distances('reconstruction_', common.reconstruct(trained, held_out)),
      **distances('', samples[:n]),
  }
  if trained.model.generative:
    out.update(
        distances(
            'expost_',
            common.expost_samples(trained, n, seed=0, train_x=train_x),
        )
    )
  if baseline_samples is not None:
    out.update(distances('baseline_', baseline_samples[:n]))
  return out


def frechet_count(dataset) -> int:
  """Images per side of the sample-quality distances: half the test set
  (the other half is the floor), at most `FRECHET_EXAMPLES`."""
  return min(FRECHET_EXAMPLES, len(dataset.test_images) // 2)


def generate(trained, dataset, baseline=None, outdir=None) -> dict:
  """Samples and interpolations.

  Samples come from the prior of a generative model and from an ex-post
  Gaussian mixture on the training codes of any other autoencoder
  (``sampler``; `ae_jax.expost`). Sample quality (`_sample_quality`):
  ``frechet_distance`` and ``kernel_distance`` of the samples,
  ``reconstruction_*`` of reconstructions and, for a generative model,
  ``expost_*`` of ex-post GMM samples, in the features of a classifier
  trained on the dataset (not Inception: not comparable with published
  FID), beside the held-out floor ``reference_*``. Also the pixel-space MMD
  between `SAMPLE_EXAMPLES` decoded samples and as many test images, beside
  the same MMD between training and test images and a baseline's. For any
  autoencoder, decoded straight lines between the codes
  of pairs of test images. With ``outdir``: ``generated_samples.png`` (64
  samples) and ``interpolations.png``."""
  model = trained.model
  if not model.reconstructs:
    raise ValueError(
        f'Task generate needs a model with a decoder; {trained.config.model!r}'
        ' has none.'
    )
  n = min(SAMPLE_EXAMPLES, len(dataset.test_images), len(dataset.train_images))
  test = dataset.test_images[:n]
  train_x = dataset.train_images
  out = {
      'generative': bool(model.generative),
      'sampler': _sampler_name(model),
      'examples': n,
      'reference_mmd_train_to_test': _pixel_mmd(train_x[:n], test),
  }
  # One draw serves the pixel MMD (its first n) and the distances.
  draws = max(n, frechet_count(dataset))
  samples = common.samples(trained, draws, seed=0, train_x=train_x)
  out['sample_mmd'] = _pixel_mmd(samples[:n], test)
  if isinstance(model, capabilities.DiscreteCodes):
    # The learned prior as an entropy model: bits an arithmetic coder would
    # spend on a test image's symbols, beside the fixed-length code.
    indices = common.batched(
        trained, lambda v: model.code_indices(trained.params, v), test
    )
    prior = trained.expost_density(train_x)
    out['code_prior_bits_per_image'] = float(
        -np.mean(prior.log_prob(indices)) / np.log(2)
    )
    out['fixed_bits_per_image'] = float(
        indices.shape[1] * np.log2(model.codebook_size)
    )
  baseline_samples = None
  if baseline is not None and baseline.model.reconstructs:
    baseline_samples = common.samples(baseline, draws, seed=0, train_x=train_x)
    out['baseline_sample_mmd'] = _pixel_mmd(baseline_samples[:n], test)
  out.update(_sample_quality(trained, dataset, samples, baseline_samples))
  if outdir is not None:
    outdir = epath.Path(outdir)
    source = {
        'prior': 'the prior',
        'expost_gmm': 'an ex-post GMM',
        'code_prior': 'the learned code prior',
    }[_sampler_name(model)]
    figures.save_image_grid(
        outdir / 'generated_samples.png',
        samples[:64],
        dataset.input_shape,
        title=f'Samples from {source}, {trained.config.model}, {dataset.name}',
    )
    pairs = 2 * INTERPOLATION_PAIRS
    z = common.codes(trained, dataset.test_images[:pairs]).astype(np.float64)
    steps = np.linspace(0.0, 1.0, INTERPOLATION_STEPS)[:, None]
    rows = {}
    for i in range(INTERPOLATION_PAIRS):
      a, b = z[2 * i], z[2 * i + 1]
      rows[f'pair {i}'] = common.decode(trained, (1 - steps) * a + steps * b)
    figures.save_image_rows(
        outdir / 'interpolations.png',
        rows,
        dataset.input_shape,
        title=f'Latent interpolations between test images, {dataset.name}',
    )
  return out
