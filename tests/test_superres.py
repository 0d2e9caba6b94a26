"""Super-resolution: the 'downsample' corruption, its config and task 'superres'."""

import functools
import json
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ae_jax
from ae_jax import corruptions
from ae_jax import models
from ae_jax import tasks
from ae_jax import train
from ae_jax import trained as trained_lib
from ae_jax.models import capabilities
from ae_jax.tasks import evaluate
from ae_jax.tasks import markdown
from ae_jax.tasks import superres
from ae_jax.train import run_config
from experiments.configs import superres_ae
from tests import fitting

_downsample = jax.jit(corruptions.downsample, static_argnames='level')


def _images(shape=(6, 12, 12, 1), seed=0, dtype=np.float32):
  return np.random.default_rng(seed).uniform(size=shape).astype(dtype)


def _block_means(x, factor):
  """The reference: mean over each factor x factor block, in float64."""
  b, h, w, c = x.shape
  blocks = x.astype(np.float64).reshape(
      b, h // factor, factor, w // factor, factor, c
  )
  return blocks.mean(axis=(2, 4))


# The corruption.


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
def test_shape_dtype_and_determinism(dtype):
  x = jnp.asarray(_images(), dtype)
  out = _downsample(jax.random.PRNGKey(0), x, level=2)
  chex.assert_shape(out, x.shape)
  chex.assert_type(out, dtype)
  # Deterministic: the key is unused.
  chex.assert_trees_all_equal(
      out, _downsample(jax.random.PRNGKey(1), x, level=2)
  )
  chex.assert_trees_all_equal(out, corruptions.downsample(None, x, level=2))
  chex.assert_trees_all_equal(
      out, corruptions.corrupt('downsample', None, x, level=2)
  )


@pytest.mark.parametrize('factor', [2, 3, 4])
def test_is_average_pool_then_nearest_upsampling(factor):
  x = _images()
  out = np.asarray(_downsample(None, x, level=factor))
  low = _block_means(x, factor)
  np.testing.assert_allclose(out[:, ::factor, ::factor], low, atol=1e-6)
  # Every pixel of a block holds the block's mean.
  up = np.repeat(np.repeat(out[:, ::factor, ::factor], factor, 1), factor, 2)
  np.testing.assert_array_equal(out, up)
  # jax.image's nearest upsampling of the low-resolution image is the same.
  nearest = jax.image.resize(out[:, ::factor, ::factor], x.shape, 'nearest')
  np.testing.assert_array_equal(out, nearest)


@pytest.mark.parametrize('factor', [2, 3, 4])
def test_constant_blocks_come_back_exactly(factor):
  # Values with full mantissas (k/255 like 8-bit images, and arbitrary
  # floats): a plain block mean rounds (3 * c / 3 != c) for some of them.
  low = np.concatenate(
      [
          _images((8, 12 // factor, 12 // factor, 3), seed=1),
          np.arange(8 * (12 // factor) ** 2 * 3).reshape(8, 12 // factor, -1, 3)
          % 256
          / 255.0,
      ]
  ).astype(np.float32)
  x = np.repeat(np.repeat(low, factor, axis=1), factor, axis=2)
  np.testing.assert_array_equal(_downsample(None, x, level=factor), x)


def test_level_one_is_identity_and_partial_blocks_are_their_own_mean():
  x = _images((2, 5, 7, 2))
  np.testing.assert_array_equal(_downsample(None, x, level=1), x)
  column = np.arange(5, dtype=np.float32).reshape(1, 5, 1, 1)
  np.testing.assert_allclose(
      np.ravel(_downsample(None, column, level=2)), [0.5, 0.5, 2.5, 2.5, 4.0]
  )


def test_traced_factors_under_vmap_match_concrete_ones():
  x = _images()
  sweep = jax.jit(
      jax.vmap(lambda f: corruptions.corrupt('downsample', None, x, level=f))
  )
  out = sweep(jnp.array([1.0, 2.0, 4.0]))
  chex.assert_shape(out, (3, *x.shape))
  for row, factor in zip(out, (1, 2, 4)):
    np.testing.assert_array_equal(row, _downsample(None, x, level=factor))


@pytest.mark.parametrize(
    'level, match',
    [
        (0, r'integer >= 1'),
        (1.5, r'integer >= 1.*1\.5'),
        (-2, r'integer >= 1'),
        (float('nan'), r'integer >= 1'),
        (True, r'scalar'),
        (np.array([2, 4]), r'scalar'),
    ],
)
def test_bad_levels_are_refused(level, match):
  with pytest.raises(ValueError, match=rf'downsample: level.*{match}'):
    corruptions.downsample(None, _images(), level=level)


@pytest.mark.parametrize('level', [0.0, 2.5, '2', float('inf')])
def test_check_corruption_refuses_non_factors(level):
  with pytest.raises(ValueError, match=r'config\.noise_level.*integer >= 1'):
    corruptions.check_corruption('downsample', level)


@pytest.mark.parametrize('level', [1, 2, 4.0, np.float32(3)])
def test_check_corruption_accepts_factors(level):
  corruptions.check_corruption('downsample', level)


def test_flat_and_integer_inputs_are_refused():
  with pytest.raises(ValueError, match=r'images \[B, H, W, C\].*layout=hwc'):
    corruptions.downsample(None, np.zeros((4, 64), np.float32), level=2)
  with pytest.raises(TypeError, match=r'downsample: x must be floating'):
    corruptions.downsample(None, np.zeros((1, 4, 4, 1), np.uint8), level=2)


def test_config_with_flat_layout_is_refused_before_data():
  config = superres_ae.get_config('smoke')
  config.layout = 'flat'
  config.encoder = 'mlp'
  with pytest.raises(ValueError, match=r"noise='downsample'.*layout=hwc"):
    run_config.check_config(config)
  config = superres_ae.get_config('smoke')
  config.noise_level = 0.0  # The field's default: no factor given.
  with pytest.raises(ValueError, match=r'noise_level=0\.0.*integer >= 1'):
    models.build_model(config, (8, 8, 1))


# The task.


def _fit_superres(steps):
  config = fitting.config(
      encoder='conv',
      layout='hwc',
      conv_features=(16, 32),
      latent_dim=32,
      noise='downsample',
      noise_level=2.0,
  )
  model, params, _ = fitting.fit(config, steps=steps)
  return trained_lib.TrainedModel(model, params, config, steps)


@functools.cache
def _trained():
  return _fit_superres(800)


def test_task_beats_nearest_neighbour_and_bicubic_at_its_factor():
  dataset = fitting.digits('hwc')
  trained = _trained()
  assert capabilities.is_super_resolution(trained.model)
  result = superres.superres(trained, dataset, baseline=trained)
  assert result['trained_factor'] == 2
  rows = {r['factor']: r for r in result['rows']}
  assert list(rows) == [2, 4]  # 8x8 digits: 4x4 and 2x2.
  for row in rows.values():
    for metric in ('psnr', 'ssim'):
      for name in ('nearest', 'bicubic', 'model', 'baseline'):
        assert np.isfinite(row[f'{metric}_{name}']), (metric, name)
    # The model as its own baseline gives its own numbers.
    assert row['psnr_baseline'] == row['psnr_model']
  two = rows[2]
  assert two['low_res'] == '4x4' and two['trained_at_factor']
  assert not rows[4]['trained_at_factor']
  # Measured on digits (dB): nearest 13.2, bicubic 13.5, model 16.9
  # (SSIM 0.65 nearest, 0.85 model) after 800 steps.
  assert two['psnr_model'] > two['psnr_nearest'] + 1.5, two
  assert two['psnr_model'] > two['psnr_bicubic'] + 1.0, two
  assert two['ssim_model'] > two['ssim_nearest'], two
  assert two['psnr_model_minus_bicubic'] == pytest.approx(
      two['psnr_model'] - two['psnr_bicubic']
  )
  # The test can fail: the same network untrained is far below nearest.
  untrained = trained_lib.TrainedModel(
      trained.model,
      trained.model.init(jax.random.PRNGKey(0)),
      trained.config,
      0,
  )
  cold, _ = superres.superres(untrained, dataset)['rows']
  assert cold['psnr_model'] < cold['psnr_nearest'] - 3.0, cold


def test_task_refuses_images_no_factor_divides():
  odd = types.SimpleNamespace(
      name='odd', test_images=np.zeros((3, 7, 7, 1)), input_shape=(7, 7, 1)
  )
  with pytest.raises(ValueError, match=r'superres.*7x7'):
    superres.superres(_trained(), odd)


def test_evaluate_runs_superres_by_default_writes_json_figure_and_table(
    tmp_path,
):
  config = superres_ae.get_config('smoke,factor=4')
  config.num_train_steps = 10
  config.write_figures = False
  train.train_and_evaluate(config, tmp_path)
  trained = ae_jax.load(tmp_path)
  assert 'superres' in tasks.default_tasks(trained)
  plain = superres_ae.get_config('smoke')
  plain.noise = 'none'
  assert not capabilities.is_super_resolution(
      models.build_model(plain, (8, 8, 1))
  )
  results = evaluate.evaluate(str(tmp_path), ['superres'])
  saved = json.loads((tmp_path / 'eval_superres.json').read_text())
  assert saved['trained_factor'] == 4
  assert [r['factor'] for r in saved['rows']] == [2, 4]
  assert saved['rows'] == results['superres']['rows']
  assert (tmp_path / 'superres.png').stat().st_size > 0
  table = markdown.task_tables('superres', results['superres'])
  assert '| factor | low_res |' in table and '| 4 | 2x2 | yes |' in table
