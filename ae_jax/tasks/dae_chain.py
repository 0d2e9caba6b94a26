"""A denoising autoencoder as a sampler: the spiral study and image chains.

`spiral_study` (issue 20) trains a small MLP denoising autoencoder on a 2-D
spiral (`ae_jax.data.toy2d`) through the library's trainer and measures the
two claims of `ae_jax.dae_sampling`:

* the field ``r(x) - x`` points up the density: the mean cosine between it
  and the score of a Gaussian KDE of the training points with the
  corruption's std as bandwidth (`metrics.score_alignment`; Tweedie: the
  optimal field is ``sigma^2`` times that score), on grid points within
  ``2 sigma`` of a training point and on the whole grid; ``field.png``;
* the corrupt-denoise chain samples the data: the MMD between the chain's
  states (chains started uniformly in the unit square) and held-out spiral
  points, beside the MMD between two held-out draws (the floor) and that of
  a Gaussian fitted to the training points (a bad baseline);
  ``chain_samples.png``.

`image_chain` runs the chain of a trained image denoising autoencoder (a
work directory with ``config.noise``) from uniform noise and scores its
states with the Frechet distance of ``--task=generate`` (features of the
dataset's own classifier, `feature_classifier`), beside a baseline model's
samples (e.g. a VAE's prior samples).
"""

import dataclasses
import functools
import json
import time

from etils import epath
import jax
import jax.numpy as jnp
import numpy as np

import ae_jax
from ae_jax import configs
from ae_jax import corruptions
from ae_jax import dae_sampling
from ae_jax import figures
from ae_jax import losses
from ae_jax.data import toy2d
from ae_jax.metrics import sample_quality
from ae_jax.metrics import score_alignment
from ae_jax.tasks import common
from ae_jax.tasks import feature_classifier
from ae_jax.tasks import generative
from ae_jax.train import workdir as workdir_lib

OUTPUTS = ('mean', 'sample')
# RBF widths of the spiral MMD, in data units (the unit square; arms 0.18
# apart, points 0.01 off the curve).
MMD_SCALES = (0.01, 0.02, 0.05, 0.1, 0.2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SpiralSettings:
  """The spiral study: data, network, training and chain.

  The defaults are the documented run (33 s on 2 cores, BUILD.md);
  tests shrink them."""

  num_train: int = 5000
  num_test: int = 4000  # Two held-out halves: the target and the floor.
  data_noise: float = 0.01  # Std of the points around the curve.
  noise_level: float = 0.05  # The DAE's Gaussian corruption std.
  hidden_sizes: tuple[int, ...] = (128, 128)
  latent_dim: int = 8
  train_steps: int = 20000
  batch_size: int = 128
  learning_rate: float = 1e-3
  lr_schedule: str = 'cosine'
  num_chains: int = 2000
  chain_steps: int = 200
  chain_thin: int = 50  # States kept for the MMD-by-step table.
  grid: int = 60  # Grid points per side for the cosine.
  seed: int = 0

  def check(self) -> None:
    """Refuses bad values, naming the field, before any work."""
    for name in (
        'num_train',
        'num_test',
        'latent_dim',
        'train_steps',
        'batch_size',
        'num_chains',
        'chain_steps',
        'chain_thin',
        'grid',
    ):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f'spiral_study: {name}={value!r} must be a positive int.'
        )
    for name in ('noise_level', 'learning_rate'):
      value = getattr(self, name)
      if not (np.isfinite(value) and value > 0):
        raise ValueError(f'spiral_study: {name}={value!r} must be > 0.')
    if self.num_test < 4 or self.num_chains < 2:
      raise ValueError(
          'spiral_study: num_test must be >= 4 (two held-out halves) and '
          f'num_chains >= 2 for the MMD; got num_test={self.num_test}, '
          f'num_chains={self.num_chains}.'
      )
    if self.chain_steps % self.chain_thin:
      raise ValueError(
          f'spiral_study: chain_thin={self.chain_thin} must divide '
          f'chain_steps={self.chain_steps}.'
      )


def spiral_config(settings: SpiralSettings):
  """The trainer config of the spiral DAE: model 'ae', squared error,
  Gaussian corruption, flat 2-D input, no figures (they assume images)."""
  c = configs.default_config('ae')
  c.dataset = 'spiral'  # A name only: the arrays come as `dataset=`.
  c.likelihood = 'gaussian'
  c.layout = 'flat'
  c.hidden_sizes = tuple(settings.hidden_sizes)
  c.latent_dim = settings.latent_dim
  c.noise = 'gaussian'
  c.noise_level = settings.noise_level
  c.num_train_steps = settings.train_steps
  c.batch_size = settings.batch_size
  c.learning_rate = settings.learning_rate
  c.lr_schedule = settings.lr_schedule
  c.seed = settings.seed
  c.eval_every_steps = 0
  c.checkpoint_every_steps = settings.train_steps
  c.log_every_steps = min(500, settings.train_steps)
  c.max_checkpoints_to_keep = 1
  c.progress_bar = False
  c.write_figures = False
  return c


def reconstruct_fn(trained):
  """``x -> r(x)`` of a loaded run, pure and jittable (`TrainedModel`'s own
  ``reconstruct`` converts to NumPy and checks its input on the host)."""
  return functools.partial(trained.model.reconstruct, trained.params)


def corrupt_fn(trained):
  """``(rng, x) -> x_tilde``: the corruption the run was trained with."""
  config = trained.config
  if config.get('noise', 'none') == 'none':
    raise ValueError(
        f'{trained.workdir} is not a denoising autoencoder '
        f'(config.noise={config.get("noise")!r}); the chain needs the '
        'corruption it was trained with: train with --config.noise=gaussian '
        '(e.g. experiments/configs/denoising_ae.py).'
    )
  return functools.partial(
      corruptions.corrupt, config.noise, level=float(config.noise_level)
  )


def _grid(n: int) -> tuple[np.ndarray, int]:
  ticks = (np.arange(n) + 0.5) / n
  gx, gy = np.meshgrid(ticks, ticks)
  return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32), n


def field_alignment(
    reconstruct, train_x: np.ndarray, *, sigma: float, grid: int
) -> dict:
  """Cosine between ``r(x) - x`` and the KDE score (bandwidth ``sigma``) on
  a ``grid x grid`` lattice of the unit square: near the data (within
  ``2 sigma`` of a training point) and everywhere; plus the median ratio
  ``|r(x) - x| / (sigma^2 |score|)`` near the data (1 for the optimal
  field)."""
  points, _ = _grid(grid)
  field = np.asarray(
      dae_sampling.reconstruction_field(reconstruct, points), np.float64
  )
  score = score_alignment.gaussian_kde_score(points, train_x, bandwidth=sigma)
  d2 = (
      np.sum(points**2, 1)[:, None]
      - 2 * points @ train_x.T
      + np.sum(train_x**2, 1)[None]
  )
  near = np.sqrt(np.maximum(d2.min(1), 0)) < 2 * sigma
  ratio = np.linalg.norm(field[near], axis=1) / (
      sigma**2 * np.linalg.norm(score[near], axis=1) + 1e-12
  )
  return {
      'grid_points': int(len(points)),
      'near_points': int(near.sum()),
      'cosine_near_data': score_alignment.mean_cosine(field[near], score[near]),
      'cosine_all_grid': score_alignment.mean_cosine(field, score),
      'median_norm_ratio_near_data': float(np.median(ratio)),
  }


def _mmd(a, b) -> float:
  return float(
      losses.mmd(
          jnp.asarray(a, jnp.float32),
          jnp.asarray(b, jnp.float32),
          kernel='rbf',
          scales=MMD_SCALES,
      )
  )


def _write_json(path: epath.Path, result: dict) -> None:
  workdir_lib.write_text(path, json.dumps(result, indent=2))


def spiral_study(outdir, settings: SpiralSettings = SpiralSettings()) -> dict:
  """Trains the spiral DAE in ``outdir/spiral_dae`` and measures its field
  and chain (module docstring). Writes ``field.png``,
  ``chain_samples.png`` and ``dae_sampling_spiral.json`` to ``outdir``;
  returns that dict."""
  settings.check()
  from ae_jax.train import trainer  # pylint: disable=g-import-not-at-top

  outdir = epath.Path(outdir)
  outdir.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  dataset = toy2d.spiral_dataset(
      settings.num_train,
      settings.num_test,
      seed=settings.seed,
      noise=settings.data_noise,
  )
  summary = trainer.train_and_evaluate(
      spiral_config(settings), outdir / 'spiral_dae', dataset=dataset
  )
  train_seconds = time.perf_counter() - start
  trained = ae_jax.load(outdir / 'spiral_dae')
  reconstruct = jax.jit(reconstruct_fn(trained))
  corrupt = corrupt_fn(trained)
  sigma = settings.noise_level
  train_x = dataset.train_images.astype(np.float64)
  half = settings.num_test // 2
  target, floor_draw = dataset.test_images[:half], dataset.test_images[half:]

  field = field_alignment(reconstruct, train_x, sigma=sigma, grid=settings.grid)

  key = jax.random.PRNGKey(settings.seed)
  x0 = jax.random.uniform(
      jax.random.fold_in(key, 0), (settings.num_chains, 2), jnp.float32
  )
  residual_std = dae_sampling.denoising_residual_std(
      jax.random.fold_in(key, 1), reconstruct, corrupt, dataset.train_images
  )

  def run_chain(sample_fn):
    return np.asarray(
        jax.jit(
            lambda rng, x: dae_sampling.markov_chain(
                rng,
                reconstruct,
                corrupt,
                x,
                settings.chain_steps,
                sample_fn=sample_fn,
                thin=settings.chain_thin,
            )
        )(jax.random.fold_in(key, 2), x0)
    )

  gaussian_step = dae_sampling.gaussian_output_sampler(np.asarray(residual_std))
  # The same keys: the two chains differ only in the output step.
  states = {'mean': run_chain(None), 'sample': run_chain(gaussian_step)}
  rng = np.random.default_rng(settings.seed)
  gaussian = rng.multivariate_normal(
      train_x.mean(0), np.cov(train_x, rowvar=False), settings.num_chains
  )
  steps = list(
      range(
          settings.chain_thin,
          settings.chain_steps + 1,
          settings.chain_thin,
      )
  )
  mmd = {
      'floor_heldout_vs_heldout': _mmd(floor_draw, target),
      'gaussian_fit_vs_heldout': _mmd(gaussian, target),
      'chain_start_uniform_vs_heldout': _mmd(np.asarray(x0), target),
  }
  for output, kept in states.items():
    mmd[f'chain_{output}_vs_heldout'] = _mmd(kept[-1], target)
    mmd[f'chain_{output}_by_step'] = {
        str(step): _mmd(state, target) for step, state in zip(steps, kept)
    }
  result = {
      'settings': dataclasses.asdict(settings),
      'train_test_mse': summary['test']['mse'],
      'train_seconds': train_seconds,
      'residual_std': [float(v) for v in np.asarray(residual_std)],
      'field': field,
      'mmd': mmd,
      'mmd_scales': list(MMD_SCALES),
  }
  _spiral_figures(
      outdir, reconstruct, dataset, states, gaussian, target, settings
  )
  result['seconds'] = time.perf_counter() - start
  _write_json(outdir / 'dae_sampling_spiral.json', result)
  return result


def _spiral_figures(
    outdir, reconstruct, dataset, states, gaussian, target, settings
) -> None:
  sigma = settings.noise_level
  arrows, _ = _grid(25)
  field = np.asarray(dae_sampling.reconstruction_field(reconstruct, arrows))
  background, n = _grid(150)
  log_density = score_alignment.gaussian_kde_log_density(
      background, dataset.train_images, bandwidth=0.01
  ).reshape(n, n)
  figures.save_vector_field(
      outdir / 'field.png',
      arrows,
      field,
      density=np.maximum(log_density, log_density.max() - 12),
      extent=(0, 1, 0, 1),
      title=(
          f'Directions of the DAE field r(x) - x (sigma {sigma:g}) over '
          'the KDE log-density of the spiral'
      ),
  )
  figures.save_point_sets(
      outdir / 'chain_samples.png',
      {
          'held-out data': target,
          f'chain, mean step ({settings.chain_steps} steps)': states['mean'][
              -1
          ],
          f'chain, sampled step ({settings.chain_steps} steps)': states[
              'sample'
          ][-1],
          'Gaussian fit (baseline)': gaussian,
      },
      background=dataset.train_images,
      title='DAE Markov chain from uniform starts, over the training points',
  )


def image_chain(
    trained,
    dataset,
    baseline=None,
    outdir=None,
    *,
    num_steps: int = 100,
    thin: int = 25,
    output: str = 'mean',
    seed: int = 0,
) -> dict:
  """Chains of an image DAE from uniform noise, scored by the Frechet
  distance of ``--task=generate``.

  ``frechet_count(dataset)`` chains (5,000 on Fashion-MNIST) start from
  uniform [0, 1] pixels and run ``num_steps`` corrupt-denoise steps;
  ``output='mean'`` steps to the decoder mean, ``'sample'`` draws the
  decoder's distribution (Bernoulli pixels, or Gaussian with the residual
  std for likelihood='gaussian'). Frechet and kernel distances to the first
  ``n`` test images at every ``thin``-th step, beside the held-out floor,
  the reconstructions of held-out images and, given ``baseline``, its
  samples (`common.samples`: prior samples of a VAE). With ``outdir``:
  ``dae_chain_samples.png`` (64 final states) and ``dae_chain_steps.png``
  (8 chains over the kept steps).

  Raises:
    ValueError: a model that was not trained with a corruption, a bad
      ``output`` or step counts, before any chain runs.
  """
  if output not in OUTPUTS:
    raise ValueError(
        f'image_chain: output={output!r} is not one of {OUTPUTS}: '
        "'mean' steps to the decoder mean, 'sample' draws from it."
    )
  corrupt = corrupt_fn(trained)
  if isinstance(num_steps, bool) or not isinstance(num_steps, int):
    raise ValueError(f'image_chain: num_steps={num_steps!r} must be an int.')
  if num_steps < 1 or thin < 1 or num_steps % thin:
    raise ValueError(
        f'image_chain: num_steps={num_steps} must be >= 1 and a multiple of '
        f'thin={thin} >= 1.'
    )
  reconstruct = reconstruct_fn(trained)
  extractor = feature_classifier.feature_extractor(dataset)
  n = generative.frechet_count(dataset)
  batch = common.batch_size(trained)
  features = lambda x: extractor.features(x, batch_size=batch)
  real = features(dataset.test_images[:n])
  held_out = dataset.test_images[n : 2 * n]

  def distances(images) -> dict:
    f = features(images)
    return {
        'frechet_distance': sample_quality.frechet_distance(f, real),
        'kernel_distance': sample_quality.kernel_distance(f, real),
    }

  key = jax.random.PRNGKey(seed)
  sample_fn = None
  if output == 'sample':
    if trained.config.likelihood == 'bernoulli':
      sample_fn = dae_sampling.bernoulli_output_sampler
    else:
      std = dae_sampling.denoising_residual_std(
          jax.random.fold_in(key, 1),
          reconstruct,
          corrupt,
          dataset.train_images[:5000],
      )
      sample_fn = dae_sampling.gaussian_output_sampler(np.asarray(std))
  chain = jax.jit(
      lambda rng, x0: dae_sampling.markov_chain(
          rng,
          reconstruct,
          corrupt,
          x0,
          num_steps,
          sample_fn=sample_fn,
          thin=thin,
      )
  )
  shape = (n, *dataset.input_shape)
  x0 = np.asarray(jax.random.uniform(jax.random.fold_in(key, 0), shape))
  start = time.perf_counter()
  # Chains in batches of `batch` (one compile): [kept, n, ...].
  parts = [
      np.asarray(chain(jax.random.fold_in(key, 2 + i), x0[i : i + batch]))
      for i in range(0, n, batch)
  ]
  states = np.concatenate(parts, axis=1)
  chain_seconds = time.perf_counter() - start
  steps = list(range(thin, num_steps + 1, thin))
  out = {
      'noise': trained.config.noise,
      'noise_level': float(trained.config.noise_level),
      'likelihood': trained.config.likelihood,
      'output': output,
      'num_steps': num_steps,
      'chains': n,
      'chain_seconds': chain_seconds,
      'feature_classifier_test_accuracy': extractor.test_accuracy,
      'frechet_examples': n,
      'reference': distances(held_out),
      'reconstructions': distances(common.reconstruct(trained, held_out)),
      'chain_start_uniform': distances(x0),
      'chain_by_step': {
          str(step): distances(state) for step, state in zip(steps, states)
      },
  }
  out['chain'] = out['chain_by_step'][str(num_steps)]
  if baseline is not None:
    samples = common.samples(baseline, n, seed=0, train_x=dataset.train_images)
    out['baseline'] = {
        'model': baseline.config.model,
        'sampler': generative._sampler_name(baseline.model),  # pylint: disable=protected-access
        **distances(samples),
    }
  if outdir is not None:
    outdir = epath.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    figures.save_image_grid(
        outdir / 'dae_chain_samples.png',
        states[-1, :64],
        dataset.input_shape,
        title=(
            f'DAE chain ({trained.config.noise} {trained.config.noise_level:g},'
            f' {output} step), state {num_steps}, {dataset.name}'
        ),
    )
    figures.save_image_rows(
        outdir / 'dae_chain_steps.png',
        {
            f'chain {i}': np.concatenate([x0[i : i + 1], states[:, i]])
            for i in range(8)
        },
        dataset.input_shape,
        title=f'Chains from uniform noise: start, then steps {steps}',
    )
    _write_json(outdir / 'dae_sampling_images.json', out)
  return out


def run(
    outdir,
    *,
    spiral: bool = True,
    train_steps: int = SpiralSettings.train_steps,
    workdir=None,
    baseline_workdir=None,
    chain_steps: int = 100,
    chain_thin: int = 25,
    output: str = 'mean',
) -> dict:
  """What `experiments.dae_sampling` does: the spiral study in ``outdir``
  and, given ``workdir``, that run's `image_chain` (figures and JSON in
  ``outdir``). Arguments are checked, and the work directories loaded,
  before anything trains."""
  settings = SpiralSettings(train_steps=train_steps)
  settings.check()
  if output not in OUTPUTS:
    raise ValueError(
        f'output={output!r} is not one of {OUTPUTS}; set --output.'
    )
  trained = baseline = None
  if workdir is not None:
    trained = ae_jax.load(workdir)
    corrupt_fn(trained)  # Refuses a model without a corruption now.
    if baseline_workdir is not None:
      baseline = ae_jax.load(baseline_workdir)
  elif baseline_workdir is not None:
    raise ValueError(
        '--baseline_workdir needs --workdir (the DAE whose chain it is '
        'compared with).'
    )
  if not spiral and trained is None:
    raise ValueError(
        '--nospiral leaves nothing to do; give --workdir or drop --nospiral.'
    )
  results = {}
  if spiral:
    results['spiral'] = spiral_study(outdir, settings)
  if trained is not None:
    results['images'] = image_chain(
        trained,
        common.load_data(trained),
        baseline,
        outdir,
        num_steps=chain_steps,
        thin=chain_thin,
        output=output,
    )
  return results
