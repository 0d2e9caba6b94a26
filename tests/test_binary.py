"""End to end: the real binary on digits, its outputs, resume, `ae_jax.load`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ae_jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, cwd=ROOT, timeout=600, platforms='cpu'):
  env = dict(os.environ, JAX_PLATFORMS=platforms, PYTHONPATH=ROOT)
  if not platforms:  # jax probes every backend, as on a user's machine.
    del env['JAX_PLATFORMS']
  return subprocess.run(
      [sys.executable, '-m', 'experiments.train', *args],
      cwd=cwd,
      capture_output=True,
      text=True,
      timeout=timeout,
      env=env,
  )


CONFIG = os.path.join(ROOT, 'experiments/configs/vae.py')


@pytest.fixture(scope='module')
def trained_workdir(tmp_path_factory):
  parent = tmp_path_factory.mktemp('runs')
  # A relative --workdir, as users type it.
  proc = _run(
      f'--config={CONFIG}:smoke',
      '--workdir=vae',
      '--config.num_train_steps=30',
      cwd=parent,
  )
  workdir = parent / 'vae'
  assert proc.returncode == 0, proc.stderr[-4000:]
  return workdir


def test_binary_writes_checkpoint_logs_and_figures(trained_workdir):
  names = set(os.listdir(trained_workdir))
  assert {
      'config.json',
      'dataset.json',
      'metrics.jsonl',
      'final_metrics.json',
      'checkpoints',
      'tensorboard',
      'reconstructions.png',
      'latent_codes.png',
      'samples.png',
      'loss_curve.png',
  } <= names, names
  assert os.listdir(trained_workdir / 'checkpoints')
  assert any(
      f.startswith('events.out.tfevents')
      for f in os.listdir(trained_workdir / 'tensorboard')
  )
  final = json.loads((trained_workdir / 'final_metrics.json').read_text())
  assert final['step'] == 30 and np.isfinite(final['test']['neg_elbo'])
  splits = {
      json.loads(l)['split']
      for l in (trained_workdir / 'metrics.jsonl').read_text().splitlines()
  }
  assert splits == {'train', 'test'}


def test_rerun_resumes_instead_of_retraining(trained_workdir):
  before = (trained_workdir / 'metrics.jsonl').read_text()
  proc = _run(
      '--config=experiments/configs/vae.py:smoke',
      f'--workdir={trained_workdir}',
      '--config.num_train_steps=30',
  )
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert 'Restoring checkpoint at step 30' in proc.stderr
  assert (trained_workdir / 'metrics.jsonl').read_text() == before


def test_logs_respect_verbosity_and_omit_absent_backends(trained_workdir):
  args = (
      '--config=experiments/configs/vae.py:smoke',
      f'--workdir={trained_workdir}',
      '--config.num_train_steps=30',
  )
  default = _run(*args, platforms='')
  assert default.returncode == 0, default.stderr[-4000:]
  info = [l for l in default.stderr.splitlines() if l.startswith('I')]
  assert info, default.stderr  # INFO lines by default...
  assert 'Unable to initialize backend' not in default.stderr
  quiet = _run(*args, '--verbosity=-1', platforms='')
  assert quiet.returncode == 0, quiet.stderr[-4000:]
  # ... none at --verbosity=-1 (absl: warnings and errors only).
  assert not [l for l in quiet.stderr.splitlines() if l.startswith('I')]


def test_load_encode_decode_reconstruct_sample(trained_workdir):
  from sklearn.datasets import load_digits

  x = (load_digits().data[:5] / 16.0).astype(np.float32)
  m = ae_jax.load(trained_workdir)
  assert m.step == 30 and m.input_shape == (64,)
  z = m.encode(x)
  assert z.shape == (5, m.latent_dim)
  assert m.decode(z).shape == (5, 64)
  r = m.reconstruct(x)
  assert r.shape == (5, 64) and 0 <= r.min() and r.max() <= 1
  assert m.sample(3, seed=1).shape == (3, 64)
  with pytest.raises(ValueError, match=r'shape \[batch, 64\]'):
    m.encode(x.reshape(5, 8, 8))
  with pytest.raises(TypeError, match='astype'):
    m.encode((x * 16).astype(np.int32))
  with pytest.raises(ValueError, match='NaN'):
    m.encode(np.full((1, 64), np.nan, np.float32))


def test_bad_flags_fail_fast_with_a_message(tmp_path):
  proc = _run(
      '--config=experiments/configs/vae.py:smoke',
      f'--workdir={tmp_path}/w',
      '--config.model=pca',
  )
  assert proc.returncode != 0
  assert "error: Unknown model 'pca'" in proc.stderr
  assert not (tmp_path / 'w').exists()


def test_missing_dataset_names_the_command_that_provides_it(tmp_path):
  proc = _run(
      '--config=experiments/configs/vae.py:smoke',
      f'--workdir={tmp_path}/w',
      '--config.dataset=fashion_mnist',
      f'--config.idx_dir={tmp_path}/none',
      f'--config.data_dir={tmp_path}/tfds',
  )
  assert proc.returncode != 0
  assert 'apt-get install -y dataset-fashion-mnist' in proc.stderr


# Every model's fields, as config.json held them before issue 15 (one flat
# schema of 66 fields): an old work directory has all of them.
_PRE_ISSUE_15_MODEL_FIELDS = dict(
    dropout_rate=0.0,
    beta=1.0,
    iwae_samples=1,
    mmd_weight=0.0,
    mmd_kernel='imq',
    capacity_max=0.0,
    capacity_steps=10000,
    capacity_gamma=1000.0,
    tc_weight=10.0,
    code_activation='linear',
    noise='none',
    noise_level=0.0,
    sparsity='none',
    sparsity_weight=0.0,
    sparsity_target=0.05,
    contractive_weight=0.0,
    rbm_visible='bernoulli',
    rbm_hidden='bernoulli',
    cd_steps=1,
    persistent_chains=False,
    lstm_hidden=128,
    prior='standard_normal',
    aae_encoder='deterministic',
    aae_conditional=False,
    adversarial_weight=1.0,
    discriminator_sizes=[512, 512],
    discriminator_learning_rate=1e-3,
)


def test_a_run_saved_by_an_older_version_loads_encodes_and_resumes(
    trained_workdir, tmp_path
):
  import shutil  # pylint: disable=g-import-not-at-top

  old = tmp_path / 'old'
  shutil.copytree(trained_workdir, old)
  saved = json.loads((old / 'config.json').read_text())
  saved.update(_PRE_ISSUE_15_MODEL_FIELDS)
  saved['lstm_hidden'] = 64  # Another model's field: old versions kept it.
  del saved['mmd_kernel']  # A field added after the run was saved.
  (old / 'config.json').write_text(json.dumps(saved))
  x = np.random.default_rng(0).uniform(size=(4, 64)).astype(np.float32)
  model = ae_jax.load(old)
  assert model.config.mmd_kernel == 'imq' and 'lstm_hidden' not in model.config
  np.testing.assert_array_equal(
      model.encode(x), ae_jax.load(trained_workdir).encode(x)
  )
  proc = _run(
      f'--config={CONFIG}:smoke',
      f'--workdir={old}',
      '--config.num_train_steps=40',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'Restoring checkpoint at step 30' in proc.stderr
  assert json.loads((old / 'final_metrics.json').read_text())['step'] == 40
