"""The training loop: learning, one compile, resume, NaN handling, evaluation."""

import dataclasses
import importlib.metadata
import json
import os
import subprocess

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest

import ae_jax
from ae_jax import data
from ae_jax import models
from ae_jax import train
from ae_jax.train import provenance
from ae_jax.train import sharding
from ae_jax.train import state as state_lib
from ae_jax.train import step as step_lib
from ae_jax.train import trainer


def _quiet(config, **overrides):
  """A copy of ``config`` without figures, with ``overrides``."""
  config = config.copy_and_resolve_references()
  config.write_figures = False
  config.update(overrides)
  return config


def _final_params(workdir):
  with ocp.CheckpointManager(workdir / 'checkpoints') as mngr:
    return mngr.restore(mngr.latest_step())['params']


def test_training_reduces_the_test_loss(smoke_config, tmp_path):
  config = _quiet(
      smoke_config,
      num_train_steps=150,
      eval_every_steps=150,
      checkpoint_every_steps=150,
      hidden_sizes=(64,),
  )
  train.train_and_evaluate(config, tmp_path)
  records = [
      json.loads(l)
      for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()
  ]
  train_losses = [r['loss'] for r in records if r['split'] == 'train']
  assert train_losses[-1] < 0.7 * train_losses[0], train_losses
  final = json.loads((tmp_path / 'final_metrics.json').read_text())
  # 64 pixels in [0, 1]: an untrained Bernoulli decoder costs about 64*log(2).
  assert final['test']['neg_elbo'] < 0.8 * 64 * np.log(2), final


def test_train_step_compiles_once(smoke_config):
  config = smoke_config
  dataset = data.load_dataset('digits')
  model = models.build_model(config, dataset.input_shape)
  tx = state_lib.make_optimizer(config, 10)
  mesh = sharding.make_mesh()
  state = state_lib.init_train_state(
      model,
      tx,
      keys=state_lib.run_keys(jax.random.PRNGKey(0)),
      mesh=mesh,
      batch_size=32,
  )
  traced = chex.assert_max_traces(step_lib.make_train_step(model, tx), n=1)
  step = step_lib.jit_train_step(traced, mesh)
  batches = data.train_batches(
      dataset.train_images, dataset.train_labels, batch_size=32, seed=0
  )
  for _ in range(5):
    state, _ = step(state, sharding.put_batch(next(batches), mesh))
  assert int(state.step) == 5


def test_only_logged_calls_compute_the_gradient_norm(
    smoke_config, tmp_path, monkeypatch
):
  traced = []
  real = step_lib.make_train_step

  def spy(*args, grad_norm=True, **kwargs):
    step = real(*args, grad_norm=grad_norm, **kwargs)

    def traced_step(state, batch):
      traced.append(grad_norm)
      return step(state, batch)

    return traced_step

  monkeypatch.setattr(step_lib, 'make_train_step', spy)
  config = _quiet(
      smoke_config,
      num_train_steps=40,
      steps_per_call=10,
      log_every_steps=20,
      checkpoint_every_steps=40,
      eval_every_steps=0,
  )
  sparse = train.train_and_evaluate(config, tmp_path / 'sparse')
  # Two programs, each traced once: steps 1-10 and 21-30 skip the norm.
  assert sorted(traced) == [False, True]

  traced.clear()
  config.log_every_steps = 10  # Every call is logged: one program.
  dense = train.train_and_evaluate(config, tmp_path / 'dense')
  assert traced == [True]

  # Leaving the norm out changes nothing else.
  assert sparse['params_sha256'] == dense['params_sha256']
  rows = lambda d: {
      r['step']: r
      for r in map(json.loads, (d / 'metrics.jsonl').read_text().splitlines())
      if r['split'] == 'train'
  }
  sparse_rows, dense_rows = rows(tmp_path / 'sparse'), rows(tmp_path / 'dense')
  assert sorted(sparse_rows) == [20, 40]
  for step in (20, 40):
    # The logged norm is the mean over the logged call's 10 steps.
    assert sparse_rows[step]['grad_norm'] == pytest.approx(
        dense_rows[step]['grad_norm'], rel=1e-6
    )
    assert sparse_rows[step]['grad_norm'] > 0
    assert sparse_rows[step]['loss'] == pytest.approx(
        np.mean([dense_rows[step - 10]['loss'], dense_rows[step]['loss']]),
        rel=1e-6,
    )


def test_skip_mode_and_conv_models_compute_the_norm_every_step(smoke_config):
  # Skip mode decides by it; a second unrolled conv program (on CPU, where
  # fused conv steps unroll) costs seconds of compile to save nothing.
  assert not trainer.grad_norm_every_step(smoke_config)
  assert trainer.grad_norm_every_step(_quiet(smoke_config, nonfinite='skip'))
  conv = _quiet(smoke_config, encoder='conv')
  assert trainer.grad_norm_every_step(conv) == (jax.default_backend() == 'cpu')
  assert step_lib.unroll_fused_steps(conv, 'cpu')
  assert not step_lib.unroll_fused_steps(conv, 'gpu')


@pytest.mark.parametrize(
    'data_on_device,source', [(True, 'train_indices'), (False, 'train_batches')]
)
def test_resume_matches_an_uninterrupted_run(
    smoke_config, tmp_path, monkeypatch, data_on_device, source
):
  config = _quiet(
      smoke_config,
      num_train_steps=20,
      checkpoint_every_steps=5,
      eval_every_steps=0,
      lr_schedule='cosine',
      warmup_steps=3,
      binarize='dynamic',
      data_on_device=data_on_device,
  )
  train.train_and_evaluate(config, tmp_path / 'straight')

  # Interrupt a second run after 13 steps (last checkpoint: step 10) ...
  real_source = getattr(data, source)

  def crashing_source(*args, **kwargs):
    for i, item in enumerate(real_source(*args, **kwargs)):
      if kwargs['start_step'] + i == 13:
        raise KeyboardInterrupt('simulated preemption')
      yield item

  monkeypatch.setattr(data, source, crashing_source)
  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(config, tmp_path / 'resumed')
  with ocp.CheckpointManager(tmp_path / 'resumed' / 'checkpoints') as mngr:
    assert mngr.latest_step() == 10
  monkeypatch.setattr(data, source, real_source)
  # ... and rerun the same command: it resumes from step 10.
  summary = train.train_and_evaluate(config, tmp_path / 'resumed')
  assert summary['step'] == 20
  chex.assert_trees_all_equal(
      _final_params(tmp_path / 'straight'), _final_params(tmp_path / 'resumed')
  )
  records = (tmp_path / 'resumed' / 'metrics.jsonl').read_text().splitlines()
  steps = [
      json.loads(l)['step']
      for l in records
      if json.loads(l)['split'] == 'train'
  ]
  assert steps == sorted(set(steps)), 'metrics after the checkpoint were kept'
  # Lengthening a cosine run would restart its decay mid-run: refused.
  with pytest.raises(
      train.IncompatibleWorkdirError, match='num_train_steps: 20 -> 40'
  ):
    train.train_and_evaluate(
        _quiet(config, num_train_steps=40), tmp_path / 'resumed'
    )


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    smoke_config, tmp_path
):
  config = _quiet(
      smoke_config,
      learning_rate=1e30,
      checkpoint_every_steps=1,
      log_every_steps=1,
      eval_every_steps=0,
  )
  with pytest.raises(train.NonFiniteLossError, match='at step') as err:
    train.train_and_evaluate(config, tmp_path)
  with ocp.CheckpointManager(tmp_path / 'checkpoints') as mngr:
    last = mngr.latest_step()
    assert last is not None and f'last good checkpoint is step {last}' in str(
        err.value
    )
    restored = mngr.restore(last)
  chex.assert_tree_all_finite(restored['params'])


def test_evaluation_counts_every_example_once(smoke_config):
  config = smoke_config
  dataset = data.load_dataset('digits')
  model = models.build_model(config, dataset.input_shape)
  params = model.init(jax.random.PRNGKey(0))
  mesh = sharding.make_mesh()
  eval_step = step_lib.jit_eval_step(step_lib.make_eval_step(model), mesh)
  ae = models.build_model(_quiet(config, model='ae'), dataset.input_shape)
  ae_params = ae.init(jax.random.PRNGKey(0))
  ae_eval = step_lib.jit_eval_step(step_lib.make_eval_step(ae), mesh)
  full = ae.per_example_losses(
      ae_params, dataset.test_images, None, train=False
  )
  for batch_size in (7, 64, 300, 1000):  # 300 test examples: padded and exact.
    got = trainer.evaluate(
        ae_eval,
        ae_params,
        dataset.test_images,
        dataset.test_labels,
        batch_size=batch_size,
        mesh=mesh,
        rng=jax.random.PRNGKey(0),
    )
    np.testing.assert_allclose(
        got['loss'], float(full['loss'].mean()), rtol=1e-5
    )
  got = trainer.evaluate(
      eval_step,
      params,
      dataset.test_images,
      dataset.test_labels,
      batch_size=64,
      mesh=mesh,
      rng=jax.random.PRNGKey(0),
  )
  assert set(got) >= {'loss', 'neg_elbo', 'loss_kl', 'loss_rec', 'mse'}


def test_whole_batch_statistics_see_only_test_examples(smoke_config):
  # WAE's MMD is taken over a whole batch: zero padding rows (200 of a 500
  # batch on digits' 300 test images) moved the reported test MMD by 46%.
  dataset = data.load_dataset('digits')
  x, y = dataset.test_images, dataset.test_labels
  wae = models.build_model(_quiet(smoke_config, model='wae'), (64,))
  params = wae.init(jax.random.PRNGKey(0))
  mesh = sharding.make_mesh()
  eval_step = step_lib.jit_eval_step(step_lib.make_eval_step(wae), mesh)
  rng = jax.random.PRNGKey(1)
  run = lambda b: trainer.evaluate(
      eval_step, params, x, y, batch_size=b, mesh=mesh, rng=rng
  )
  assert run(500) == run(300)  # One batch of the test set's own size.
  # 200 + 100: the last batch is filled with real rows, masked out.
  losses = lambda rows, i: wae.per_example_losses(
      params, x[rows], jax.random.fold_in(rng, i), train=False
  )['loss_mmd']
  last = np.r_[200:300, 100:200]
  want = np.sum(losses(np.arange(200), 0)) + np.sum(losses(last, 1)[:100])
  np.testing.assert_allclose(run(200)['loss_mmd'], want / 300, rtol=1e-5)


@pytest.mark.parametrize(
    'overrides,match',
    [
        (dict(model='nope'), 'Unknown model'),
        (dict(layout='chw'), 'layout'),
        (dict(binarize='sometimes'), 'binarize'),
        (dict(encoder='conv'), 'layout=hwc'),
        (dict(learning_rate=0.0), 'learning_rate'),
        (dict(optimizer='lion'), 'optimizer'),
        (dict(batch_size=0), 'batch_size'),
        (dict(num_train_steps=0, num_epochs=0), 'num_train_steps'),
        (dict(grad_clip_norm=-1.0), 'grad_clip_norm'),
    ],
)
def test_invalid_config_fails_before_any_work(
    smoke_config, tmp_path, overrides, match
):
  config = _quiet(smoke_config, **overrides)
  with pytest.raises(ValueError, match=match):
    train.train_and_evaluate(config, tmp_path / 'run')
  assert not (tmp_path / 'run').exists()


def test_batch_larger_than_the_dataset_is_rejected(smoke_config, tmp_path):
  with pytest.raises(ValueError, match='batch_size'):
    train.train_and_evaluate(_quiet(smoke_config, batch_size=4096), tmp_path)


def test_resuming_with_a_different_model_config_is_refused(
    smoke_config, tmp_path
):
  train.train_and_evaluate(_quiet(smoke_config), tmp_path)
  before = sorted(p.name for p in (tmp_path / 'checkpoints').iterdir())
  with pytest.raises(
      train.IncompatibleWorkdirError, match='latent_dim: 2 -> 5'
  ):
    train.train_and_evaluate(_quiet(smoke_config, latent_dim=5), tmp_path)
  assert sorted(p.name for p in (tmp_path / 'checkpoints').iterdir()) == before
  # Run-control fields may change: training longer continues the same run.
  summary = train.train_and_evaluate(
      _quiet(smoke_config, num_train_steps=30), tmp_path
  )
  assert summary['step'] == 30


def test_device_resident_data_trains_exactly_like_host_batches(
    smoke_config, tmp_path
):
  config = _quiet(smoke_config, num_train_steps=15, binarize='dynamic')
  train.train_and_evaluate(config, tmp_path / 'device')
  train.train_and_evaluate(
      _quiet(config, data_on_device=False), tmp_path / 'host'
  )
  chex.assert_trees_all_equal(
      _final_params(tmp_path / 'device'), _final_params(tmp_path / 'host')
  )


def test_train_indices_select_what_train_batches_yield():
  dataset = data.load_dataset('digits')
  kw = dict(batch_size=64, seed=3, start_step=21)
  for idx, batch in zip(
      data.train_indices(len(dataset.train_images), **kw),
      data.train_batches(dataset.train_images, dataset.train_labels, **kw),
  ):
    np.testing.assert_array_equal(dataset.train_images[idx], batch['image'])
    break


def test_steps_per_call_divides_every_boundary(smoke_config):
  c = _quiet(
      smoke_config,
      steps_per_call=10,
      log_every_steps=50,
      checkpoint_every_steps=500,
      eval_every_steps=0,
  )
  assert trainer.steps_per_call(c, 0, 2340) == 10
  assert trainer.steps_per_call(c, 0, 2345) == 5
  assert trainer.steps_per_call(c, 1000, 2340) == 10
  assert trainer.steps_per_call(c, 7, 2340) == 1
  assert trainer.steps_per_call(_quiet(c, eval_every_steps=4), 0, 2340) == 2


def test_fused_steps_train_like_single_steps(smoke_config, tmp_path):
  config = _quiet(smoke_config, num_train_steps=20, binarize='dynamic')
  train.train_and_evaluate(_quiet(config, steps_per_call=1), tmp_path / 'one')
  train.train_and_evaluate(_quiet(config, steps_per_call=10), tmp_path / 'ten')
  chex.assert_trees_all_close(
      _final_params(tmp_path / 'one'),
      _final_params(tmp_path / 'ten'),
      rtol=1e-5,
      atol=1e-6,
  )


@pytest.mark.parametrize('unroll', [False, True])
def test_scanned_steps_equal_single_steps(smoke_config, unroll):
  config = smoke_config
  dataset = data.load_dataset('digits')
  model = models.build_model(config, dataset.input_shape)
  tx = state_lib.make_optimizer(config, 10)
  params = model.init(jax.random.PRNGKey(0))
  fresh = lambda: state_lib.create_train_state(
      jax.tree.map(jnp.copy, params), tx, jax.random.PRNGKey(1)
  )
  step = step_lib.make_train_step(model, tx, dynamic_binarization=True)
  batches = np.stack(
      [dataset.train_images[i * 8 : i * 8 + 8] for i in range(4)]
  )
  single = fresh()
  for b in batches:
    single, _ = jax.jit(step)(single, {'image': b})
  scanned, metrics = jax.jit(step_lib.scan_steps(step, unroll=unroll))(
      fresh(), {'image': batches}
  )
  chex.assert_shape(metrics['loss'], (4,))
  chex.assert_trees_all_close(
      scanned.params, single.params, rtol=1e-5, atol=1e-6
  )
  # A single fused step (K = 1) takes the loop-free path.
  one, _ = jax.jit(step_lib.scan_steps(step, unroll=unroll))(
      fresh(), {'image': batches[:1]}
  )
  first, _ = jax.jit(step)(fresh(), {'image': batches[0]})
  chex.assert_trees_all_close(one.params, first.params, rtol=1e-6, atol=1e-7)


_MAGIC = 0.123456  # Not a grey level of digits (multiples of 1/16).


def _poison_rows(monkeypatch, dataset, rows):
  """``dataset`` with rows whose training loss (and gradient) will be NaN."""
  images = dataset.train_images.copy()
  images[rows, 0] = _MAGIC
  real_build = models.build_model

  def build(*args, **kwargs):
    model = real_build(*args, **kwargs)
    inner = model.train_losses

    def train_losses(params, model_state, x, rng, **kw):
      losses, model_state = inner(params, model_state, x, rng, **kw)
      hit = jnp.abs(x.reshape(len(x), -1)[:, 0] - _MAGIC) < 1e-6
      nan_if_hit = jnp.where(hit, jnp.nan, 1.0)
      return dict(losses, loss=losses['loss'] * nan_if_hit), model_state

    object.__setattr__(model, 'train_losses', train_losses)
    return model

  monkeypatch.setattr(models, 'build_model', build)
  return dataclasses.replace(dataset, train_images=images)


def _steps_hitting(rows, config, num_examples):
  """1-based numbers of the steps whose batch holds one of ``rows``."""
  indices = data.train_indices(
      num_examples, batch_size=config.batch_size, seed=config.seed
  )
  return [
      s + 1
      for s, idx in zip(range(config.num_train_steps), indices)
      if set(idx) & set(rows)
  ]


def test_skip_mode_drops_non_finite_batches_and_finishes(
    smoke_config, tmp_path, monkeypatch
):
  config = _quiet(
      smoke_config,
      num_train_steps=60,
      checkpoint_every_steps=20,
      log_every_steps=10,
      eval_every_steps=0,
      nonfinite='skip',
      max_consecutive_nonfinite=5,
  )
  dataset = _poison_rows(monkeypatch, data.load_dataset('digits'), [3, 700])
  hits = _steps_hitting([3, 700], config, len(dataset.train_images))
  assert 0 < len(hits) < 10, hits

  summary = train.train_and_evaluate(config, tmp_path, dataset=dataset)
  assert summary['skipped_batches'] == len(hits)
  records = [
      json.loads(l)
      for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()
  ]
  train_records = [r for r in records if r['split'] == 'train']
  assert sum(r['skipped_batches'] for r in train_records) == len(hits)
  assert all(np.isfinite(r['loss']) for r in train_records)
  chex.assert_tree_all_finite(_final_params(tmp_path))


def test_stop_mode_names_the_first_non_finite_step(
    smoke_config, tmp_path, monkeypatch
):
  config = _quiet(smoke_config, num_train_steps=60, checkpoint_every_steps=1000)
  dataset = _poison_rows(monkeypatch, data.load_dataset('digits'), [3, 700])
  first = _steps_hitting([3, 700], config, len(dataset.train_images))[0]
  with pytest.raises(train.NonFiniteLossError, match=f'at step {first};'):
    train.train_and_evaluate(config, tmp_path, dataset=dataset)


def test_skip_mode_stops_after_too_many_in_a_row(
    smoke_config, tmp_path, monkeypatch
):
  config = _quiet(
      smoke_config,
      num_train_steps=60,
      nonfinite='skip',
      max_consecutive_nonfinite=2,
  )
  dataset = data.load_dataset('digits')
  # Every batch is poisoned: the third in a row stops the run.
  dataset = _poison_rows(
      monkeypatch, dataset, list(range(len(dataset.train_images)))
  )
  with pytest.raises(
      train.NonFiniteLossError,
      match='at step 3, the last of 3 non-finite batches in a row',
  ):
    train.train_and_evaluate(config, tmp_path, dataset=dataset)


def test_same_config_and_seed_give_identical_results(smoke_config, tmp_path):
  config = _quiet(smoke_config, num_train_steps=30, eval_every_steps=10)
  first = train.train_and_evaluate(config, tmp_path / 'a')
  second = train.train_and_evaluate(config, tmp_path / 'b')
  other_seed = train.train_and_evaluate(_quiet(config, seed=1), tmp_path / 'c')
  assert first['params_sha256'] == second['params_sha256']
  assert first['test'] == second['test']
  metrics = lambda d: (d / 'metrics.jsonl').read_text()
  assert metrics(tmp_path / 'a') == metrics(tmp_path / 'b')
  assert other_seed['params_sha256'] != first['params_sha256']


def test_work_directory_records_config_versions_and_revision(
    smoke_config, tmp_path
):
  config = _quiet(smoke_config, num_train_steps=5)
  train.train_and_evaluate(config, tmp_path)
  train.train_and_evaluate(_quiet(config, num_train_steps=10), tmp_path)
  saved = json.loads((tmp_path / 'config.json').read_text())
  assert saved['num_train_steps'] == 10 and saved['model'] == config.model
  launches = [
      json.loads(l)
      for l in (tmp_path / 'launches.jsonl').read_text().splitlines()
  ]
  assert [l['start_step'] for l in launches] == [0, 5]
  assert launches[0]['packages']['jax'] == jax.__version__
  assert launches[0]['packages']['flax'] == importlib.metadata.version('flax')
  head = subprocess.run(
      ['git', '-C', os.path.dirname(__file__), 'rev-parse', 'HEAD'],
      capture_output=True,
      text=True,
  )
  if head.returncode == 0:  # A git checkout (CI clones one).
    assert launches[0]['git']['revision'] == head.stdout.strip()
  else:
    assert launches[0]['git']['revision'] is None


def test_unrolling_fused_steps_is_decided_by_platform_and_network():
  conv = ml_collections.ConfigDict({'encoder': 'conv'})
  mlp = ml_collections.ConfigDict({'encoder': 'mlp'})
  # Measured on XLA:CPU (step.scan_steps): convs 3x faster unrolled there.
  assert step_lib.unroll_fused_steps(conv, 'cpu')
  assert not step_lib.unroll_fused_steps(mlp, 'cpu')
  assert not step_lib.unroll_fused_steps(conv, 'gpu')
  assert not step_lib.unroll_fused_steps(conv, 'tpu')


def test_provenance_never_writes_the_users_git_index(tmp_path):
  run = lambda *a: subprocess.run(
      ['git', '-C', str(tmp_path), *a], check=True, capture_output=True
  )
  run('init', '-q')
  (tmp_path / 'f.txt').write_text('x')
  run('add', 'f.txt')
  run('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'c')
  index = tmp_path / '.git' / 'index'
  os.utime(
      tmp_path / 'f.txt', ns=(1, 1)
  )  # Stale stat data: a refresh would write.
  os.utime(index, ns=(2, 2))
  status = provenance._git(  # pylint: disable=protected-access
      'status', '--porcelain', '--untracked-files=no', source=tmp_path
  )
  assert status == ''
  assert index.stat().st_mtime_ns == 2


def test_misspelt_config_field_is_named_with_a_suggestion(
    smoke_config, tmp_path
):
  config = _quiet(smoke_config)
  config.unlock()
  config.lattent_dim = 3
  with pytest.raises(
      ValueError, match="'lattent_dim' \\(did you mean 'latent_dim'"
  ):
    train.train_and_evaluate(config, tmp_path)
  assert not tmp_path.joinpath('checkpoints').exists()


def test_an_old_run_with_an_ignored_user_file_field_still_relaunches(
    smoke_config, tmp_path, monkeypatch
):
  # Before 2026-11-30, --config.test_fraction=0.5 on digits was accepted and
  # ignored; such a run must still resume and load.
  from ae_jax.train import run_config  # pylint: disable=g-import-not-at-top

  monkeypatch.setattr(run_config, '_check_user_file_fields', lambda c: None)
  old = _quiet(smoke_config, test_fraction=0.5, num_train_steps=10)
  train.train_and_evaluate(old, tmp_path / 'run')
  monkeypatch.undo()
  assert ae_jax.load(tmp_path / 'run').config.test_fraction == 0.2
  summary = train.train_and_evaluate(
      _quiet(smoke_config, num_train_steps=20), tmp_path / 'run'
  )
  assert summary['step'] == 20
  # Given again, the field is refused with the spelling to use.
  with pytest.raises(ValueError, match='Leave --config.test_fraction out'):
    train.train_and_evaluate(
        _quiet(smoke_config, test_fraction=0.5, num_train_steps=20),
        tmp_path / 'run',
    )


def test_a_conv_run_resumes_under_another_conv_impl(tmp_path):
  # The same model computed another way: a checkpoint moves between
  # conv_impl values (it was refused as "a different config").
  from experiments.configs import conv_ae  # pylint: disable=g-import-not-at-top

  config = _quiet(
      conv_ae.get_config('smoke'), conv_impl='matmul', num_train_steps=10
  )
  train.train_and_evaluate(config, tmp_path)
  summary = train.train_and_evaluate(
      _quiet(config, conv_impl='flax', num_train_steps=20), tmp_path
  )
  assert summary['step'] == 20 and np.isfinite(summary['test']['loss'])
  assert ae_jax.load(tmp_path).step == 20
