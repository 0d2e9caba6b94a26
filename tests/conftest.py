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
