"""Import costs and import paths: what a user's `import` pulls in."""

import subprocess
import sys

import numpy as np
import pytest

HEAVY = ('orbax', 'sklearn', 'matplotlib', 'tensorflow_datasets', 'flax')


def _loaded_after(statement: str) -> set[str]:
  code = (
      f'import sys\n{statement}\n'
      f'print(" ".join(m for m in {HEAVY!r} if m in sys.modules))'
  )
  out = subprocess.run(
      [sys.executable, '-c', code],
      capture_output=True,
      text=True,
      check=True,
      timeout=120,
  )
  return set(out.stdout.split())


@pytest.mark.parametrize(
    'statement',
    [
        'import ae_jax.losses',
        'import ae_jax.penalties',
        'import ae_jax.corruptions',
        'import ae_jax',
        'from ae_jax.metrics import batching',
    ],
)
def test_pure_function_modules_import_no_heavy_library(statement):
  assert _loaded_after(statement) == set()


def test_package_attributes_load_on_first_use():
  import ae_jax  # pylint: disable=g-import-not-at-top

  assert ae_jax.load is ae_jax.trained.load
  assert callable(ae_jax.metrics.psnr)
  with pytest.raises(AttributeError, match='no attribute'):
    ae_jax.no_such_module  # pylint: disable=pointless-statement


def test_metrics_index_names_every_public_function_of_each_module():
  # pylint: disable=g-import-not-at-top,protected-access
  import importlib

  from ae_jax import metrics

  for name in set(metrics._WHERE.values()):
    module = importlib.import_module(f'ae_jax.metrics.{name}')
    listed = {f for f, m in metrics._WHERE.items() if m == name}
    # A function named like its module is reached through the module.
    assert listed == set(module.__all__) - {name}, name
    for f in listed:
      assert getattr(metrics, f) is getattr(module, f)


def test_old_module_paths_still_import_the_same_functions():
  # pylint: disable=g-import-not-at-top
  from ae_jax import compression
  from ae_jax import evaluation
  from ae_jax import likelihood
  from ae_jax import metrics
  from ae_jax.metrics import rate_distortion

  assert evaluation.psnr is metrics.psnr
  assert evaluation.apply_in_batches is metrics.apply_in_batches
  assert likelihood.dataset_log_likelihood is metrics.dataset_log_likelihood
  assert compression.rate_distortion is rate_distortion.rate_distortion
  x = np.random.default_rng(0).uniform(size=(3, 4, 4, 1))
  np.testing.assert_allclose(
      evaluation.psnr(x, x * 0.9), metrics.psnr(x, x * 0.9)
  )
