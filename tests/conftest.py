"""Shared test set-up: absl flags parsed, tiny configs, a fresh work
directory, one persistent XLA compilation cache."""

import os
import pathlib

from absl import flags
import jax
import pytest

# Modules that define absl flags can be imported under pytest.
flags.FLAGS.mark_as_parsed()

# Many tests compile the same tiny models: one on-disk XLA cache serves the
# xdist workers and, through the environment, the binaries that tests
# launch. Keyed by the program and the jax/XLA versions, so a stale entry is
# never used. (`JAX_COMPILATION_CACHE_DIR=` empty turns it off.)
_CACHE = os.environ.setdefault(
    'JAX_COMPILATION_CACHE_DIR',
    str(pathlib.Path(__file__).parents[1] / '.pytest_cache' / 'jax_cache'),
)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
if _CACHE:
  jax.config.update('jax_compilation_cache_dir', _CACHE)
  jax.config.update(
      'jax_persistent_cache_min_compile_time_secs',
      float(os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS']),
  )


@pytest.fixture
def smoke_config():
  """The VAE smoke-test config on digits (seconds on one CPU core)."""
  from experiments.configs import vae  # pylint: disable=g-import-not-at-top

  return vae.get_config('smoke')


@pytest.fixture(autouse=True, scope='session')
def _feature_classifier_cache(tmp_path_factory):
  """The sample-quality feature classifiers train into a per-session cache,
  not the user's ``~/.cache/ae_jax``."""
  import os  # pylint: disable=g-import-not-at-top

  os.environ['AE_JAX_CACHE'] = str(tmp_path_factory.mktemp('ae_jax_cache'))
