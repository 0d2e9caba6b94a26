"""Ex-post densities: a sampler for any autoencoder, fitted on its codes.

A deterministic autoencoder has no prior to sample from. Ghosh et al.
(2020, "From Variational to Deterministic Autoencoders", ICLR; the RAE
paper) fit a Gaussian mixture to the codes of the training set after
training and decode draws from it; pythae offers the same
(``GaussianMixtureSampler``, 10 components) for every model. Here:
`fit_gaussian_mixture` (scikit-learn's EM, full covariances) and the
fitted `GaussianMixture`, whose `sample` and `log_prob` are plain NumPy with
a seed, so a seed gives the same codes on every machine.

For discrete codes (VQ-VAE) the ex-post density is `CodePrior`, an
autoregressive model of the symbols (`fit_code_prior`): the paper's
"learned prior" that samples are drawn from, and an entropy model whose
test log-likelihood is the rate an arithmetic coder would reach.

`ae_jax.load(workdir).sample(n)` uses them for models without a prior: the
density is fitted on the run's training codes once and saved next to the
checkpoints (`trained.EXPOST_FILE`, tied to the parameters it was fitted
for).
"""

import dataclasses
import functools

from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

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


# ---------------------------------------------------------------------------
# A learned prior over discrete codes (VQ-VAE).
# ---------------------------------------------------------------------------

CODE_PRIOR_STEPS = 2000
CODE_PRIOR_BATCH = 256


class _CausalTransformer(nn.Module):
  """``[B, S]`` symbols -> ``[B, S, K]`` logits of each symbol given the
  ones before it (a start token K shifts the input right)."""

  codebook_size: int
  num_symbols: int
  width: int = 64
  depth: int = 2
  heads: int = 4

  @nn.compact
  def __call__(self, idx):
    start = jnp.full((idx.shape[0], 1), self.codebook_size, idx.dtype)
    tokens = jnp.concatenate([start, idx[:, :-1]], axis=1)
    position = self.param(
        'position',
        nn.initializers.normal(0.02),
        (self.num_symbols, self.width),
    )
    h = nn.Embed(self.codebook_size + 1, self.width)(tokens) + position
    mask = nn.make_causal_mask(tokens)
    for _ in range(self.depth):
      h = h + nn.SelfAttention(num_heads=self.heads)(
          nn.LayerNorm()(h), mask=mask
      )
      h = h + nn.Dense(self.width)(
          nn.gelu(nn.Dense(4 * self.width)(nn.LayerNorm()(h)))
      )
    return nn.Dense(self.codebook_size)(nn.LayerNorm()(h))


@dataclasses.dataclass(frozen=True)
class CodePrior:
  """An autoregressive prior over ``[S]`` symbols of ``K`` codes: a small
  causal transformer (2 layers, width 64, 4 heads) in place of the VQ-VAE
  paper's PixelCNN (their codes are a spatial grid; here a sequence)."""

  codebook_size: int
  num_symbols: int
  params: dict

  def log_prob(self, indices: np.typing.ArrayLike) -> np.ndarray:
    """``log p(indices)`` in nats per row ``[N]`` (float64)."""
    log_prob, _ = _code_prior_functions(self.codebook_size, self.num_symbols)
    return np.asarray(
        log_prob(self.params, jnp.asarray(indices, jnp.int32)), np.float64
    )

  def sample(self, num: int, *, seed: int = 0) -> np.ndarray:
    """``num`` symbol sequences ``[num, S]`` (int32), ancestrally."""
    num = checks.positive_int('CodePrior.sample', 'num', num)
    _, draw = _code_prior_functions(self.codebook_size, self.num_symbols)
    return np.asarray(draw(self.params, jax.random.PRNGKey(seed), num))

  def to_arrays(self) -> dict[str, np.ndarray]:
    flat = traverse_util.flatten_dict(self.params, sep='/')
    return {
        'codebook_size': np.asarray(self.codebook_size),
        'num_symbols': np.asarray(self.num_symbols),
        **{f'param/{k}': np.asarray(v) for k, v in flat.items()},
    }

  @classmethod
  def from_arrays(cls, arrays: dict) -> 'CodePrior':
    flat = {
        k[len('param/') :]: jnp.asarray(v)
        for k, v in arrays.items()
        if k.startswith('param/')
    }
    return cls(
        int(arrays['codebook_size']),
        int(arrays['num_symbols']),
        traverse_util.unflatten_dict(flat, sep='/'),
    )


@functools.lru_cache(maxsize=None)
def _code_prior_functions(codebook_size: int, num_symbols: int):
  """Jitted ``(log_prob(params, idx), draw(params, key, num))`` of one
  prior shape, compiled once per process."""
  net = _CausalTransformer(codebook_size, num_symbols)

  @jax.jit
  def log_prob(params, idx):
    logits = net.apply({'params': params}, idx)
    picked = jnp.take_along_axis(
        jax.nn.log_softmax(logits), idx[..., None], axis=-1
    )
    return jnp.sum(picked[..., 0], -1)

  @functools.partial(jax.jit, static_argnums=2)
  def draw(params, key, num):
    def body(t, idx):
      logits = net.apply({'params': params}, idx)[:, t]
      return idx.at[:, t].set(
          jax.random.categorical(jax.random.fold_in(key, t), logits)
      )

    return jax.lax.fori_loop(
        0, num_symbols, body, jnp.zeros((num, num_symbols), jnp.int32)
    )

  return log_prob, draw


def fit_code_prior(
    indices: np.typing.ArrayLike,
    codebook_size: int,
    *,
    steps: int | None = None,
    seed: int = 0,
) -> CodePrior:
  """A `CodePrior` trained by maximum likelihood on ``indices [N, S]``.

  Adam 1e-3, ``steps`` (default `CODE_PRIOR_STEPS`) batches of
  `CODE_PRIOR_BATCH` rows drawn with ``seed``.

  Raises:
    ValueError: indices that are not ``[N, S]`` integers in ``[0, K)``.
  """
  idx = np.asarray(indices)
  if idx.ndim != 2 or idx.dtype.kind not in 'iu' or idx.size == 0:
    raise ValueError(
        'fit_code_prior: indices must be a non-empty integer array [N, S] '
        f'(symbols per row), got {idx.dtype} of shape {idx.shape}'
    )
  if idx.min() < 0 or idx.max() >= codebook_size:
    raise ValueError(
        f'fit_code_prior: indices must lie in [0, {codebook_size}), got '
        f'[{idx.min()}, {idx.max()}]'
    )
  net = _CausalTransformer(codebook_size, idx.shape[1])
  data = jnp.asarray(idx, jnp.int32)
  params = net.init(jax.random.PRNGKey(seed), data[:1])['params']
  tx = optax.adam(1e-3)

  def step(carry, key):
    params, opt = carry
    batch = data[jax.random.randint(key, (CODE_PRIOR_BATCH,), 0, len(data))]

    def loss(p):
      logits = net.apply({'params': p}, batch)
      return optax.softmax_cross_entropy_with_integer_labels(
          logits, batch
      ).mean()

    grads = jax.grad(loss)(params)
    updates, opt = tx.update(grads, opt, params)
    return (optax.apply_updates(params, updates), opt), None

  keys = jax.random.split(
      jax.random.PRNGKey(seed + 1), steps or CODE_PRIOR_STEPS
  )
  (params, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, keys))(
      (params, tx.init(params))
  )
  return CodePrior(codebook_size, idx.shape[1], params)
