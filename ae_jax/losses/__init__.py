"""Pure loss functions for autoencoders: reconstruction terms, KLs and the ELBO.

Everything here is a plain function of arrays (no Flax, no state), so it can be
used from any JAX code, under `jax.jit`, `jax.vmap` and `jax.grad`.

Conventions
-----------
* **Per-example outputs.** Every loss reduces over the *last* ``event_ndims``
  axes of its inputs (keyword-only, default 1) and returns an array with the
  remaining leading (batch) shape. Nothing is reduced over the batch: the
  caller takes the mean (or a weighted sum, or a log-mean-exp for the IWAE
  bound). For example:

  - flat MNIST ``[B, 784]``, ``event_ndims=1`` (default) -> ``[B]``;
  - images ``[B, 28, 28, 1]``, ``event_ndims=3`` -> ``[B]``;
  - IWAE samples ``[K, B, D]``, ``event_ndims=1`` -> ``[K, B]``;
  - one example ``[D]`` under `jax.vmap` -> a scalar;
  - ``event_ndims=0`` -> elementwise, same shape as the inputs.

* **Sign.** Functions named ``*_log_likelihood``, ``elbo`` and
  ``iwae_bound`` return quantities to *maximise*; ``squared_error``,
  ``mean_squared_error``, ``binary_cross_entropy``, the KLs and the
  generative-model objectives (``mmd``, ``discriminator_loss``,
  ``generator_loss``, ``capacity_kl``, ``total_correlation_from_logits``)
  return quantities to *minimise* (KLs are >= 0).

* **Batch statistics.** ``mmd`` compares two sets of samples and returns one
  scalar for the batch (see its docstring for fitting it into a ``[B]``
  objective); ``iwae_bound`` reduces over its leading axis of K importance
  samples, not over the batch.

* **Arguments.** Arrays come first (predictions / logits / means, then
  targets); hyperparameters are keyword-only. Predictions, logits, means and
  log-variances must be floating point. Targets (and prior parameters) may be
  any real dtype, e.g. ``uint8``/``bool`` binarised pixels, and are cast to the
  predictions' float dtype. Shapes must match exactly, except where a
  docstring says an argument broadcasts: implicit broadcasting between
  ``[B]`` and ``[B, 1]`` is a classic silent bug in loss code.

* **Checks.** Shapes, dtypes and ``event_ndims`` are validated at trace time
  (Python-level, no runtime cost), with a message naming the function, the
  argument and the fix. ``event_ndims`` must therefore be a static Python
  int; close over it (``functools.partial``) or mark it static under `jit`.

* **Variances are parameterised by their log** (``log_variance``), the usual
  encoder output; ``exp`` is applied directly (no clamping or softplus), so
  values and gradients are exact. In float32 they are finite wherever the
  exact result is representable, over these domains: a likelihood's (or a
  prior's) log-variance may be any finite number (at ``targets == mean`` the
  log-density is finite even for variances far below float32's smallest,
  ``exp(-103.3)``; elsewhere it is exact, or ``-inf`` once the exact value
  overflows, never NaN); a KL's ``log_variance`` (``gaussian_kl``:
  ``log_variance - prior_log_variance``) ``<= 88``, beyond which the KL,
  about ``exp(lv) / 2``, itself overflows. Losses of logits are finite for
  all finite logits (tested at +/-1e4); ``mmd`` for samples of any finite
  magnitude, with finite gradients up to about 1e30 (tested at +/-1e20).
  ``tests/test_losses_properties.py`` checks these domains with hypothesis.

Modules, one topic each (every name is importable from here):

  reconstruction  squared errors, Bernoulli and Gaussian log-likelihoods
  divergences     Gaussian KLs, the (beta-)ELBO, the IWAE, MIWAE and CIWAE bounds
  discrepancy     maximum mean discrepancy (WAE, InfoVAE)
  adversarial     GAN losses, FactorVAE total correlation, permute_dims
  capacity        controlled-capacity beta-VAE penalty and schedule
  quantization    VQ-VAE nearest-code lookup, its losses, codebook perplexity
  _checks         private input checks and event reductions
"""

# Private names are re-exported too: `penalties` and the tests use them.
# pylint: disable=unused-import
from ae_jax.losses._checks import _as_array
from ae_jax.losses._checks import _check_and_cast
from ae_jax.losses._checks import _mean_event
from ae_jax.losses._checks import _scaled_square
from ae_jax.losses._checks import _sum_event
from ae_jax.losses.adversarial import discriminator_loss
from ae_jax.losses.adversarial import generator_loss
from ae_jax.losses.adversarial import permute_dims
from ae_jax.losses.adversarial import total_correlation_from_logits
from ae_jax.losses._checks import _check_weight
from ae_jax.losses.capacity import capacity_kl
from ae_jax.losses.capacity import capacity_schedule
from ae_jax.losses.discrepancy import _MMD_KERNELS
from ae_jax.losses.discrepancy import _MMD_RELATIVE_WIDTHS
from ae_jax.losses.discrepancy import _check_scales
from ae_jax.losses.discrepancy import _row_scales
from ae_jax.losses.discrepancy import _squared_distances
from ae_jax.losses.discrepancy import _squared_distances_jvp
from ae_jax.losses.discrepancy import mmd
from ae_jax.losses.divergences import ELBO
from ae_jax.losses.divergences import ciwae_bound
from ae_jax.losses.divergences import elbo
from ae_jax.losses.divergences import gaussian_kl
from ae_jax.losses.divergences import iwae_bound
from ae_jax.losses.divergences import miwae_bound
from ae_jax.losses.divergences import standard_normal_kl
from ae_jax.losses.quantization import VectorQuantization
from ae_jax.losses.quantization import codebook_perplexity
from ae_jax.losses.quantization import vector_quantize
from ae_jax.losses.reconstruction import _LOG_2PI
from ae_jax.losses.reconstruction import _bernoulli_log_likelihood
from ae_jax.losses.reconstruction import bernoulli_log_likelihood
from ae_jax.losses.reconstruction import binary_cross_entropy
from ae_jax.losses.reconstruction import gaussian_log_likelihood
from ae_jax.losses.reconstruction import mean_squared_error
from ae_jax.losses.reconstruction import squared_error

# pylint: enable=unused-import

__all__ = [
    "ELBO",
    "VectorQuantization",
    "bernoulli_log_likelihood",
    "binary_cross_entropy",
    "capacity_kl",
    "capacity_schedule",
    "ciwae_bound",
    "codebook_perplexity",
    "discriminator_loss",
    "elbo",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "generator_loss",
    "iwae_bound",
    "mean_squared_error",
    "miwae_bound",
    "mmd",
    "permute_dims",
    "squared_error",
    "standard_normal_kl",
    "total_correlation_from_logits",
    "vector_quantize",
]
