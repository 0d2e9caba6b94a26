"""Ground-truth-factor datasets: the factor grid, the sampler API, dSprites'
rendering and official-file reading, and uint8 training splits."""

import dataclasses
import types

import numpy as np
import pytest

from ae_jax import data
from ae_jax.data import ground_truth as gt
from ae_jax.data import sprites
from ae_jax.train import trainer


@pytest.fixture(scope='module')
def xy():
  return sprites.xy_sprites()


def test_xy_sprites_holds_every_factor_combination_once(xy):
  assert xy.factor_sizes == (3, 3, 4, 10, 10) and len(xy.images) == 3600
  assert xy.images.shape[1:] == (32, 32, 3) and xy.images.dtype == np.uint8
  # Every combination draws a different image.
  flat = xy.images.reshape(3600, -1)
  assert len(np.unique(flat, axis=0)) == 3600
  # The colour factor is the colour: a red sprite has no blue.
  f = xy.all_factors()
  red = xy.images[f[:, 2] == 0]
  assert red[..., 0].max() == 255 and red[..., 2].max() < red[..., 0].max()
  # Moving the x position moves the mass to the right.
  cols = lambda img: (img.sum(axis=(0, 2)) * np.arange(32)).sum() / img.sum()
  left, right = (xy.images[xy.index([[0, 2, 0, k, 5]])[0]] for k in (0, 9))
  assert cols(right) > cols(left) + 10


def test_sampler_draws_like_disentanglement_lib_and_returns_the_images(xy):
  rs = np.random.RandomState(0)
  factors = xy.sample_factors(5, rs)
  expected = np.random.RandomState(0)
  for i, size in enumerate(xy.factor_sizes):  # One randint per factor.
    np.testing.assert_array_equal(factors[:, i], expected.randint(size, size=5))
  obs = xy.sample_observations_from_factors(factors, rs)
  assert obs.dtype == np.float32 and obs.shape == (5, 32, 32, 3)
  np.testing.assert_array_equal(
      obs, xy.images[xy.index(factors)] / np.float32(255)
  )
  np.testing.assert_array_equal(xy.all_factors()[xy.index(factors)], factors)
  f2, o2 = xy.sample(3, np.random.RandomState(1))
  np.testing.assert_array_equal(o2, xy.sample_observations_from_factors(f2))


def test_factor_checks_name_the_factor(xy):
  with pytest.raises(ValueError, match=r'factor 2 \(colour\).*4 levels'):
    xy.index([[0, 0, 4, 0, 0]])
  with pytest.raises(ValueError, match=r'\[N, 5\]'):
    xy.index([[0, 0]])
  with pytest.raises(TypeError, match=r'integer level'):
    xy.index(np.zeros((1, 5)))


def test_dsprites_rendering_matches_its_factor_grid():
  values = sprites.dsprites_factor_values()
  assert [len(v) for v in values] == [3, 6, 40, 32, 32]
  assert values[2][-1] < 2 * np.pi  # 40 orientations over [0, 2 pi).

  # A few sprites rendered as the full set renders them: binary, 64x64,
  # larger with scale, moved by the position factors, the same every call.
  def draw(shape, scale, angle, x, y):
    lo, hi = sprites._POSITION_RANGE
    pos = np.linspace(lo, hi, 32)
    return sprites.render(
        [shape],
        [values[1][scale]],
        [values[2][angle]],
        [pos[x]],
        [pos[y]],
        size=64,
        half_width=sprites._HALF_WIDTH,
    )[0]

  small, big = draw(0, 0, 0, 16, 16), draw(0, 5, 0, 16, 16)
  assert set(np.unique(big)) == {0, 255}
  assert (big > 0).sum() == pytest.approx(4 * (small > 0).sum(), rel=0.15)
  assert (big > 0).sum() == 16 * 16  # A 16-pixel square at scale 1.
  moved = draw(0, 5, 0, 20, 16)
  assert np.argmax(moved.sum(0)) > np.argmax(big.sum(0))
  np.testing.assert_array_equal(draw(2, 3, 7, 3, 29), draw(2, 3, 7, 3, 29))
  # Every shape stays inside the image at every extreme position and angle.
  for shape in range(3):
    for x, y in ((0, 0), (31, 31)):
      for angle in (0, 5, 10):
        img = draw(shape, 5, angle, x, y)
        assert (
            0 < img.sum() and img[[0, -1]].sum() == img[:, [0, -1]].sum() == 0
        )


def test_official_dsprites_file_is_read_or_refused_naming_the_fix(tmp_path):
  with pytest.raises(FileNotFoundError, match=r'dsprites_file=.*render'):
    sprites.dsprites(str(tmp_path / 'missing.npz'))
  bad = tmp_path / 'bad.npz'
  np.savez(bad, imgs=np.zeros((10, 64, 64), np.uint8))
  with pytest.raises(ValueError, match=r'\(737280, 64, 64\)'):
    sprites.dsprites(str(bad))
  grey = tmp_path / 'grey.npz'
  np.savez(grey, imgs=np.full((10, 64, 64), 255, np.uint8))
  with pytest.raises(ValueError, match=r'0/1 pixels.*maximum 255'):
    sprites.dsprites(str(grey))
  junk = tmp_path / 'junk.npz'
  junk.write_bytes(b'not a zip')
  with pytest.raises(ValueError, match=r'not a readable dSprites npz'):
    sprites.dsprites(str(junk))


def test_a_damaged_render_cache_is_rendered_again(tmp_path):
  calls = []
  tiny = np.zeros((100, 64, 64, 1), np.uint8)
  tiny[::7, 5, 9] = 255

  def fake_render():
    calls.append(1)
    return tiny

  cache = tmp_path / 'cache' / 'render.npz'
  first = sprites.cached_render(cache, fake_render)
  again = sprites.cached_render(cache, fake_render)  # From the cache.
  assert len(calls) == 1
  np.testing.assert_array_equal(first, tiny)
  np.testing.assert_array_equal(again, tiny)
  cache.write_bytes(cache.read_bytes()[:1000])  # Truncated.
  np.testing.assert_array_equal(sprites.cached_render(cache, fake_render), tiny)
  assert len(calls) == 2


def test_load_dataset_serves_ground_truth_sets_and_refuses_binarising_binary():
  ds = data.load_dataset('xy_sprites', layout='hwc')
  assert ds.train_images.shape == (3600, 32, 32, 3) and ds.num_classes == 3
  assert ds.class_names == ('square', 'ellipse', 'heart')
  assert ds.test_images.shape == (600, 32, 32, 3)
  assert ds.train_images.dtype == np.float32 and ds.train_images.max() == 1.0
  with pytest.raises(ValueError, match=r'no ground-truth factors'):
    gt.load_ground_truth('digits')


def _uint8_digits():
  """digits with grey levels k / 255: as float32 and as uint8."""
  ds = data.load_dataset('digits')
  levels = np.round(ds.train_images * 255).astype(np.uint8)
  as_float = dataclasses.replace(
      ds, train_images=levels.astype(np.float32) / np.float32(255.0)
  )
  return as_float, dataclasses.replace(ds, train_images=levels)


@pytest.mark.parametrize('on_device', [True, False])
def test_a_uint8_train_split_trains_exactly_like_its_float_copy(
    tmp_path, smoke_config, on_device
):
  as_float, as_bytes = _uint8_digits()
  smoke_config.data_on_device = on_device
  smoke_config.write_figures = False
  results = [
      trainer.train_and_evaluate(smoke_config, tmp_path / name, dataset=ds)
      for name, ds in (('float', as_float), ('bytes', as_bytes))
  ]
  assert results[0]['params_sha256'] == results[1]['params_sha256']


def test_tasks_see_a_float_draw_of_a_uint8_train_split(monkeypatch):
  from ae_jax.tasks import common  # pylint: disable=g-import-not-at-top

  _, as_bytes = _uint8_digits()
  monkeypatch.setattr(common, '_load_dataset', lambda c: as_bytes)
  monkeypatch.setattr(common, 'EVAL_TRAIN_MAX', 500)
  seen = common.load_data(types.SimpleNamespace(config=None))
  assert seen.train_images.dtype == np.float32
  assert seen.train_images.shape == (500, 64)
  rows = [
      int(np.flatnonzero((as_bytes.train_images == r).all(1))[0])
      for r in np.round(seen.train_images[:5] * 255).astype(np.uint8)
  ]
  np.testing.assert_array_equal(
      seen.train_images[:5], data.as_unit_float(as_bytes.train_images[rows])
  )
  np.testing.assert_array_equal(
      seen.train_labels[:5], as_bytes.train_labels[rows]
  )
