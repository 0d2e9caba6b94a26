"""Shared test set-up: absl flags parsed, tiny configs, a fresh work directory."""

from absl import flags
import pytest

# Modules that define absl flags can be imported under pytest.
flags.FLAGS.mark_as_parsed()


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
