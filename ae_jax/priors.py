"""Latent priors for adversarial autoencoders, as small pure sampler objects.

Makhzani et al. (2015), "Adversarial Autoencoders", arXiv:1511.05644: a
discriminator learns to tell codes ``z ~ q(z)`` (the aggregate posterior of
the encoder) from samples of a prior ``p(z)``, and the encoder learns to fool
it, so ``q(z)`` is matched to ``p(z)``. Unlike the VAE's KL term, this needs
only *samples* of the prior, so any distribution we can sample from works.

A `Prior` is a frozen (hashable, immutable) dataclass holding only Python
numbers, so it can be closed over by jitted code or stored on a frozen
`ae_jax.models.base.Model`. Its methods are pure: randomness comes only from
the ``rng`` key passed in, and the same key gives the same samples.

* ``sample(rng, num) -> [num, dim]`` float32 codes; ``num`` is a static
  Python int (it is a shape).
* ``sample_conditioned(rng, labels) -> [*labels.shape, dim]``: one mode per
  class for label-conditioned priors (``num_classes > 0``, the mixture); AAE
  Sec. 2.3 ("Incorporating label information in the adversarial
  regularization") draws each labelled example's prior sample from the
  mixture component of its class. A negative label (e.g. -1 for an
  unlabelled example) draws from the whole mixture, as the paper does for
  unlabelled data.
* ``log_prob(z) -> [...]`` for ``z`` of shape ``[..., dim]`` where a closed
  form exists (`StandardNormal`, `GaussianMixture`; a user sampler raises
  `NotImplementedError`, see ``has_log_prob``). Like `ae_jax.losses`, nothing
  is reduced over the batch.

Build priors with `standard_normal`, `gaussian_mixture` or `from_sampler`, or
by name from a config with `make_prior` (names in `PRIORS`); `check_prior`
validates ``--config.prior`` and its dimension against the code size.
"""

import abc
import importlib
import inspect
from collections.abc import Callable
import dataclasses
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    'GaussianMixture',
    'PRIORS',
    'Prior',
    'SamplerPrior',
    'StandardNormal',
    'check_prior',
    'from_sampler',
    'gaussian_mixture',
    'make_prior',
    'standard_normal',
]

_LOG_2PI = math.log(2.0 * math.pi)

# Samples are float32, the dtype of the codes the encoders produce.
_DTYPE = jnp.float32

# `from_sampler` checks a user's sampler by tracing it once for this many
# samples (any small number that is unlikely to be hard-coded in `fn`).
_PROBE_NUM = 3


def _is_int(value) -> bool:
  # `bool` is an `int` subclass, but `dim=True` is surely a bug.
  return isinstance(value, numbers.Integral) and not isinstance(
      value, (bool, np.bool_)
  )


def _check_num(prior_name: str, num) -> None:
  if not _is_int(num) or num < 0:
    raise TypeError(
        f'{prior_name} prior: sample(rng, num) needs num to be a '
        f'non-negative Python int (it is the static shape of the output), '
        f'got {num!r}; close over it or mark it static under jax.jit.'
    )


def _host_or_traced(x):
  """A jax array (possibly a tracer) as is, anything else as a NumPy array:
  its dtype can then be checked before JAX rejects strings or objects with
  an error that names neither the prior nor the argument."""
  return x if isinstance(x, jax.Array) else np.asarray(x)


@dataclasses.dataclass(frozen=True)
class Prior(abc.ABC):
  """A prior p(z) over ``dim``-dimensional codes that can be sampled.

  Attributes:
    dim: dimension of the codes; must equal the model's ``latent_dim``.
    name: the prior's name (a key of `PRIORS` for the built-in ones).
    num_classes: number of label-conditioned modes (0 if the prior is not
      label-conditioned, i.e. ``sample_conditioned`` is not available).
    has_log_prob: whether ``log_prob`` has a closed form.
  """

  dim: int

  name = 'prior'
  has_log_prob = False

  def __post_init__(self):
    if not _is_int(self.dim) or self.dim < 1:
      raise ValueError(
          f'{self.name} prior: dim must be a positive int (the code '
          f'dimension, e.g. --config.latent_dim), got {self.dim!r}.'
      )

  @property
  def num_classes(self) -> int:
    return 0

  @abc.abstractmethod
  def sample(self, rng: jax.Array, num: int) -> jax.Array:
    """``num`` independent draws from the prior, float32 ``[num, dim]``."""

  def sample_conditioned(
      self, rng: jax.Array, labels: jax.typing.ArrayLike
  ) -> jax.Array:
    """One draw per label from that label's mode, ``[*labels.shape, dim]``."""
    del rng, labels
    raise NotImplementedError(
        f'The {self.name} prior is not label-conditioned (num_classes=0); '
        "use sample(rng, num), or the 'gaussian_mixture' prior "
        '(--config.prior=gaussian_mixture) for one mode per class.'
    )

  def log_prob(self, z: jax.typing.ArrayLike) -> jax.Array:
    """log p(z) for codes ``[..., dim]``, shape ``[...]``."""
    del z
    raise NotImplementedError(
        f'The {self.name} prior has no closed-form log density (check '
        'prior.has_log_prob); an adversarial autoencoder needs only '
        'samples of it.'
    )

  def _check_codes(self, z: jax.typing.ArrayLike) -> jax.Array:
    z = _host_or_traced(z)
    if not jnp.issubdtype(z.dtype, jnp.floating):
      raise TypeError(
          f'{self.name} prior: log_prob(z) needs floating-point codes, got '
          f'dtype {z.dtype}; cast them first, e.g. z.astype(jnp.float32).'
      )
    if z.ndim < 1 or z.shape[-1] != self.dim:
      raise ValueError(
          f'{self.name} prior: log_prob(z) needs codes of shape [..., '
          f'{self.dim}], got {z.shape}; the prior dimension must equal the '
          'code dimension.'
      )
    return jnp.asarray(z)


@dataclasses.dataclass(frozen=True)
class StandardNormal(Prior):
  """``p(z) = N(0, I_dim)``, the VAE's prior; AAE Sec. 2, Fig. 2 (top)."""

  name = 'standard_normal'
  has_log_prob = True

  def sample(self, rng: jax.Array, num: int) -> jax.Array:
    _check_num(self.name, num)
    return jax.random.normal(rng, (num, self.dim), _DTYPE)

  def log_prob(self, z: jax.typing.ArrayLike) -> jax.Array:
    z = self._check_codes(z)
    return -0.5 * (jnp.sum(jnp.square(z), axis=-1) + self.dim * _LOG_2PI)


@dataclasses.dataclass(frozen=True)
class GaussianMixture(Prior):
  """Equal-weight mixture of isotropic Gaussians with means on a circle.

  AAE Sec. 2, Fig. 2 (bottom) and Sec. 2.3, Fig. 4: a mixture of 10 2-D
  Gaussians, one per MNIST class. Component ``k`` (``k = 0 ..
  num_components - 1``) has mean

      ``mu_k = radius * (cos(2 pi k / K), sin(2 pi k / K), 0, ..., 0)``

  and covariance ``std**2 * I_dim``, with weight ``1 / K``.

  For ``dim > 2`` the means lie on the same circle in the first two code
  dimensions and every other dimension is ``N(0, std**2)`` in every
  component, so the class structure lives in a known 2-D plane (easy to plot
  and to read off) while the remaining dimensions carry the within-class
  style, as the paper's 2-D codes do. The paper draws elongated components;
  we use isotropic ones so that ``log_prob`` is a cheap closed form.

  With the defaults (radius 4, std 0.5), neighbouring means are
  ``2 * radius * sin(pi / K) ~= 2.47`` apart, about 5 standard deviations,
  so about 1.4% of samples land nearer a neighbour's mean than their own.

  Attributes:
    num_components: K, the number of modes; also ``num_classes``.
    radius: distance of each mean from the origin (>= 0).
    std: standard deviation of every component in every dimension (> 0).
  """

  num_components: int = 10
  radius: float = 4.0
  std: float = 0.5

  name = 'gaussian_mixture'
  has_log_prob = True

  def __post_init__(self):
    super().__post_init__()
    if self.dim < 2:
      raise ValueError(
          f'gaussian_mixture prior: the component means lie on a circle in '
          f'the first two code dimensions, so dim must be >= 2, got '
          f'{self.dim}; raise --config.latent_dim or use '
          '--config.prior=standard_normal.'
      )
    if not _is_int(self.num_components) or self.num_components < 1:
      raise ValueError(
          'gaussian_mixture prior: num_components must be a positive int, '
          f'got {self.num_components!r}.'
      )
    if not (
        isinstance(self.radius, numbers.Real) and 0 <= self.radius < math.inf
    ):
      raise ValueError(
          'gaussian_mixture prior: radius must be a finite number >= 0, got '
          f'{self.radius!r}.'
      )
    if not (isinstance(self.std, numbers.Real) and 0 < self.std < math.inf):
      raise ValueError(
          'gaussian_mixture prior: std must be a finite number > 0, got '
          f'{self.std!r}.'
      )

  @property
  def num_classes(self) -> int:
    return self.num_components

  @property
  def means(self) -> np.ndarray:
    """Component means, float32 ``[num_components, dim]`` (a NumPy constant)."""
    angles = 2.0 * np.pi * np.arange(self.num_components) / self.num_components
    means = np.zeros((self.num_components, self.dim), np.float64)
    means[:, 0] = self.radius * np.cos(angles)
    means[:, 1] = self.radius * np.sin(angles)
    return means.astype(np.float32)

  def sample(self, rng: jax.Array, num: int) -> jax.Array:
    _check_num(self.name, num)
    # Every label -1: a uniformly drawn component for each sample.
    return self.sample_conditioned(rng, jnp.full((num,), -1, jnp.int32))

  def sample_conditioned(
      self, rng: jax.Array, labels: jax.typing.ArrayLike
  ) -> jax.Array:
    """Draws each code from the component named by its label.

    Args:
      rng: PRNG key.
      labels: integer array of any shape, e.g. ``[B]`` class labels. Label
        ``k`` in ``[0, num_components)`` draws from component ``k``; a
        negative label (e.g. -1, an unlabelled example) draws from the whole
        mixture (a uniformly chosen component). Labels ``>= num_components``
        cannot be checked under `jit` and give NaN codes, so the mistake
        surfaces in the loss instead of silently reusing a component.

    Returns:
      float32 codes of shape ``[*labels.shape, dim]``.
    """
    labels = _host_or_traced(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
      raise TypeError(
          'gaussian_mixture prior: sample_conditioned needs integer class '
          f'labels, got dtype {labels.dtype}; pass labels.astype(jnp.int32), '
          'not one-hot vectors.'
      )
    component_rng, noise_rng = jax.random.split(rng)
    random_components = jax.random.randint(
        component_rng, labels.shape, 0, self.num_components
    )
    components = jnp.where(labels < 0, random_components, labels)
    means = jnp.take(
        jnp.asarray(self.means),
        components,
        axis=0,
        mode='fill',
        fill_value=jnp.nan,
    )
    noise = jax.random.normal(noise_rng, means.shape, _DTYPE)
    return means + self.std * noise

  def component_log_prob(self, z: jax.typing.ArrayLike) -> jax.Array:
    """``log N(z; mu_k, std**2 I)`` for every component, ``[..., K]``.

    The argmax over the last axis is the component (class) a code is most
    likely to come from, e.g. to read clusters off a trained AAE.
    """
    z = self._check_codes(z)
    means = jnp.asarray(self.means, z.dtype)
    # Squared distances from the differences, not ||z||^2 - 2 z.mu + ||mu||^2,
    # which cancels catastrophically in float32 for codes near a mean.
    sq_dist = jnp.sum(jnp.square(z[..., None, :] - means), axis=-1)
    log_norm = self.dim * (math.log(self.std) + 0.5 * _LOG_2PI)
    return -0.5 * sq_dist / self.std**2 - log_norm

  def log_prob(self, z: jax.typing.ArrayLike) -> jax.Array:
    # log (1/K) sum_k N(z; mu_k, std^2 I), with logsumexp for stability far
    # from every mean (each density underflows there).
    return jax.nn.logsumexp(self.component_log_prob(z), axis=-1) - math.log(
        self.num_components
    )


@dataclasses.dataclass(frozen=True)
class SamplerPrior(Prior):
  """A prior given only by a user's sampler ``fn(rng, num) -> [num, dim]``.

  Build it with `from_sampler`, which checks ``fn`` once. ``fn`` must be a
  pure JAX function of its key (it is traced under `jit` with the other
  training code); ``log_prob`` is not available.

  Attributes:
    fn: the sampler; it is hashed and compared by identity.
  """

  fn: Callable[[jax.Array, int], jax.Array]

  name = 'custom'

  def __post_init__(self):
    super().__post_init__()
    if not callable(self.fn):
      raise ValueError(
          'from_sampler: fn must be a function fn(rng, num) -> [num, '
          f'{self.dim}] array, got {self.fn!r}.'
      )
    try:
      out = jax.eval_shape(
          lambda rng: self.fn(rng, _PROBE_NUM), jax.random.PRNGKey(0)
      )
    except Exception as e:  # pylint: disable=broad-exception-caught
      raise ValueError(
          f'from_sampler: fn(rng, {_PROBE_NUM}) failed under jax.eval_shape '
          f'({type(e).__name__}: {e}); fn must be a JAX-traceable function '
          f'fn(rng, num) -> [num, dim] = [{_PROBE_NUM}, {self.dim}] array.'
      ) from e
    self._check_output(out, _PROBE_NUM, 'from_sampler')

  def _check_output(self, out, num: int, where: str) -> None:
    shape = getattr(out, 'shape', None)
    dtype = getattr(out, 'dtype', None)
    if shape is None or dtype is None:
      got = f'a {type(out).__name__}'
    else:
      got = f'shape {tuple(shape)} and dtype {dtype}'
    if (
        shape != (num, self.dim)
        or dtype is None
        or not jnp.issubdtype(dtype, jnp.floating)
    ):
      raise ValueError(
          f'{where}: fn(rng, num) must return one floating-point array of '
          f'shape [num, dim] = [{num}, {self.dim}], but fn(rng, {num}) '
          f'returned {got}; fix fn (or the dim given to from_sampler).'
      )

  def sample(self, rng: jax.Array, num: int) -> jax.Array:
    _check_num(self.name, num)
    out = self.fn(rng, num)
    self._check_output(out, num, f'{self.name} prior sample')
    return out.astype(_DTYPE)


def standard_normal(dim: int) -> StandardNormal:
  """The ``N(0, I_dim)`` prior."""
  return StandardNormal(dim)


def gaussian_mixture(
    dim: int,
    *,
    num_components: int = 10,
    radius: float = 4.0,
    std: float = 0.5,
) -> GaussianMixture:
  """The AAE paper's mixture of Gaussians on a circle; see `GaussianMixture`.

  Args:
    dim: code dimension, >= 2.
    num_components: number of equally weighted modes (10: one per digit).
    radius: distance of each component mean from the origin.
    std: per-dimension standard deviation of every component.

  Returns:
    A `GaussianMixture` with ``num_classes == num_components``.
  """
  return GaussianMixture(
      dim, num_components=num_components, radius=radius, std=std
  )


def from_sampler(
    fn: Callable[[jax.Array, int], jax.Array], dim: int
) -> SamplerPrior:
  """A prior from a user's sampler ``fn(rng, num) -> [num, dim]``.

  ``fn`` is traced once here with ``jax.eval_shape`` for a small ``num``
  (no computation runs), so a sampler with the wrong output fails now
  rather than deep inside a training step.

  Args:
    fn: pure JAX function of a PRNG key and a static int ``num`` returning
      floating-point samples ``[num, dim]`` (cast to float32 when sampled).
    dim: code dimension.

  Returns:
    A `SamplerPrior` (no ``log_prob``, not label-conditioned).

  Raises:
    ValueError: if ``fn`` cannot be traced or returns anything but a
      floating-point ``[num, dim]`` array.
  """
  return SamplerPrior(dim, fn=fn)


# Priors that a config can name with --config.prior. A user's sampler is named
# by reference instead, 'package.module:function' (see `make_prior`), or built
# in Python with `from_sampler`.
PRIORS: dict[str, Callable[..., Prior]] = {
    'standard_normal': standard_normal,
    'gaussian_mixture': gaussian_mixture,
}


def _is_reference(name: str) -> bool:
  return ':' in name


def _check_name(name: str) -> None:
  if name not in PRIORS and not _is_reference(name):
    raise ValueError(
        f'config.prior={name!r} is not one of {tuple(PRIORS)}; set '
        '--config.prior to one of them, to a sampler of your own as '
        "'package.module:function' (fn(rng, num) -> [num, latent_dim]), or "
        'build a Prior in Python with ae_jax.priors.from_sampler(fn, dim).'
    )


def import_sampler(reference: str) -> Callable[[jax.Array, int], jax.Array]:
  """The function named by ``'package.module:function'``.

  Raises:
    ValueError: if the module cannot be imported or has no such callable.
  """
  module_name, _, attr = reference.partition(':')
  fix = (
      f"config.prior={reference!r} names a sampler as 'package.module:"
      "function'; make the module importable (installed, or on PYTHONPATH) "
      'and define fn(rng, num) -> [num, latent_dim] in it'
  )
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    raise ValueError(f'{fix}. Importing {module_name!r} failed: {e}') from e
  fn = getattr(module, attr, None)
  if not callable(fn):
    raise ValueError(f'{fix}. {module_name!r} has no function {attr!r}.')
  return fn


def make_prior(name: str, dim: int, **kwargs) -> Prior:
  """The prior called ``name`` in `PRIORS`, over ``dim``-dimensional codes.

  Args:
    name: a key of `PRIORS`, e.g. ``config.prior``, or a user's sampler
      ``'package.module:function'`` (see `import_sampler`, `from_sampler`).
    dim: code dimension (the model's ``latent_dim``).
    **kwargs: the prior's own options, e.g. ``radius=`` and ``std=`` for
      'gaussian_mixture'.

  Returns:
    The `Prior`.

  Raises:
    ValueError: for an unknown name or invalid options.
  """
  _check_name(name)
  if _is_reference(name):
    if kwargs:
      raise ValueError(f'A sampler prior takes no options, got {kwargs}.')
    return from_sampler(import_sampler(name), dim)
  factory = PRIORS[name]
  options = list(inspect.signature(factory).parameters)[1:]
  unknown = sorted(set(kwargs) - set(options))
  if unknown:
    raise ValueError(
        f'The {name!r} prior has no option {", ".join(unknown)}; its options: '
        f'{", ".join(options) or "none"}.'
    )
  return factory(dim, **kwargs)


def check_prior(name: str, dim: int, latent_dim: int) -> None:
  """Checks a configured prior before anything is built or traced.

  Args:
    name: the prior's name, e.g. ``config.prior``.
    dim: the dimension of the prior's samples.
    latent_dim: the dimension of the encoder's codes, which the
      discriminator compares with the prior samples.

  Raises:
    ValueError: if ``name`` is not in `PRIORS` (or an importable sampler
      reference whose samples have ``latent_dim`` dimensions) or ``dim !=
      latent_dim``.
  """
  _check_name(name)
  if _is_reference(name):
    try:  # Imports and traces the sampler once.
      make_prior(name, latent_dim)
    except ValueError as e:
      raise ValueError(
          f'config.prior={name!r} must sample latent_dim={latent_dim} codes: '
          f'{e}'
      ) from e
  if dim != latent_dim:
    raise ValueError(
        f'The {name!r} prior samples {dim}-dimensional codes but the encoder '
        f'outputs latent_dim={latent_dim}; the discriminator compares the '
        f'two, so they must match: build the prior with dim={latent_dim} '
        f'(or set --config.latent_dim={dim}).'
    )
