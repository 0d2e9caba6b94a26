"""Bad input fails early, with an error that names the field and the fix.

Issue 7, "Bad input": every fault below raises a specific exception before
anything is compiled or trained, and a bad relaunch of an existing run leaves
its files untouched. Faults tested elsewhere are not repeated here (BUILD.md,
reliability section, maps each fault to its test).
"""

import dataclasses
import hashlib
import math
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from ae_jax import corruptions
from ae_jax import data
from ae_jax import models
from ae_jax import penalties
from ae_jax import priors
from ae_jax import train
from ae_jax import trained
from ae_jax.data import local_idx
from ae_jax.data import tfds_source
from ae_jax.train import state as state_lib
from tests import idx_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _ReachedTraining(AssertionError):
  """Raised in place of building the train state: the checks let it pass."""


@pytest.fixture(autouse=True)
def _no_compile(monkeypatch):
  # Building the train state is the first compile: reaching it means the
  # fault went unnoticed, so fail at once instead of training.
  def refuse(*args, **kwargs):
    raise _ReachedTraining('the bad input reached training')

  monkeypatch.setattr(state_lib, 'init_train_state', refuse)
  # No test may try to download a dataset.
  monkeypatch.setattr(tfds_source, '_tensorflow_available', lambda: False)


def _config(**overrides):
  from experiments.configs import vae  # pylint: disable=g-import-not-at-top

  config = vae.get_config('smoke')
  config.write_figures = False
  config.progress_bar = False
  config.update(overrides)
  return config


def _snapshot(workdir) -> dict[str, str]:
  """Every file under ``workdir`` -> sha256 of its bytes."""
  out = {}
  for root, _, files in os.walk(workdir):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        out[os.path.relpath(path, workdir)] = hashlib.sha256(
            f.read()
        ).hexdigest()
  return out


# ---------------------------------------------------------------------------
# Config values out of range, unknown names: train_and_evaluate.
# ---------------------------------------------------------------------------

# (id, overrides, exception, the field the message must name). Faults that
# tests/test_train.py::test_invalid_config_fails_before_any_work covers
# (model, layout, binarize, conv without hwc, learning_rate=0, optimizer,
# batch_size=0, no run length, grad_clip_norm < 0) are not repeated.
_NAN, _INF = math.nan, math.inf
CONFIG_FAULTS = [
    ('unknown_dataset', dict(dataset='nope'), ValueError, 'config.dataset'),
    (
        'unknown_prior',
        dict(model='aae', prior='nope'),
        ValueError,
        'config.prior',
    ),
    (
        'prior_module_missing',
        dict(model='aae', prior='nomodule:fn'),
        ValueError,
        'config.prior',
    ),
    (
        'prior_not_a_sampler',
        dict(model='aae', prior='math:sqrt'),
        ValueError,
        'config.prior',
    ),
    (
        'unknown_likelihood',
        dict(likelihood='poisson'),
        ValueError,
        'likelihood',
    ),
    ('unknown_activation', dict(activation='swish2'), ValueError, 'activation'),
    ('unknown_init', dict(init='zeros'), ValueError, 'config.init'),
    (
        'unknown_lr_schedule',
        dict(lr_schedule='step'),
        ValueError,
        'lr_schedule',
    ),
    (
        'unknown_compute_dtype',
        dict(compute_dtype='float16'),
        ValueError,
        'compute_dtype',
    ),
    (
        'unknown_noise',
        dict(model='ae', noise='blur', noise_level=0.1),
        ValueError,
        'config.noise',
    ),
    ('latent_dim_zero', dict(latent_dim=0), ValueError, 'latent_dim'),
    ('latent_dim_bool', dict(latent_dim=True), TypeError, 'latent_dim'),
    ('hidden_size_zero', dict(hidden_sizes=(0,)), ValueError, 'hidden_sizes'),
    (
        'dropout_rate_one',
        dict(model='ae', dropout_rate=1.0),
        ValueError,
        'dropout_rate',
    ),
    (
        'dropout_rate_negative',
        dict(model='ae', dropout_rate=-0.1),
        ValueError,
        'dropout_rate',
    ),
    ('beta_negative', dict(beta=-1.0), ValueError, 'config.beta'),
    ('beta_inf', dict(beta=_INF), ValueError, 'config.beta'),
    # Fields of the user's own files, ignored on a built-in dataset before.
    (
        'test_fraction_on_builtin',
        dict(test_fraction=1.5),
        ValueError,
        'config.test_fraction=1.5 applies to csv: and images:',
    ),
    (
        'image_size_on_builtin',
        dict(image_size=-2),
        ValueError,
        'config.image_size=-2 applies to images:',
    ),
    ('beta_nan', dict(beta=_NAN), ValueError, 'config.beta'),
    (
        'iwae_samples_one',
        dict(model='iwae', iwae_samples=1),
        ValueError,
        'iwae_samples',
    ),
    ('mmd_weight_negative', dict(mmd_weight=-1.0), ValueError, 'mmd_weight'),
    (
        'capacity_steps_zero',
        dict(capacity_max=5.0, capacity_steps=0),
        ValueError,
        'capacity_steps',
    ),
    (
        'tc_weight_negative',
        dict(model='factor_vae', tc_weight=-1.0),
        ValueError,
        'tc_weight',
    ),
    (
        'noise_level_negative',
        dict(model='ae', noise='gaussian', noise_level=-0.1),
        ValueError,
        'noise_level',
    ),
    (
        'noise_level_above_one',
        dict(model='ae', noise='masking', noise_level=1.5),
        ValueError,
        'noise_level',
    ),
    (
        'sparsity_weight_negative',
        dict(model='ae', sparsity='l1', sparsity_weight=-1.0),
        ValueError,
        'sparsity_weight',
    ),
    (
        'sparsity_target_zero',
        dict(
            model='ae',
            sparsity='kl',
            sparsity_weight=1.0,
            code_activation='sigmoid',
            sparsity_target=0.0,
        ),
        ValueError,
        'sparsity_target',
    ),
    (
        'contractive_weight_negative',
        dict(model='ae', contractive_weight=-1.0),
        ValueError,
        'contractive_weight',
    ),
    ('cd_steps_zero', dict(model='rbm', cd_steps=0), ValueError, 'cd_steps'),
    (
        'lstm_hidden_zero',
        dict(model='lstm_ae', layout='sequence', lstm_hidden=0),
        ValueError,
        'lstm_hidden',
    ),
    (
        'adversarial_weight_negative',
        dict(model='aae', adversarial_weight=-1.0),
        ValueError,
        'adversarial_weight',
    ),
    (
        'discriminator_lr_zero',
        dict(model='aae', discriminator_learning_rate=0.0),
        ValueError,
        'discriminator_learning_rate',
    ),
    (
        'pretrain_steps_zero',
        dict(
            model='ae',
            hidden_sizes=(32, 16),
            pretrain='autoencoders',
            pretrain_steps=0,
        ),
        ValueError,
        'pretrain_steps',
    ),
    (
        'learning_rate_negative',
        dict(learning_rate=-1.0),
        ValueError,
        'learning_rate',
    ),
    (
        'learning_rate_inf',
        dict(learning_rate=_INF),
        ValueError,
        'learning_rate',
    ),
    (
        'learning_rate_nan',
        dict(learning_rate=_NAN),
        ValueError,
        'learning_rate',
    ),
    (
        'weight_decay_negative',
        dict(optimizer='adamw', weight_decay=-1.0),
        ValueError,
        'weight_decay',
    ),
    ('warmup_negative', dict(warmup_steps=-1), ValueError, 'warmup_steps'),
    (
        'warmup_longer_than_run',
        dict(warmup_steps=1000),
        ValueError,
        'warmup_steps',
    ),
    ('grad_clip_inf', dict(grad_clip_norm=_INF), ValueError, 'grad_clip_norm'),
    ('seed_negative', dict(seed=-1), ValueError, 'config.seed'),
    (
        'steps_per_call_zero',
        dict(steps_per_call=0),
        ValueError,
        'steps_per_call',
    ),
    (
        'eval_batch_size_zero',
        dict(eval_batch_size=0),
        ValueError,
        'eval_batch_size',
    ),
    (
        'eval_every_negative',
        dict(eval_every_steps=-1),
        ValueError,
        'eval_every_steps',
    ),
    (
        'checkpoint_every_zero',
        dict(checkpoint_every_steps=0),
        ValueError,
        'checkpoint_every_steps',
    ),
    (
        'keep_zero_checkpoints',
        dict(max_checkpoints_to_keep=0),
        ValueError,
        'max_checkpoints_to_keep',
    ),
    ('log_every_zero', dict(log_every_steps=0), ValueError, 'log_every_steps'),
]


@pytest.mark.parametrize(
    'overrides,error,field',
    [pytest.param(*case[1:], id=case[0]) for case in CONFIG_FAULTS],
)
def test_config_fault_fails_before_any_work(tmp_path, overrides, error, field):
  workdir = tmp_path / 'run'
  with pytest.raises(error) as e:
    train.train_and_evaluate(_config(**overrides), workdir)
  message = str(e.value)
  assert field in message, message
  # The message says what to do: the flag to set or the valid range.
  assert any(w in message for w in ('--config.', 'must', 'set ')), message
  assert not workdir.exists()


# ---------------------------------------------------------------------------
# A user's own Dataset (train_and_evaluate(..., dataset=)).
# ---------------------------------------------------------------------------


def _digits():
  return data.load_dataset('digits')


def _with_value(images, index, value):
  out = images.copy()
  out[index] = value
  return out


def _replace(**fields):
  ds = _digits()
  return lambda: dataclasses.replace(
      ds, **{k: v(ds) if callable(v) else v for k, v in fields.items()}
  )


DATASET_FAULTS = [
    (
        'nan_pixels',
        _replace(
            train_images=lambda d: _with_value(d.train_images, (3, 5), np.nan)
        ),
        ValueError,
        'train_images: 1 values are NaN or inf',
    ),
    (
        'inf_pixels',
        _replace(
            test_images=lambda d: _with_value(d.test_images, (0, 0), np.inf)
        ),
        ValueError,
        'test_images: 1 values are NaN or inf',
    ),
    (
        'empty_train_split',
        _replace(
            train_images=lambda d: d.train_images[:0],
            train_labels=lambda d: d.train_labels[:0],
        ),
        ValueError,
        'train_images: must be a non-empty',
    ),
    (
        'empty_test_split',
        _replace(
            test_images=lambda d: d.test_images[:0],
            test_labels=lambda d: d.test_labels[:0],
        ),
        ValueError,
        'test_images: must be a non-empty',
    ),
    (
        # A uint8 train split is read as x / 255 (a large set kept as
        # bytes); the test split must be float.
        'uint8_test_pixels',
        _replace(test_images=lambda d: (d.test_images * 255).astype(np.uint8)),
        TypeError,
        '/ 255',
    ),
    (
        'complex_pixels',
        _replace(train_images=lambda d: d.train_images.astype(np.complex64)),
        TypeError,
        'train_images: must be a floating',
    ),
    (
        'images_without_example_axis',
        _replace(train_images=lambda d: d.train_images[0]),
        ValueError,
        '[N, *input_shape]',
    ),
    (
        'train_test_shapes_differ',
        _replace(test_images=lambda d: d.test_images[:, :32]),
        ValueError,
        'give both splits one layout',
    ),
    (
        'float_labels',
        _replace(train_labels=lambda d: d.train_labels.astype(np.float32)),
        TypeError,
        'labels.astype(np.int32)',
    ),
    (
        'labels_length_mismatch',
        _replace(train_labels=lambda d: d.train_labels[:-1]),
        ValueError,
        'one label per example',
    ),
    (
        'labels_out_of_range',
        _replace(train_labels=lambda d: d.train_labels + 10),
        ValueError,
        'outside [0, num_classes - 1 = 9]',
    ),
]


@pytest.mark.parametrize(
    'make,error,match',
    [pytest.param(*case[1:], id=case[0]) for case in DATASET_FAULTS],
)
def test_bad_user_dataset_is_refused_when_built(make, error, match):
  # A Dataset is checked when it is made, so a bad one never reaches
  # train_and_evaluate (and no test split can leave the evaluation empty).
  with pytest.raises(error) as e:
    make()
  assert match in str(e.value), str(e.value)
  assert "Dataset 'digits'" in str(e.value)


def test_codes_outside_the_unit_interval_are_a_valid_dataset():
  # Pretraining feeds a layer the codes of the one below: any finite values.
  ds = _digits()
  codes = dataclasses.replace(
      ds, train_images=ds.train_images * 50 - 3, test_images=-ds.test_images
  )
  assert codes.input_shape == (64,)


# ---------------------------------------------------------------------------
# Corrupt data files, and a bad relaunch of a run that has checkpoints.
# ---------------------------------------------------------------------------


def _fmnist_config(root, **overrides):
  fields = dict(
      dataset='fashion_mnist',
      data_dir=str(root / 'tfds'),
      idx_dir=str(root / 'idx'),
      num_train_steps=10,
      checkpoint_every_steps=10,
      eval_every_steps=0,
      log_every_steps=10,
      steps_per_call=10,
  )
  fields.update(overrides)
  return _config(**fields)


@pytest.fixture(scope='module')
def existing_run(tmp_path_factory):
  """A 10-step Fashion-MNIST run (synthetic IDX files) with a checkpoint."""
  root = tmp_path_factory.mktemp('existing')
  idx_files.write_idx_dir(root / 'idx', 64, 32)
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(tfds_source, '_tensorflow_available', lambda: False)
    train.train_and_evaluate(_fmnist_config(root), root / 'run')
  assert os.listdir(root / 'run' / 'checkpoints')
  return root


@pytest.mark.slow  # Shares a 10-step training run (~10 s).
@pytest.mark.parametrize(
    'corrupt,why',
    [
        pytest.param(idx_files.truncate, 'decompress', id='truncated_idx_file'),
        pytest.param(
            idx_files.wrong_magic, 'magic number 1234', id='wrong_magic_idx'
        ),
    ],
)
def test_corrupt_data_file_on_relaunch_loses_nothing(
    existing_run, tmp_path, corrupt, why
):
  # data_dir and idx_dir may change between launches of one run (a moved
  # data set); the new files are corrupt.
  idx = tmp_path / 'idx'
  idx_files.write_idx_dir(idx, 64, 32)
  bad = str(idx / local_idx.IDX_FILES['train'][0])
  corrupt(bad)
  run = existing_run / 'run'
  before = _snapshot(run)
  config = _fmnist_config(existing_run, num_train_steps=20)
  config.data_dir, config.idx_dir = str(tmp_path / 'tfds'), str(idx)
  with pytest.raises(ValueError, match=why) as e:
    train.train_and_evaluate(config, run)
  assert bad in str(e.value)
  assert 'apt-get install --reinstall' in str(e.value)
  assert _snapshot(run) == before


@pytest.mark.slow  # Shares a 10-step training run (~10 s).
@pytest.mark.parametrize(
    'overrides',
    [
        pytest.param(dict(beta=_INF), id='inf_beta'),
        pytest.param(dict(seed=-3), id='negative_seed'),
        pytest.param(dict(latent_dim=0), id='zero_latent_dim'),
        pytest.param(dict(model='aae', prior='nope'), id='unknown_prior'),
    ],
)
def test_bad_config_on_relaunch_loses_nothing(existing_run, overrides):
  run = existing_run / 'run'
  before = _snapshot(run)
  with pytest.raises(ValueError):
    train.train_and_evaluate(_fmnist_config(existing_run, **overrides), run)
  assert _snapshot(run) == before


# ---------------------------------------------------------------------------
# A batch that does not divide across the devices.
# ---------------------------------------------------------------------------

_DEVICES_SCRIPT = textwrap.dedent("""
    import os, sys
    import jax
    assert jax.device_count() == 4, jax.devices()
    from ae_jax import train
    from experiments.configs import vae

    workdir = sys.argv[1]
    for field, value in (('batch_size', 30), ('eval_batch_size', 30)):
      config = vae.get_config('smoke')
      config[field] = value
      try:
        train.train_and_evaluate(config, workdir)
      except ValueError as e:
        print(field, '->', e)
      else:
        raise AssertionError(f'{field}={value} on 4 devices was accepted')
      assert not os.path.exists(workdir)
""")


def test_batch_not_dividing_the_devices_fails_before_any_work(tmp_path):
  env = dict(
      os.environ,
      XLA_FLAGS='--xla_force_host_platform_device_count=4',
      JAX_PLATFORMS='cpu',
      PYTHONPATH=ROOT,
  )
  proc = subprocess.run(
      [sys.executable, '-c', _DEVICES_SCRIPT, str(tmp_path / 'run')],
      capture_output=True,
      text=True,
      env=env,
      timeout=300,
      cwd=ROOT,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stdout.splitlines()
  assert any(
      l.startswith('batch_size -> ') and 'batch_size=28' in l for l in lines
  ), proc.stdout
  assert any(
      l.startswith('eval_batch_size -> ') and 'eval_batch_size=28' in l
      for l in lines
  ), proc.stdout


# ---------------------------------------------------------------------------
# Arrays of the wrong dtype, rank or size to public functions.
# ---------------------------------------------------------------------------

_KEY = jax.random.PRNGKey(0)
_X = np.random.default_rng(0).random((6, 4)).astype(np.float32)
_LABELS = np.zeros((6,), np.int32)

# Non-numeric arrays used to fail inside JAX ("Error interpreting argument to
# stage as a JAX value"), naming neither the function nor the argument;
# complex ones were corrupted silently.
ARRAY_FAULTS = [
    (
        'gaussian_noise_str',
        lambda: corruptions.gaussian_noise(_KEY, _X.astype(str), level=0.1),
        TypeError,
        'gaussian_noise: x',
    ),
    (
        'masking_noise_object',
        lambda: corruptions.masking_noise(_KEY, _X.astype(object), level=0.1),
        TypeError,
        'masking_noise: x',
    ),
    (
        'salt_and_pepper_complex',
        lambda: corruptions.salt_and_pepper_noise(
            _KEY, _X.astype(np.complex64), level=0.1
        ),
        TypeError,
        'salt_and_pepper_noise: x',
    ),
    (
        'l1_activity_str',
        lambda: penalties.l1_activity(_X.astype(str)),
        TypeError,
        'l1_activity: codes',
    ),
    (
        'kl_sparsity_object',
        lambda: penalties.kl_sparsity(_X.astype(object), target=0.1),
        TypeError,
        'kl_sparsity: mean_activation',
    ),
    (
        'kl_sparsity_per_example_str',
        lambda: penalties.kl_sparsity_per_example(_X.astype(str), target=0.1),
        TypeError,
        'kl_sparsity_per_example: codes',
    ),
    (
        'jacobian_norm_object',
        lambda: penalties.jacobian_frobenius_norm(
            lambda x: x, _X.astype(object)
        ),
        TypeError,
        'jacobian_frobenius_norm: x',
    ),
    (
        'sigmoid_jacobian_str',
        lambda: penalties.sigmoid_layer_jacobian_norm(_X.astype(str), _X),
        TypeError,
        'sigmoid_layer_jacobian_norm: kernel',
    ),
    (
        'prior_log_prob_str',
        lambda: priors.standard_normal(4).log_prob(_X.astype(str)),
        TypeError,
        'standard_normal prior: log_prob',
    ),
    (
        'mixture_labels_str',
        lambda: priors.gaussian_mixture(4).sample_conditioned(
            _KEY, np.array(['1', '2'])
        ),
        TypeError,
        'integer class labels',
    ),
    (
        'train_batches_str_images',
        lambda: next(
            data.train_batches(_X.astype(str), _LABELS, batch_size=2, seed=0)
        ),
        TypeError,
        'images must be a real array',
    ),
    (
        'train_batches_float_labels',
        lambda: next(
            data.train_batches(_X, _LABELS + 0.5, batch_size=2, seed=0)
        ),
        TypeError,
        'labels must be integer class ids',
    ),
    (
        'eval_batches_complex_images',
        lambda: next(
            data.eval_batches(_X.astype(np.complex64), _LABELS, batch_size=2)
        ),
        TypeError,
        'images must be a real array',
    ),
    (
        'eval_batches_scalar_images',
        lambda: next(data.eval_batches(_X[0, 0], _LABELS, batch_size=2)),
        ValueError,
        'images must be [N',
    ),
]


@pytest.mark.parametrize(
    'call,error,match',
    [pytest.param(*case[1:], id=case[0]) for case in ARRAY_FAULTS],
)
def test_bad_array_names_the_function_and_argument(call, error, match):
  with pytest.raises(error) as e:
    call()
  assert match in str(e.value), str(e.value)
  # And the fix: the cast to make, or what to pass instead.
  assert any(w in str(e.value) for w in ('astype', 'asarray', 'pass')), str(
      e.value
  )


@pytest.fixture(scope='module')
def untrained():
  """A `TrainedModel` of fresh parameters: its checks need no training."""
  config = _config()
  model = models.build_model(config, (64,))
  return trained.TrainedModel(
      model, model.init(jax.random.PRNGKey(0)), config, step=0
  )


@pytest.mark.parametrize(
    'call,error,match',
    [
        pytest.param(
            lambda m: m.encode(np.zeros((0, 64), np.float32)),
            ValueError,
            'x has no rows',
            id='encode_empty_batch',
        ),
        pytest.param(
            lambda m: m.decode(np.zeros((0, 2), np.float32)),
            ValueError,
            'z has no rows',
            id='decode_empty_batch',
        ),
        pytest.param(
            lambda m: m.sample(True),
            ValueError,
            'num=True',
            id='sample_bool_count',
        ),
    ],
)
def test_trained_model_refuses_empty_batches(untrained, call, error, match):
  with pytest.raises(error, match=match):
    call(untrained)


# ---------------------------------------------------------------------------
# The binary.
# ---------------------------------------------------------------------------


def _train_binary(*args):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.train', *args],
      capture_output=True,
      text=True,
      timeout=300,
      cwd=ROOT,
      env=dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT),
  )


def test_binary_unknown_prior_module_prints_the_fix(tmp_path):
  proc = _train_binary(
      f'--config={ROOT}/experiments/configs/aae.py:smoke',
      f'--workdir={tmp_path}/w',
      '--config.prior=nomodule:fn',
  )
  assert proc.returncode != 0
  assert "error: config.prior='nomodule:fn'" in proc.stderr, proc.stderr[-2000:]
  assert 'make the module importable' in proc.stderr
  assert 'Traceback' not in proc.stderr
  assert not (tmp_path / 'w').exists()


# ---------------------------------------------------------------------------
# Issue 14: API arguments.
# ---------------------------------------------------------------------------

# jax.random.PRNGKey keeps the low 32 bits of a seed: 2**32 gave the images
# of seed 0, -1 those of 2**32 - 1; None and 1.5 failed inside JAX.
_SEED_RANGE = r'\[0, 2\*\*32 - 1\]'


@pytest.mark.parametrize(
    'seed,error,match',
    [
        pytest.param(None, TypeError, 'seed=None must be an int in', id='none'),
        pytest.param(1.5, TypeError, 'seed=1.5 must be an int in', id='float'),
        pytest.param('3', TypeError, "seed='3' must be an int in", id='str'),
        pytest.param(True, TypeError, 'seed=True must be an int in', id='bool'),
        pytest.param(
            2**32,
            ValueError,
            f'seed=4294967296 is outside {_SEED_RANGE}; it would repeat the '
            'images of seed 0',
            id='2**32',
        ),
        pytest.param(
            -1, ValueError, 'seed=-1 is outside .* seed 4294967295', id='-1'
        ),
        pytest.param(
            np.int64(2**40),
            ValueError,
            'seed=1099511627776 is outside',
            id='numpy_2**40',
        ),
    ],
)
def test_trained_model_sample_refuses_bad_seeds(untrained, seed, error, match):
  with pytest.raises(error, match=f'TrainedModel.sample: {match}'):
    untrained.sample(2, seed=seed)
  if error is TypeError:
    with pytest.raises(error, match=_SEED_RANGE):
      untrained.sample(2, seed=seed)


def test_trained_model_sample_takes_numpy_integers_same_images(untrained):
  model, params = untrained.model, untrained.params
  expected = np.asarray(model.sample(params, jax.random.PRNGKey(3), 4))
  np.testing.assert_array_equal(untrained.sample(4, seed=3), expected)
  np.testing.assert_array_equal(
      untrained.sample(np.int64(4), seed=np.int64(3)), expected
  )
  np.testing.assert_array_equal(
      untrained.sample(np.int32(4), seed=np.uint32(3)), expected
  )
  # The top of the range is its own seed, not an alias of another.
  top = untrained.sample(2, seed=2**32 - 1)
  np.testing.assert_array_equal(
      top, np.asarray(model.sample(params, jax.random.PRNGKey(2**32 - 1), 2))
  )
  assert not np.array_equal(top, untrained.sample(2, seed=0))
  for num in (0, 2.0, np.float32(2)):
    with pytest.raises(ValueError) as e:
      untrained.sample(num)
    assert f'num={num!r} must be a positive integer' in str(e.value)


@pytest.mark.parametrize('seed', [2**32, 2**40, -1])
def test_config_seed_outside_32_bits_is_refused(seed):
  from ae_jax import configs  # pylint: disable=g-import-not-at-top

  with pytest.raises(
      ValueError, match=f'config.seed={seed} must be in {_SEED_RANGE}'
  ):
    configs.check_values(_config(seed=seed))
  configs.check_values(_config(seed=2**32 - 1))


@pytest.mark.parametrize(
    'config, flag, want',
    [
        # Silently ignored before issue 15; now the files that have it.
        ('ae.py:smoke', '--config.beta=4', 'experiments/configs/vae.py'),
        ('ae.py:smoke', '--config.lstm_hidden=64', 'configs/lstm_ae.py'),
        # The spelling earlier versions documented for the IWAE.
        (
            'vae.py:smoke',
            '--config.iwae_samples=50',
            '--config=experiments/configs/iwae.py',
        ),
        ('vae.py:smok', '', "did you mean 'smoke'"),
    ],
)
def test_binary_another_models_field_names_where_it_lives(
    tmp_path, config, flag, want
):
  proc = _train_binary(
      f'--config={ROOT}/experiments/configs/{config}',
      f'--workdir={tmp_path}/w',
      *filter(None, [flag]),
  )
  assert proc.returncode != 0
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
  assert want in lines[0]
  assert not (tmp_path / 'w').exists()
