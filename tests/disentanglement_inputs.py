"""The fixed small inputs on which ae_jax's disentanglement metrics are
compared with disentanglement_lib's code (``disentanglement_reference.py``).

A ground-truth set of 3 x 4 x 5 factor levels whose 2x2 images hold the
levels (and their sum), and a fixed, partly entangled representation: tanh
of a seeded linear map plus a small sinusoidal term, 5 code units.
"""

import numpy as np

from ae_jax.data.ground_truth import GroundTruthData

NUM_BINS = 20
SIZES = {
    'group': 16,
    'train': 300,
    'test': 200,
    'codes': 600,
    'codes_test': 300,
}
_W = np.random.default_rng(7).normal(size=(4, 5))


def data() -> GroundTruthData:
  sizes = (3, 4, 5)
  grid = np.stack(np.unravel_index(np.arange(60), sizes), axis=1)
  pixels = np.concatenate(
      [grid * 40, grid.sum(axis=1, keepdims=True) * 20], axis=1
  )
  return GroundTruthData(
      name='reference',
      factor_names=('a', 'b', 'c'),
      factor_sizes=sizes,
      images=pixels.reshape(60, 2, 2, 1).astype(np.uint8),
  )


def representation(observations: np.ndarray) -> np.ndarray:
  x = observations.reshape(len(observations), -1)
  return np.tanh(x @ _W) + 0.1 * np.sin(7.0 * x[:, :1] + x[:, 1:2])


def codes_and_factors():
  """Train and test (codes, factors), each drawn from its own seed."""
  d = data()
  out = []
  for seed, n in ((1, SIZES['codes']), (2, SIZES['codes_test'])):
    factors, obs = d.sample(n, np.random.RandomState(seed))
    out += [representation(obs), factors]
  return tuple(out)


def importance_matrix() -> np.ndarray:
  """A fixed DCI importance matrix [5 codes, 3 factors] with an unused code."""
  r = np.random.default_rng(3).gamma(0.5, size=(5, 3))
  r[4] = 0.0
  return r
