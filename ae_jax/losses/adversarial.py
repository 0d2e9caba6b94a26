"""Adversarial objectives: GAN discriminator and generator losses from
logits (adversarial autoencoder), and FactorVAE's total-correlation
estimate with the dimension permutation that makes its "fake" samples.

Conventions (per-example outputs, sign, checks): see `ae_jax.losses`.
"""

import jax
import jax.numpy as jnp

from ae_jax.losses._checks import _check_and_cast

__all__ = [
    "discriminator_loss",
    "generator_loss",
    "permute_dims",
    "total_correlation_from_logits",
]


# ---------------------------------------------------------------------------
# Adversarial prior matching.
# ---------------------------------------------------------------------------


def discriminator_loss(
    real_logits: jax.typing.ArrayLike, fake_logits: jax.typing.ArrayLike
) -> jax.Array:
  """GAN discriminator loss from logits, per example pair.

  ``-log D(real) - log(1 - D(fake))`` with ``D = sigmoid(logit)``, the
  negative of the discriminator's objective in Goodfellow et al. (2014,
  Eq. 1): the binary cross-entropy of labelling real samples 1 and fake
  samples 0. In the adversarial autoencoder (Makhzani et al., 2015) the
  "real" samples are draws from the prior ``p(z)`` and the "fake" ones are
  the encoder's codes ``q(z | x)``; in FactorVAE (Kim & Mnih, 2018) they are
  codes and :func:`permute_dims` of codes.

  **Pairing.** Both batches must have the same shape, and element ``i`` of
  the result is ``-log D(real_i) - log(1 - D(fake_i))``, so its batch mean
  is the usual loss ``E_real[-log D] + E_fake[-log(1 - D)]``. For batches
  of different sizes take the two means separately:
  ``binary_cross_entropy(real, jnp.ones_like(real), event_ndims=0).mean() +
  binary_cross_entropy(fake, jnp.zeros_like(fake), event_ndims=0).mean()``.

  Computed as ``-log_sigmoid(real) - log_sigmoid(-fake)``: exact and finite
  for saturated logits (+/-1e4), unlike ``log(sigmoid(.))``.

  Args:
    real_logits: floating array of discriminator logits on real samples,
      shape ``[B]`` (elementwise: any shape; squeeze a ``Dense(1)`` output
      ``[B, 1]`` with ``[..., 0]``).
    fake_logits: floating array of logits on fake samples, same shape.

  Returns:
    Array of `real_logits`' shape, >= 0; minimise it w.r.t. the
    discriminator's parameters only.

  Raises:
    ValueError: if the shapes differ.
    TypeError: if either is not floating point.

  References:
    Goodfellow et al., `Generative Adversarial Nets
    <https://arxiv.org/abs/1406.2661>`_, NeurIPS 2014.

    Makhzani, Shlens, Jaitly, Goodfellow & Frey, `Adversarial Autoencoders
    <https://arxiv.org/abs/1511.05644>`_, 2015.
  """
  real_logits, fake_logits = _check_and_cast(
      "discriminator_loss",
      0,
      floating=[("real_logits", real_logits), ("fake_logits", fake_logits)],
  )
  # log(1 - sigmoid(l)) == log_sigmoid(-l), see `bernoulli_log_likelihood`.
  return -jax.nn.log_sigmoid(real_logits) - jax.nn.log_sigmoid(-fake_logits)


def generator_loss(fake_logits: jax.typing.ArrayLike) -> jax.Array:
  """Non-saturating generator loss ``-log D(fake)`` from logits, per example.

  Goodfellow et al. (2014, Sec. 3) replace minimising ``log(1 - D(G(z)))``,
  whose gradient vanishes while the discriminator confidently rejects the
  fakes, by minimising ``-log D(G(z))``. In the adversarial autoencoder the
  "generator" is the encoder, trained to make its codes look like prior
  samples (Makhzani et al., 2015, Sec. 2). The gradient w.r.t. the logit is
  ``-sigmoid(-logit) < 0``: descent pushes the fake logits up, with a
  gradient near -1 (not 0) for confidently rejected fakes.

  Computed as ``-log_sigmoid(fake_logits)``: exact and finite at +/-1e4.

  Args:
    fake_logits: floating array of discriminator logits on generated
      samples, shape ``[B]`` (elementwise: any shape).

  Returns:
    Array of `fake_logits`' shape, >= 0; minimise it w.r.t. the generator's
    (encoder's) parameters only.

  Raises:
    TypeError: if `fake_logits` is not floating point.

  References:
    Goodfellow et al., `Generative Adversarial Nets
    <https://arxiv.org/abs/1406.2661>`_, NeurIPS 2014.

    Makhzani, Shlens, Jaitly, Goodfellow & Frey, `Adversarial Autoencoders
    <https://arxiv.org/abs/1511.05644>`_, 2015.
  """
  (fake_logits,) = _check_and_cast(
      "generator_loss", 0, floating=[("fake_logits", fake_logits)]
  )
  return -jax.nn.log_sigmoid(fake_logits)


# ---------------------------------------------------------------------------
# FactorVAE total correlation.
# ---------------------------------------------------------------------------


def total_correlation_from_logits(
    logits: jax.typing.ArrayLike,
) -> jax.Array:
  """Density-ratio estimate of the total correlation, per example.

  FactorVAE (Kim & Mnih, 2018, Eq. 3) penalises the total correlation
  ``TC(z) = KL(q(z) || prod_j q(z_j)) = E_q(z)[log q(z) / prod_j q(z_j)]``
  of the aggregate posterior, estimated with a discriminator ``D`` trained
  to tell codes ``z ~ q(z)`` (label 1) from :func:`permute_dims` codes,
  samples of ``prod_j q(z_j)`` (label 0). At the optimum
  ``D(z) = q(z) / (q(z) + prod_j q(z_j))``, so

  ``log(D(z) / (1 - D(z))) ~= log q(z) - log prod_j q(z_j)``:

  the estimate for one code is its discriminator **logit**, and TC is the
  batch mean of the result.

  **Sign convention.** The logit must be positive for "looks like a joint
  sample from q(z)", i.e. the discriminator is trained with
  ``discriminator_loss(real_logits=D(z), fake_logits=D(permute_dims(z)))``.
  With a 2-way softmax discriminator (as in Kim & Mnih's Appendix),
  pass ``logits[:, 0] - logits[:, 1]`` with class 0 = "from q(z)". The
  result is a quantity to *minimise*: the VAE loss is
  ``-elbo + gamma * total_correlation_from_logits(D(z))``, differentiated
  w.r.t. the encoder only (the discriminator has its own loss), with e.g.
  ``gamma`` 10 to 40 on dSprites. Per-example values can be negative; only
  their mean estimates TC >= 0.

  Args:
    logits: floating array of discriminator logits on codes ``z ~ q(z | x)``
      (not permuted), shape ``[B]`` (elementwise: any shape; squeeze a
      ``Dense(1)`` output with ``[..., 0]``).

  Returns:
    Array of `logits`' shape: the per-example TC estimate (the logits
    themselves).

  Raises:
    TypeError: if `logits` is not floating point.

  References:
    Kim & Mnih, `Disentangling by Factorising
    <https://arxiv.org/abs/1802.05983>`_, ICML 2018.
  """
  (logits,) = _check_and_cast(
      "total_correlation_from_logits", 0, floating=[("logits", logits)]
  )
  return logits


def permute_dims(
    rng: jax.typing.ArrayLike, z: jax.typing.ArrayLike
) -> jax.Array:
  """Permutes each latent dimension independently across the batch.

  Algorithm 1 of Kim & Mnih (2018): for every dimension ``j``, draw a
  random permutation ``pi_j`` of the batch and set ``z'[i, j] =
  z[pi_j(i), j]``. Every column of the result is a permutation of the same
  column of `z` (the marginals ``q(z_j)`` are preserved exactly), while the
  dependence between dimensions is broken: the rows of ``z'`` are
  (approximately) samples of ``prod_j q(z_j)``, the "fake" samples of
  FactorVAE's discriminator. Kim & Mnih permute a second, independent
  batch of codes; the caller can pass either.

  Jit-able (the shape is static); gradients flow back to `z` through the
  permutation, so wrap `z` in `jax.lax.stop_gradient` when the result only
  trains the discriminator.

  Args:
    rng: a JAX PRNG key (new-style typed or legacy ``uint32[2]``).
    z: array of shape ``[B, D]`` (or ``[B, *latent_shape]``: every index of
      the trailing axes is permuted independently).

  Returns:
    Array of `z`'s shape and dtype; deterministic given `rng`.

  Raises:
    ValueError: if `z` has fewer than 2 axes.

  References:
    Kim & Mnih, `Disentangling by Factorising
    <https://arxiv.org/abs/1802.05983>`_, ICML 2018.
  """
  z = jnp.asarray(z)
  if z.ndim < 2:
    raise ValueError(
        f"permute_dims: z must have shape [B, D], got shape {z.shape}; for "
        "a single latent dimension use z[:, None]"
    )
  # `independent=True` shuffles every column with its own permutation (a
  # sort of each column by its own random keys), all in one op.
  return jax.random.permutation(rng, z, axis=0, independent=True)
