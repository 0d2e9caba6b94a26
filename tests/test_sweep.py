"""vmapped sweeps: each member equals its own run of the trainer, one compile."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import ae_jax
from ae_jax import train
from ae_jax.train import sweep
from experiments.configs import ae as ae_config
from experiments.configs import aae as aae_config
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
        if not k.startswith(('test_', 'final_'))
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
  traces = []
  make = sweep.step_lib.make_train_step

  def counting(*args, **kwargs):
    step = make(*args, **kwargs)

    def wrapped(state, batch):
      traces.append(1)
      return step(state, batch)

    return wrapped

  monkeypatch.setattr(sweep.step_lib, 'make_train_step', counting)
  config = _config(steps=40)
  config.steps_per_call = 10
  sweep.train_sweep(config, {'beta': [0.5, 2.0]}, tmp_path)
  assert len(traces) == 1  # Four calls of 10 steps, traced once.


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
