"""Ex-post densities: a sampler for any autoencoder, fitted on its codes.

A deterministic autoencoder has no prior to sample from. Ghosh et al.
(2020, "From Variational to Deterministic Autoencoders", ICLR; the RAE
paper) fit a Gaussian mixture to the codes of the training set after
training and decode draws from it; pythae offers the same
(``GaussianMixtureSampler``, 10 components) for every model. Here:
`fit_gaussian_mixture` (scikit-learn's EM, full covariances) and the
fitted `GaussianMixture`, whose `sample` and `log_prob` are plain NumPy with
a seed, so a seed gives the same codes on every machine.

`ae_jax.load(workdir).sample(n)` uses it for deterministic autoencoders: the
mixture is fitted on the run's training codes once and saved next to the
checkpoints (`EXPOST_FILE`, tied to the parameters it was fitted for).
"""

import dataclasses

import numpy as np

from ae_jax.metrics import checks

DEFAULT_COMPONENTS = 10  # pythae's GaussianMixtureSampler default.


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
  """A fitted mixture: ``weights [K]``, ``means [K, D]``, ``covariances [K,
  D, D]``."""

  weights: np.ndarray
  means: np.ndarray
  covariances: np.ndarray

  @property
  def dim(self) -> int:
    return self.means.shape[1]

  def sample(self, num: int, *, seed: int = 0) -> np.ndarray:
    """``num`` codes ``[num, D]`` (float32) drawn with ``seed``."""
    num = checks.positive_int('GaussianMixture.sample', 'num', num)
    rng = np.random.default_rng(seed)
    component = rng.choice(len(self.weights), size=num, p=self.weights)
    chol = np.linalg.cholesky(self.covariances)
    noise = rng.standard_normal((num, self.dim))
    z = self.means[component] + np.einsum('nij,nj->ni', chol[component], noise)
    return z.astype(np.float32)

  def log_prob(self, z: np.typing.ArrayLike) -> np.ndarray:
    """``log p(z)`` per row ``[N]`` (float64)."""
    z = checks.matrix('GaussianMixture.log_prob', 'z', z).astype(np.float64)
    if z.shape[1] != self.dim:
      raise ValueError(
          f'GaussianMixture.log_prob: z has {z.shape[1]} columns, the '
          f'mixture {self.dim}; pass codes of the model it was fitted on'
      )
    chol = np.linalg.cholesky(self.covariances)
    diff = z[None] - self.means[:, None]  # [K, N, D]
    solved = np.linalg.solve(chol[:, None], diff[..., None])[..., 0]
    log_det = 2 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), -1)
    per_component = (
        np.log(self.weights)[:, None]
        - 0.5 * (self.dim * np.log(2 * np.pi) + log_det[:, None])
        - 0.5 * np.sum(solved**2, -1)
    )
    top = per_component.max(0)
    return top + np.log(np.sum(np.exp(per_component - top), 0))

  def to_arrays(self) -> dict[str, np.ndarray]:
    return dataclasses.asdict(self)


def fit_gaussian_mixture(
    codes: np.typing.ArrayLike,
    *,
    components: int = DEFAULT_COMPONENTS,
    seed: int = 0,
) -> GaussianMixture:
  """A full-covariance Gaussian mixture fitted to ``codes [N, D]`` by EM.

  `sklearn.mixture.GaussianMixture` (k-means initialisation, covariance
  regularisation 1e-6, ``random_state=seed``).

  Raises:
    ValueError: non-finite or empty codes, a bad ``components``, or fewer
      codes than components.
  """
  from sklearn import mixture  # pylint: disable=g-import-not-at-top

  name = 'fit_gaussian_mixture'
  z = checks.matrix(name, 'codes', codes).astype(np.float64)
  components = checks.positive_int(name, 'components', components)
  if len(z) < components:
    raise ValueError(
        f'{name}: {len(z)} codes cannot fit components={components}; pass '
        'more codes (the training set) or fewer components'
    )
  gmm = mixture.GaussianMixture(
      components, covariance_type='full', random_state=seed
  ).fit(z)
  return GaussianMixture(
      weights=gmm.weights_ / gmm.weights_.sum(),
      means=gmm.means_,
      covariances=gmm.covariances_,
  )
