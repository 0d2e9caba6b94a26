"""vmapped sweeps: members equal their own runs, on 1 or N devices, one trace."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ae_jax
from ae_jax import train
from ae_jax.train import preemption
from ae_jax.train import sharding
from ae_jax.train import sweep
from experiments.configs import ae as ae_config
from experiments.configs import aae as aae_config
from experiments.configs import rae as rae_config
from experiments.configs import vae as vae_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(module=vae_config, arg='smoke', steps=30):
  config = module.get_config(arg)
  config.num_train_steps = steps
  config.eval_every_steps = 0
  config.write_figures = False
  config.progress_bar = False
  return config


def _params(workdir):
  return jax.tree.leaves(ae_jax.load(workdir).params)


@pytest.fixture(scope='module')
def swept(tmp_path_factory):
  root = tmp_path_factory.mktemp('sweep')
  values = {'seed': [0, 3], 'learning_rate': [1e-3, 3e-3], 'beta': [1.0, 4.0]}
  rows = sweep.train_sweep(_config(), values, root)
  return root, values, rows


def test_grid_is_the_cartesian_product():
  members = sweep.grid({'beta': [1, 2], 'seed': [0, 1, 2]})
  assert len(members) == 6
  assert members[0] == {'beta': 1, 'seed': 0}
  assert members[-1] == {'beta': 2, 'seed': 2}


def test_every_member_equals_its_own_run_of_the_trainer(swept, tmp_path):
  root, _, rows = swept
  assert len(rows) == 8
  for i in (0, 5):  # seed 0 / lr 1e-3 / beta 1 and seed 3 / lr 1e-3 / beta 4.
    point = {
        k: v
        for k, v in rows[i].items()
        if not k.startswith(('test_', 'final_')) and k != 'diverged'
    }
    config = sweep.member_config(_config(), point)
    single = tmp_path / f'single_{i}'
    summary = train.train_and_evaluate(config, single)
    for a, b in zip(_params(root / f'member_{i}'), _params(single)):
      np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
    assert rows[i]['test_loss'] == pytest.approx(
        summary['test']['loss'], rel=1e-4
    )


def test_the_swept_values_take_effect(swept):
  _, _, rows = swept
  by = lambda **kw: [r for r in rows if all(r[k] == v for k, v in kw.items())]
  # A larger beta buys a smaller KL, at every seed and learning rate.
  for seed in (0, 3):
    for lr in (1e-3, 3e-3):
      kl = {
          r['beta']: r['test_loss_kl'] for r in by(seed=seed, learning_rate=lr)
      }
      assert kl[4.0] < kl[1.0], kl
  # Seeds differ; the same seed and values are the same model.
  a, b = by(seed=0, learning_rate=1e-3, beta=1.0), by(
      seed=3, learning_rate=1e-3, beta=1.0
  )
  assert a[0]['test_loss'] != b[0]['test_loss']


def test_member_directories_load_and_evaluate(swept):
  root, _, rows = swept
  summary = json.loads((root / 'sweep.json').read_text())
  assert summary['members'] == 8 and summary['steps'] == 30
  trained = ae_jax.load(root / 'member_7')
  assert trained.config.beta == 4.0 and trained.config.seed == 3
  assert trained.config.learning_rate == pytest.approx(3e-3)
  assert trained.reconstruct(np.zeros((2, 64), np.float32)).shape == (2, 64)


def test_the_sweep_step_compiles_once(tmp_path, monkeypatch):
  make = sweep.step_lib.make_train_step
  monkeypatch.setattr(
      sweep.step_lib,
      'make_train_step',
      lambda *a, **kw: chex.assert_max_traces(make(*a, **kw), n=1),
  )
  config = _config(steps=40)
  config.steps_per_call = 10
  try:  # Four calls of 10 steps; a second trace raises inside the sweep.
    sweep.train_sweep(config, {'beta': [0.5, 2.0]}, tmp_path)
  finally:
    chex.clear_trace_counter()


def _toy_step(state, batch, hparams, train_data):
  """A sweep step in miniature: member rows of ``w`` gather their batch."""
  x = train_data['image'][batch['index']]  # [K, B, D]
  w = state['w'] + jnp.mean(x, axis=1) * hparams['beta'][:, None]
  return {'w': w}, {'loss': jnp.mean(w, axis=1)}


def _toy_args(mesh, steps):
  members = sharding.member_sharded(mesh)
  rng = np.random.default_rng(0)
  index = rng.integers(0, 10, (steps, 2, 4)).astype(np.int32)
  return (
      jax.device_put({'w': np.zeros((2, 3), np.float32)}, members),
      {
          'index': jax.device_put(
              index, sharding.member_sharded(mesh, axis=1, batch=True)
          )
      },
      jax.device_put({'beta': np.float32([1, 2])}, members),
      jax.device_put(
          {'image': rng.normal(size=(10, 3)).astype(np.float32)},
          sharding.replicated(mesh),
      ),
  )


def test_the_sweep_step_donates_its_state_and_refuses_a_retrace():
  mesh = sharding.make_sweep_mesh(num_devices=1)
  run = sweep.jit_sweep_step(_toy_step, mesh)
  state, batch, hparams, train_data = _toy_args(mesh, 3)
  with jax.transfer_guard('disallow'):  # No implicit copy in or out.
    new, metrics = run(state, batch, hparams, train_data)
    assert state['w'].is_deleted()  # Donated: its buffer holds `new`.
    new, _ = run(new, batch, hparams, train_data)  # Same shapes: no trace.
  chex.assert_shape(metrics['loss'], (3, 2))
  x = np.asarray(train_data['image'])[np.asarray(batch['index'])]
  expected = 2 * np.sum(x.mean(axis=2), axis=0) * np.float32([[1], [2]])
  np.testing.assert_allclose(new['w'], expected, rtol=1e-5)
  _, shorter, _, _ = _toy_args(mesh, 2)  # 2 steps per call instead of 3.
  with pytest.raises(RuntimeError, match='traced 2 times'):
    run(new, shorter, hparams, train_data)


def test_the_training_loop_allows_no_implicit_transfer(tmp_path, monkeypatch):
  # Feeding the step host indices (no explicit device_put) is an implicit
  # copy per call; the sweep's transfer guard turns it into an error.
  monkeypatch.setattr(sweep, '_put', lambda array, where: array)
  with pytest.raises(Exception, match='Disallowed host-to-device transfer'):
    sweep.train_sweep(_config(steps=10), {'beta': [0.5, 2.0]}, tmp_path)


def test_meshes_that_do_not_fit_the_sweep_are_refused(tmp_path):
  with pytest.raises(ValueError, match='model_parallel=2 must divide the 1'):
    sharding.make_sweep_mesh(2, num_devices=1)
  with pytest.raises(ValueError, match='make_sweep_mesh'):
    sweep.train_sweep(
        _config(), {'beta': [1.0, 2.0]}, tmp_path, mesh=sharding.make_mesh()
    )
  assert not tmp_path.joinpath('sweep.json').exists()


@pytest.mark.parametrize(
    'module, values, match',
    [
        (vae_config, {'depth': [1, 2]}, 'Cannot sweep'),
        (vae_config, {'beta': [1.0, 1.0]}, 'distinct'),
        (vae_config, {'seed': [0.5, 1]}, 'integers'),
        (ae_config, {'beta': [1.0, 2.0]}, 'does not apply'),
        (aae_config, {'learning_rate': [1e-3, 1e-4]}, 'several'),
        (vae_config, {'beta': [1.0, -1.0]}, 'beta'),
        (vae_config, {}, 'at least one'),
    ],
)
def test_bad_sweeps_are_refused_before_training(
    module, values, match, tmp_path
):
  with pytest.raises(ValueError, match=match):
    sweep.train_sweep(_config(module), values, tmp_path / 'w')
  assert not (tmp_path / 'w').exists()


def test_a_structural_difference_is_named_by_its_field(tmp_path):
  # RAE's gradient penalty needs a forward-mode conv decoder, so members
  # with and without it differ in one field deep inside the module: the
  # message names that field, not two whole module reprs.
  config = _config(rae_config)
  config.encoder, config.layout = 'conv', 'hwc'
  with pytest.raises(ValueError) as error:
    sweep.train_sweep(
        config, {'gradient_penalty_weight': [0.0, 1.0]}, tmp_path / 'w'
    )
  assert str(error.value) == (
      'Sweep members differ in module.decoder.forward_mode (False vs True), '
      'which changes the model structure; sweep it with separate runs.'
  )
  assert not (tmp_path / 'w').exists()


def test_the_binary_prints_its_table_and_figure(tmp_path):
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.sweep',
          '--config=experiments/configs/ae.py:smoke',
          '--config.num_train_steps=20',
          '--sweep.sparsity_weight=0,0.5',
          '--config.sparsity=l1',
          f'--workdir={tmp_path}',
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      env=dict(os.environ, JAX_PLATFORMS='cpu'),
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert '| sparsity_weight |' in proc.stdout
  assert '2 members' in proc.stdout
  assert (tmp_path / 'sweep.png').stat().st_size > 0
  bad = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.sweep',
          '--config=experiments/configs/ae.py:smoke',
          '--sweep.beta=a,b',
          f'--workdir={tmp_path}/bad',
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      env=dict(os.environ, JAX_PLATFORMS='cpu'),
  )
  assert bad.returncode != 0 and 'comma-separated numbers' in bad.stderr
  too_wide = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.sweep',
          '--config=experiments/configs/ae.py:smoke',
          '--sweep.sparsity_weight=0,0.5',
          '--model_parallel=2',
          f'--workdir={tmp_path}/too_wide',
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      env=dict(os.environ, JAX_PLATFORMS='cpu'),
  )
  assert too_wide.returncode != 0
  assert 'error: --model_parallel=2 must divide the 1 devices' in (
      too_wide.stderr
  )


def test_a_weight_swept_through_zero_matches_the_run_without_the_term(tmp_path):
  # mmd_weight = 0 turns the term off in a plain run; in the sweep it is
  # computed and multiplied by 0, which must leave the same parameters.
  config = _config(steps=20)
  rows = sweep.train_sweep(config, {'mmd_weight': [0.0, 5.0]}, tmp_path / 's')
  assert 'test_loss_mmd' in rows[0]
  single = train.train_and_evaluate(
      sweep.member_config(config, {'mmd_weight': 0.0}), tmp_path / 'single'
  )
  for a, b in zip(
      _params(tmp_path / 's' / 'member_0'), _params(tmp_path / 'single')
  ):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
  assert rows[0]['test_loss'] == pytest.approx(single['test']['loss'], rel=1e-4)
  assert rows[1]['test_loss_mmd'] < rows[0]['test_loss_mmd']


MODEL_AXIS_SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np
    assert jax.device_count() == 4, jax.devices()
    from ae_jax.train import sharding, sweep
    from experiments.configs import vae

    config = vae.get_config('smoke')
    config.num_train_steps = 10
    config.write_figures = config.progress_bar = False
    values = {'seed': [0, 3], 'beta': [1.0, 4.0]}
    write_members = sweep._write_members
    final = {}

    def keep_state(workdir, config, members, state, *rest):
      final['state'] = state
      write_members(workdir, config, members, state, *rest)

    sweep._write_members = keep_state

    def run(model_parallel, num_devices):
      mesh = sharding.make_sweep_mesh(model_parallel, num_devices)
      workdir = f'{sys.argv[1]}/{model_parallel}_{num_devices}'
      rows = sweep.train_sweep(config, values, workdir, mesh=mesh)
      leaf = jax.tree.leaves(final['state'].params)[0]
      shards = leaf.addressable_shards
      assert len(leaf.sharding.device_set) == num_devices, leaf.sharding
      # Each device holds K / model_parallel members, not all K.
      assert {s.data.shape[0] for s in shards} == {4 // model_parallel}
      assert len({(s.index[0].start, s.device) for s in shards}) == len(shards)
      assert len({s.index[0].start for s in shards}) == model_parallel
      return jax.device_get(final['state'].params), rows

    p1, r1 = run(1, 1)
    for shape in ((4, 4), (2, 4)):
      p, r = run(*shape)
      for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=shape)
      for x, y in zip(r1, r):
        assert x.keys() == y.keys()
        for key in x:
          np.testing.assert_allclose(x[key], y[key], rtol=1e-5, err_msg=key)

    for model_parallel, match in ((3, 'must divide the 4 devices'),
                                  (4, None)):
      try:
        mesh = sharding.make_sweep_mesh(model_parallel)
        sweep.train_sweep(config, {'beta': [1.0, 2.0]}, sys.argv[1] + '/bad',
                          mesh=mesh)
      except ValueError as e:
        assert (match or "set --model_parallel to one of [1, 2]") in str(e), e
      else:
        raise AssertionError(f'model_parallel={model_parallel} accepted')
    config.batch_size = 30
    try:
      sweep.train_sweep(config, values, sys.argv[1] + '/bad',
                        mesh=sharding.make_sweep_mesh(1))
    except ValueError as e:
      assert 'batch_size=28' in str(e), e
    else:
      raise AssertionError('batch 30 over a data axis of 4 accepted')
    print('MODEL_AXIS_OK')
""")


@pytest.mark.slow
def test_members_spread_over_a_model_axis_train_as_on_one_device(tmp_path):
  # 4 members on a 4-device model axis, and on 2 x 2 (model x data), against
  # the same sweep on one device. XLA_FLAGS must be set before JAX starts.
  proc = subprocess.run(
      [sys.executable, '-c', MODEL_AXIS_SCRIPT, str(tmp_path)],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      env=dict(
          os.environ,
          XLA_FLAGS='--xla_force_host_platform_device_count=4',
          JAX_PLATFORMS='cpu',
      ),
  )
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert 'MODEL_AXIS_OK' in proc.stdout


def test_a_diverging_member_is_flagged_and_the_others_finish(tmp_path, caplog):
  rows = sweep.train_sweep(
      _config(steps=30), {'learning_rate': [1e-3, 1e30]}, tmp_path
  )
  assert [r['diverged'] for r in rows] == [False, True]
  assert np.isfinite(rows[0]['test_loss']) and not np.isfinite(
      rows[1]['test_loss']
  )
  assert 'Sweep members [1] diverged' in caplog.text
  saved = json.loads((tmp_path / 'sweep.json').read_text())
  assert [r['diverged'] for r in saved['rows']] == [False, True]
  # Its work directory says it diverged, instead of "damaged checkpoint".
  assert ae_jax.load(tmp_path / 'member_0').step == 30
  with pytest.raises(ValueError, match='diverged during training'):
    ae_jax.load(tmp_path / 'member_1')
  # Relaunching the finished sweep: its NaN checkpoint restored ("non-finite
  # values" refused it before), its measured throughput kept (not zeros).
  again = sweep.train_sweep(
      _config(steps=30), {'learning_rate': [1e-3, 1e30]}, tmp_path
  )
  assert again[0]['test_loss'] == rows[0]['test_loss']
  relaunched = json.loads((tmp_path / 'sweep.json').read_text())
  for field in ('steps_per_second', 'compile_seconds'):
    assert relaunched[field] == saved[field]
  assert saved['steps_per_second'] > 0


def _stop_at_the_second_call(monkeypatch, config, values, workdir):
  """Trains the sweep into ``workdir`` with a SIGTERM (a preemptible VM's
  notice) during its second call: it saves the step it reached and stops."""
  calls = []
  put = sweep._put  # pylint: disable=protected-access

  def signalled(*args):
    calls.append(1)
    if len(calls) == 2:
      os.kill(os.getpid(), signal.SIGTERM)
    return put(*args)

  monkeypatch.setattr(sweep, '_put', signalled)
  with pytest.raises(preemption.Preempted, match='SIGTERM'):
    sweep.train_sweep(config, values, workdir)
  monkeypatch.undo()


def test_a_sweep_with_a_diverged_member_resumes(tmp_path, monkeypatch):
  config = _config(steps=30)
  config.checkpoint_every_steps = 10
  values = {'learning_rate': [1e-3, 1e30]}
  sweep.train_sweep(config, values, tmp_path / 'straight')
  _stop_at_the_second_call(monkeypatch, config, values, tmp_path / 'stopped')
  # Its step-20 checkpoint holds member 1's NaNs; the healthy member's 20
  # steps were lost before ("No checkpoint could be restored").
  rows = sweep.train_sweep(config, values, tmp_path / 'stopped')
  assert [r['diverged'] for r in rows] == [False, True]
  chex.assert_trees_all_equal(
      _params(tmp_path / 'straight' / 'member_0'),
      _params(tmp_path / 'stopped' / 'member_0'),
  )


def _files(workdir):
  return {p: p.read_bytes() for p in sorted(workdir.rglob('*')) if p.is_file()}


def test_a_sweep_workdir_resumes_its_sweep_and_refuses_any_other(
    tmp_path, monkeypatch
):
  config = _config(steps=30)
  config.checkpoint_every_steps = 10
  values = {'beta': [1.0, 4.0]}
  straight = tmp_path / 'straight'
  sweep.train_sweep(config, values, straight)
  files = _files(straight)
  # Before, member_0/config.json said beta 4 beside beta 1's checkpoint.
  for other in ({'beta': [4.0, 8.0]}, {'beta': [1.0]}):
    with pytest.raises(ValueError, match='already holds another sweep'):
      sweep.train_sweep(config, other, straight)
  with pytest.raises(ValueError, match='num_train_steps: 30 -> 40'):
    sweep.train_sweep(_config(steps=40), values, straight)
  assert _files(straight) == files
  # A sweep killed while writing its members is finished by the same sweep.
  shutil.rmtree(straight / 'member_1')
  sweep.train_sweep(config, values, straight)
  assert ae_jax.load(straight / 'member_1').config.beta == 4.0
  # SIGTERM (a preemptible VM's notice) during the second call: the sweep
  # saves the step it reached and stops; it lost all its work before.
  _stop_at_the_second_call(monkeypatch, config, values, tmp_path / 'stopped')
  steps = [p.name for p in (tmp_path / 'stopped' / 'checkpoints').iterdir()]
  assert steps == ['20'], steps
  sweep.train_sweep(config, values, tmp_path / 'stopped')
  for i in range(2):
    chex.assert_trees_all_equal(
        _params(tmp_path / 'straight' / f'member_{i}'),
        _params(tmp_path / 'stopped' / f'member_{i}'),
    )
  # Another sweep is not resumed from this one's checkpoint.
  shutil.rmtree(tmp_path / 'stopped' / 'member_0')
  shutil.rmtree(tmp_path / 'stopped' / 'member_1')
  (tmp_path / 'stopped' / 'sweep.json').unlink()
  with pytest.raises(ValueError, match='checkpoint of another sweep'):
    sweep.train_sweep(config, {'beta': [2.0, 8.0]}, tmp_path / 'stopped')
