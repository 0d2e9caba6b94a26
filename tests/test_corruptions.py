"""Tests for `ae_jax.corruptions`."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ae_jax import corruptions

NAMES = tuple(corruptions.CORRUPTIONS)
SHAPES = [(4, 784), (3, 28, 28, 1), (2, 5, 7)]  # [B, D], images, sequences.
DATA_SHAPE = (100, 200)  # For the statistical tests: 20,000 elements.

# Compiled once per (name, shape, dtype) and shared by the tests: eager
# dispatch of each random op is slower than compiling. `level` is traced
# here, hence unchecked; the checks of concrete levels are tested below.
_corrupt = jax.jit(corruptions.corrupt, static_argnums=0)


def _key(seed):
  return jax.random.PRNGKey(seed)


def _data(shape=DATA_SHAPE, seed=0, low=0.1, high=0.9, dtype=jnp.float32):
  """Data strictly inside (0, 1), so any 0/1 output is a changed element."""
  x = np.random.default_rng(seed).uniform(low, high, size=shape)
  return jnp.asarray(x, dtype)


def _binomial_tolerance(level, n, num_std=5.0):
  """`num_std` standard deviations of a fraction of n Bernoulli(level)."""
  return num_std * np.sqrt(level * (1.0 - level) / n)


def _fraction_changed(out, x):
  return float(np.mean(np.asarray(out) != np.asarray(x)))


@pytest.mark.parametrize('name', NAMES)
def test_shape_and_dtype_preserved_under_jit(name):
  xs = [_data(s) for s in SHAPES] + [_data(SHAPES[1], dtype=jnp.bfloat16)]
  fn = functools.partial(corruptions.CORRUPTIONS[name], level=0.3)
  outs = jax.jit(lambda key, xs: [fn(key, x) for x in xs])(_key(1), xs)
  for x, out in zip(xs, outs):
    chex.assert_shape(out, x.shape)
    chex.assert_type(out, x.dtype)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert _fraction_changed(out, x) > 0.1


@pytest.mark.parametrize('name', NAMES)
def test_level_zero_is_identity(name):
  x = _data(seed=2)
  fn = corruptions.CORRUPTIONS[name]
  # A concrete level (checked, then constant-folded) and a traced one.
  concrete = jax.jit(lambda x: fn(_key(3), x, level=0.0))(x)
  chex.assert_trees_all_equal(concrete, x)
  chex.assert_trees_all_equal(_corrupt(name, _key(3), x, level=0.0), x)


@pytest.mark.parametrize('name', NAMES)
def test_same_key_same_output(name):
  x = _data(seed=4)
  chex.assert_trees_all_equal(
      _corrupt(name, _key(5), x, level=0.4),
      _corrupt(name, _key(5), x, level=0.4),
  )
  assert not np.array_equal(
      _corrupt(name, _key(5), x, level=0.4),
      _corrupt(name, _key(6), x, level=0.4),
  )


@pytest.mark.parametrize('name', ['masking', 'salt_and_pepper'])
@pytest.mark.parametrize('level', [0.1, 0.5, 0.9])
def test_fraction_changed_is_level(name, level):
  x = _data(seed=7)
  changed = _fraction_changed(_corrupt(name, _key(8), x, level=level), x)
  assert abs(changed - level) < _binomial_tolerance(level, x.size), changed


def test_masking_zeroes_the_changed_elements():
  x = _data(seed=9)
  out = np.asarray(_corrupt('masking', _key(10), x, level=0.5))
  changed = out != np.asarray(x)
  assert changed.any()
  np.testing.assert_array_equal(out[changed], 0.0)
  # Level 1 masks everything.
  chex.assert_trees_all_equal(
      _corrupt('masking', _key(10), x, level=1.0), jnp.zeros_like(x)
  )


def test_masking_keeps_integer_and_bool_dtypes():
  x = jnp.full((10, 10), 255, jnp.uint8)
  out = _corrupt('masking', _key(11), x, level=0.5)
  chex.assert_type(out, jnp.uint8)
  assert set(np.unique(np.asarray(out))) == {0, 255}
  chex.assert_type(
      _corrupt('masking', _key(11), x.astype(bool), level=0.5), jnp.bool_
  )


def test_salt_and_pepper_uses_0_and_1_equally_often():
  x = _data(seed=12)
  out = np.asarray(_corrupt('salt_and_pepper', _key(13), x, level=0.4))
  values = out[out != np.asarray(x)]
  assert set(np.unique(values)) == {0.0, 1.0}
  salt = np.mean(values == 1.0)
  assert abs(salt - 0.5) < _binomial_tolerance(0.5, values.size), salt


def test_gaussian_std_is_level_without_clip():
  level = 0.3
  x = _data(seed=14)
  noisy = jax.jit(
      functools.partial(corruptions.gaussian_noise, level=level, clip=False)
  )(_key(15), x)
  noise = np.asarray(noisy, np.float64) - np.asarray(x, np.float64)
  # The sample std of n normals has std ~ level / sqrt(2 n).
  n = noise.size
  assert abs(noise.std() - level) < 5 * level / np.sqrt(2 * n), noise.std()
  assert abs(noise.mean()) < 5 * level / np.sqrt(n), noise.mean()


def test_gaussian_clips_to_unit_interval():
  x = _data(seed=16, low=0.0, high=1.0)
  fn = jax.jit(corruptions.gaussian_noise, static_argnames='clip')
  clipped = np.asarray(fn(_key(17), x, level=1.0))
  assert clipped.min() == 0.0 and clipped.max() == 1.0  # Some were clipped.
  unclipped = fn(_key(17), x, level=1.0, clip=False)
  np.testing.assert_array_equal(clipped, np.clip(unclipped, 0.0, 1.0))


@pytest.mark.parametrize('name', NAMES)
def test_vmap_over_levels(name):
  x = _data(seed=18)
  levels = jnp.array([0.0, 0.2, 0.6], jnp.float32)
  sweep = jax.jit(
      jax.vmap(
          lambda level: corruptions.corrupt(name, _key(19), x, level=level)
      )
  )
  out = sweep(levels)
  chex.assert_shape(out, (3, *x.shape))
  chex.assert_trees_all_equal(out[0], x)
  # Row i is the corruption at levels[i] (up to float rounding: XLA may
  # fuse x + std * noise differently when batched).
  np.testing.assert_allclose(
      out[2], _corrupt(name, _key(19), x, level=levels[2]), rtol=0, atol=1e-6
  )
  if name != 'gaussian':
    changed = [_fraction_changed(row, x) for row in out]
    tol = _binomial_tolerance(0.5, x.size)  # The largest binomial std.
    np.testing.assert_allclose(changed, levels, atol=tol)


def test_vmap_over_examples_and_keys():
  x = _data((6, 5, 7), seed=20)
  keys = jax.random.split(_key(21), 6)
  fn = functools.partial(corruptions.salt_and_pepper_noise, level=0.5)
  out = jax.jit(jax.vmap(fn))(keys, x)
  chex.assert_shape(out, x.shape)
  chex.assert_trees_all_equal(out[2], jax.jit(fn)(keys[2], x[2]))


def test_typed_keys():
  x = _data(seed=22)
  for name in NAMES:
    out = _corrupt(name, jax.random.key(23), x, level=0.5)
    chex.assert_shape(out, x.shape)
    assert _fraction_changed(out, x) > 0.1, name


def test_corrupt_dispatches_by_name():
  x = _data(seed=24)
  assert corruptions.corrupt('none', _key(25), x, level=0.5) is x
  for name, fn in corruptions.CORRUPTIONS.items():
    chex.assert_trees_all_equal(
        _corrupt(name, _key(25), x, level=0.5),
        jax.jit(functools.partial(fn, level=0.5))(_key(25), x),
    )
  with pytest.raises(ValueError, match=r"'gausian'.*'salt_and_pepper'"):
    corruptions.corrupt('gausian', _key(25), x, level=0.5)


@pytest.mark.parametrize(
    'name, level',
    [
        ('none', 0.0),
        ('none', 7.0),
        ('gaussian', 0.0),
        ('gaussian', 2.5),
        ('masking', 0.0),
        ('masking', 1),
        ('salt_and_pepper', 0.25),
        ('salt_and_pepper', np.float32(1.0)),
    ],
)
def test_check_corruption_accepts_valid(name, level):
  corruptions.check_corruption(name, level)


@pytest.mark.parametrize(
    'name, level, match',
    [
        ('gausian', 0.1, r"config\.noise='gausian'.*'masking'"),
        ('gaussian', -0.1, r'config\.noise_level=-0\.1.*>= 0'),
        ('gaussian', float('inf'), r'config\.noise_level=inf.*finite'),
        ('masking', 1.5, r'config\.noise_level=1\.5.*\[0, 1\]'),
        ('masking', float('nan'), r'config\.noise_level=nan.*\[0, 1\]'),
        ('salt_and_pepper', -0.5, r'config\.noise_level.*\[0, 1\]'),
        ('salt_and_pepper', '0.5', r'config\.noise_level'),
        ('masking', True, r'config\.noise_level'),
    ],
)
def test_check_corruption_rejects_invalid(name, level, match):
  with pytest.raises(ValueError, match=match):
    corruptions.check_corruption(name, level)


@pytest.mark.parametrize(
    'name, level',
    [('gaussian', -0.1), ('masking', 1.5), ('salt_and_pepper', -0.5)],
)
def test_functions_reject_concrete_invalid_levels(name, level):
  # The checks run at trace time, before any random numbers are drawn.
  x = _data((2, 3))
  fn = corruptions.CORRUPTIONS[name]
  with pytest.raises(ValueError, match=rf'{fn.__name__}: level.*{level}'):
    fn(_key(0), x, level=level)
  with pytest.raises(ValueError, match=rf'{fn.__name__}: level.*{level}'):
    corruptions.corrupt(name, _key(0), x, level=level)
  with pytest.raises(ValueError, match='scalar'):
    fn(_key(0), x, level=np.array([0.1, 0.2]))


def test_gaussian_rejects_integer_data():
  with pytest.raises(TypeError, match=r'gaussian_noise: x.*astype'):
    corruptions.gaussian_noise(_key(0), jnp.zeros((2, 3), jnp.uint8), level=0.1)
