"""Evaluation streams in batches (issue 7, Memory).

Every forward pass of every evaluation task, of the NLL estimate and of the
end-of-run figures sees at most one evaluation batch of rows, however large
the split: the Flax modules' `apply` is instrumented to record the rows of
each traced call (importance samples and Jacobian passes included), and the
test split (300 digits) is larger than the batch (`BUDGET`).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ae_jax import models
from ae_jax import penalties
from ae_jax import tasks
from ae_jax import trained as trained_lib
from ae_jax.metrics import likelihood
from ae_jax.tasks import feature_classifier
from ae_jax.tasks import features
from ae_jax.tasks import generative
from ae_jax.tasks import reconstruction
from ae_jax.tasks import visualization
from ae_jax.train import outputs
from ae_jax.train import sharding
from tests import fitting

BUDGET = 32  # config.eval_batch_size of the models below; < 300 test images.


@pytest.fixture
def rows_seen(monkeypatch):
  """Rows of every forward pass traced from now on (a list that grows).

  Recorded at trace time, which is where shapes are fixed: a jitted call
  runs exactly the shapes it was traced with. Caches are cleared so no
  earlier trace hides a call.
  """
  seen = []
  apply = nn.Module.apply

  def recording_apply(self, variables, *args, **kwargs):
    if args and getattr(args[0], 'ndim', 0) >= 1:
      seen.append(int(args[0].shape[0]))
    return apply(self, variables, *args, **kwargs)

  jacobian = penalties.jacobian_frobenius_norm

  def recording_jacobian(fn, x):
    # Its passes are vmapped: each holds a forward pass's activations.
    out = jax.eval_shape(fn, x)
    passes = min(math.prod(x.shape[1:]), math.prod(out.shape[1:]))
    seen.append(int(x.shape[0]) * passes)
    return jacobian(fn, x)

  monkeypatch.setattr(nn.Module, 'apply', recording_apply)
  monkeypatch.setattr(penalties, 'jacobian_frobenius_norm', recording_jacobian)
  jax.clear_caches()
  yield seen
  jax.clear_caches()


def _model(**overrides) -> trained_lib.TrainedModel:
  """An untrained model on digits with ``eval_batch_size = BUDGET`` (memory
  does not depend on the weights)."""
  config = fitting.config(**{'latent_dim': 4, **overrides})
  config.eval_batch_size = BUDGET
  dataset = fitting.digits()
  model = models.build_model(
      config, dataset.input_shape, num_classes=dataset.num_classes
  )
  return trained_lib.TrainedModel(
      model, model.init(jax.random.PRNGKey(0)), config, step=0
  )


def test_the_instrument_sees_a_whole_split_pass(rows_seen):
  trained = _model(model='vae')
  trained.encode(fitting.digits().test_images)
  assert max(rows_seen) == 300


# Every task, on a model it applies to (baseline: the same model).
CASES = {
    'vae': (
        dict(model='vae'),
        [
            'pca',
            'visualize',
            'probe',
            'denoise',
            'compression',
            'generate',
            'superres',
        ],
    ),
    'vae_latent_nll': (dict(model='vae'), ['latent', 'nll']),
    'vae_codes': (dict(model='vae'), ['cluster', 'projector']),
    'cae': (dict(model='ae', contractive_weight=0.1), ['jacobian']),
    'sparse': (
        dict(model='ae', sparsity='kl', code_activation='sigmoid'),
        ['sparsity'],
    ),
    'aae': (dict(model='aae', latent_dim=2), ['prior']),
    'classifier': (dict(model='mlp_classifier'), ['probe']),
}


def test_the_cases_cover_every_task():
  covered = {n for _, names in CASES.values() for n in names}
  assert covered | {'disentanglement'} == set(tasks.TASKS)


def test_the_disentanglement_task_streams_in_eval_batches(
    rows_seen, monkeypatch, tmp_path
):
  from ae_jax.metrics import disentanglement  # pylint: disable=g-import-not-at-top

  # Fewer observations per metric: the sizes of its passes stay the same.
  monkeypatch.setattr(disentanglement, 'NUM_TRAIN', 200)
  monkeypatch.setattr(disentanglement, 'NUM_TEST', 100)
  config = fitting.config(model='vae', latent_dim=4, dataset='xy_sprites')
  config.eval_batch_size = BUDGET
  model = models.build_model(config, (3072,), num_classes=3)
  trained = trained_lib.TrainedModel(
      model, model.init(jax.random.PRNGKey(0)), config, step=0
  )
  tasks.run('disentanglement', trained, None, outdir=tmp_path)
  assert rows_seen and max(rows_seen) <= BUDGET


@pytest.mark.parametrize(
    'overrides,names', list(CASES.values()), ids=list(CASES)
)
def test_every_task_streams_in_eval_batches(
    rows_seen, monkeypatch, tmp_path, overrides, names
):
  # Less of what costs time but not memory: K, t-SNE, label draws.
  monkeypatch.setattr(generative, 'NLL_SAMPLES', 20)
  monkeypatch.setattr(  # t-SNE runs on host codes, after the model.
      visualization, 'tsne_2d', lambda z, **_: z.reshape(len(z), -1)[:, :2]
  )
  monkeypatch.setattr(features, 'LABEL_SIZES', (None,))
  trained = _model(**overrides)
  dataset = fitting.digits()
  # The sample-quality classifier is trained once per dataset and cached
  # (fixed batches of 128, like loading the data): not a pass of the model
  # under evaluation. Its feature passes during a task are counted below.
  feature_classifier.feature_extractor(dataset)
  for name in names:
    rows_seen.clear()
    jax.clear_caches()  # Each task traces its own calls afresh.
    tasks.run(name, trained, dataset, baseline=trained, outdir=tmp_path)
    assert rows_seen, f'task {name} ran no forward pass that was recorded'
    assert max(rows_seen) <= BUDGET, (name, max(rows_seen))


def test_write_figures_streams_codes_and_samples(rows_seen, tmp_path):
  trained = _model(model='vae')
  written = outputs.write_figures(
      trained.model,
      trained.params,
      fitting.digits(),
      tmp_path,
      sharding.make_mesh(1),
      batch_size=BUDGET,
      seed=0,
  )
  assert {'latent_codes.png', 'samples.png'} <= set(written)
  assert rows_seen and max(rows_seen) <= BUDGET  # 300 codes, 64 samples.


def test_sample_in_batches_draws_num_in_calls_of_one_shape():
  calls = []

  def sample(key, n):
    calls.append(n)
    return jax.random.uniform(key, (n, 3))

  out = outputs.sample_in_batches(sample, 10, batch_size=4, seed=0)
  assert out.shape == (10, 3) and calls == [4, 4, 4]
  assert len(np.unique(out[:, 0])) == 10  # Each call its own key.
  again = outputs.sample_in_batches(sample, 10, batch_size=4, seed=0)
  np.testing.assert_array_equal(out, again)
  with pytest.raises(ValueError, match='batch_size=0'):
    outputs.sample_in_batches(sample, 10, batch_size=0, seed=0)


@pytest.mark.parametrize(
    'num_samples,num_examples,budget,want',
    [
        (5000, 1000, 500, (500, 1)),  # Fashion-MNIST: one image per row.
        (5000, 4, 500, (4, 125)),  # Few images: samples fill the rest.
        (5000, 1, 500, (1, 500)),
        (1, 300, 32, (32, 1)),  # The one-sample ELBO.
        (7, 2, 10, (2, 1)),  # 5 fits but does not divide 7.
        (12, 2, 10, (2, 4)),
    ],
)
def test_batch_and_chunk_fill_one_eval_batch(
    num_samples, num_examples, budget, want
):
  images, chunk = likelihood.batch_and_chunk(num_samples, num_examples, budget)
  assert (images, chunk) == want
  assert images * chunk <= budget and num_samples % chunk == 0


def test_batch_and_chunk_rejects_a_bad_budget():
  with pytest.raises(ValueError, match='batch_size=0'):
    likelihood.batch_and_chunk(5000, 10, 0)


def test_dataset_log_likelihood_streams_every_image_in_order():
  traced = []

  def log_weights(x, key, k):
    # log p(x) known exactly: weights equal for every sample.
    traced.append(k * x.shape[0])
    del key
    return jnp.broadcast_to(-jnp.sum(x**2, axis=-1), (k, x.shape[0]))

  x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
  out = likelihood.dataset_log_likelihood(
      log_weights, x, num_samples=40, batch_size=16
  )
  np.testing.assert_allclose(out, -np.sum(x**2, -1), rtol=1e-5)
  assert traced and max(traced) <= 16


def test_nll_of_a_vae_does_not_depend_on_the_batch_beyond_noise(rows_seen):
  trained = _model(model='vae')
  x = fitting.digits().test_images[:40]
  fn = lambda *a: trained.model.log_importance_weights(trained.params, *a)
  small, large = (
      likelihood.dataset_log_likelihood(fn, x, num_samples=100, batch_size=b)
      for b in (8, 4000)
  )
  assert max(rows_seen) == 4000  # 40 images x 100 samples in one pass.
  np.testing.assert_allclose(small, large, atol=0.05 * np.abs(large).mean())


def test_jacobian_batch_fits_its_passes_in_one_eval_batch():
  assert reconstruction.jacobian_batch_size(_model(model='ae')) == BUDGET // 4
  assert reconstruction.jacobian_batch_size(_model(latent_dim=64)) == 1


# Before allocating: a model that cannot fit is refused (issue 14).


def test_model_too_large_for_memory_is_refused_before_allocating(
    smoke_config, tmp_path
):
  from ae_jax import train  # pylint: disable=g-import-not-at-top

  # 10^9 codes: terabytes of weights XLA would try to allocate (under
  # ulimit -v it waited forever in BlockUntilReady).
  config = smoke_config.copy_and_resolve_references()
  config.latent_dim = 10**9
  with pytest.raises(ValueError, match=r'--config.latent_dim=1000000000'):
    train.train_and_evaluate(config, tmp_path / 'run')
  assert not (tmp_path / 'run').exists()


def test_memory_limit_counts_the_process_limit(monkeypatch):
  import resource  # pylint: disable=g-import-not-at-top

  from ae_jax.train import memory  # pylint: disable=g-import-not-at-top

  monkeypatch.setattr(
      resource, 'getrlimit', lambda kind: (2**30, resource.RLIM_INFINITY)
  )
  assert memory.device_memory_bytes(jax.devices()[0]) <= 2**30


def test_out_of_memory_while_allocating_is_one_line(
    smoke_config, tmp_path, monkeypatch
):
  from ae_jax import train  # pylint: disable=g-import-not-at-top
  from ae_jax.train import memory  # pylint: disable=g-import-not-at-top
  from ae_jax.train import state as state_lib  # pylint: disable=g-import-not-at-top

  def exhausted(*args, **kwargs):
    raise ValueError('RESOURCE_EXHAUSTED: Out of memory allocating 10 bytes.')

  # What a process limit (ulimit -v) gives for a model the shape check let
  # through: activations and XLA's own buffers are not counted there.
  monkeypatch.setattr(state_lib, 'init_train_state', exhausted)
  with pytest.raises(
      memory.OutOfMemoryError, match='Lower --config.batch_size'
  ):
    train.train_and_evaluate(smoke_config, tmp_path)
