"""LSTM sequence autoencoder: [B, T, F] -> encoder LSTM -> code -> decoder LSTM.

The encoder-decoder LSTM of Srivastava, Mansimov & Salakhutdinov (2015),
"Unsupervised learning of video representations using LSTMs", ICML, after the
sequence-to-sequence model of Sutskever, Vinyals & Le (2014), "Sequence to
sequence learning with neural networks", NeurIPS:

* the encoder LSTM reads the sequence; its state (cell and hidden) after each
  sequence's last valid step goes through a Dense layer to the code
  ``z`` ``[B, latent_dim]``;
* a Dense layer maps ``z`` to the decoder LSTM's initial state; the decoder is
  unrolled for ``T`` steps with ``z`` as its input at every step (an
  "unconditioned" decoder in Srivastava et al.'s terms: it never sees its own
  outputs), and a Dense layer reads out ``F`` features per step (logits for
  likelihood='bernoulli', means for 'gaussian').

Sequences of different lengths are padded to ``T`` and passed with
``lengths`` ``[B]``: steps ``t >= lengths[b]`` are padding and influence
neither the code nor any loss (they are zeroed before the encoder and masked
out of the loss, so even NaN padding is harmless). Fashion-MNIST read as 28
rows of 28 pixels (``--config.layout=sequence``) is the fixed-length case.
"""

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import networks


def sequence_mask(lengths: jax.typing.ArrayLike, num_steps: int) -> jax.Array:
  """Which steps of padded sequences are valid.

  Args:
    lengths: integer array ``[B]``, the number of valid (leading) steps of
      each sequence.
    num_steps: the padded length ``T`` (a static Python int).

  Returns:
    Boolean array ``[B, T]``, True where ``t < lengths[b]``.
  """
  lengths = jnp.asarray(lengths)
  return jnp.arange(num_steps) < lengths[:, None]


def _valid_elements(x: jax.Array, lengths: jax.Array | None) -> jax.Array:
  """``[B, T, 1]`` mask of valid steps of ``x`` ``[B, T, F]`` (all if None)."""
  if x.ndim != 3:
    raise ValueError(
        f'masked sequence losses take x of shape [B, T, F], got {x.shape}; '
        'add a feature axis of size 1 to univariate sequences.'
    )
  if lengths is None:
    return jnp.ones((*x.shape[:2], 1), bool)
  return sequence_mask(lengths, x.shape[1])[..., None]


def masked_sequence_loss(
    outputs: jax.typing.ArrayLike,
    x: jax.typing.ArrayLike,
    lengths: jax.typing.ArrayLike | None = None,
    *,
    likelihood: str,
) -> jax.Array:
  """Reconstruction loss of each sequence, summed over its valid steps.

  Per element, the sigmoid binary cross-entropy of the logits `outputs`
  against `x` (likelihood='bernoulli', data in [0, 1]) or the squared error of
  the means `outputs` (likelihood='gaussian', the unit-variance Gaussian
  negative log-likelihood up to constants); summed over ``t < lengths[b]``
  and all ``F`` features. Padded elements contribute exactly 0, and neither
  their values nor their gradients can leak in (not even NaN or inf).

  Args:
    outputs: floating array ``[B, T, F]``, the decoder's outputs.
    x: real array ``[B, T, F]``, the padded targets.
    lengths: optional integer array ``[B]`` of valid lengths in ``[1, T]``;
      None means every step is valid.
    likelihood: 'bernoulli' or 'gaussian' (keyword-only).

  Returns:
    Array ``[B]``: the loss of each sequence (not averaged over its length,
    so that it is a negative log-likelihood of the whole sequence).
  """
  base.check_likelihood(likelihood)
  outputs, x = jnp.asarray(outputs), jnp.asarray(x)
  valid = _valid_elements(x, lengths)
  # Zero the padded targets *before* the elementwise loss: masking its output
  # alone would still give NaN gradients (0 * NaN) for NaN padding.
  x = jnp.where(valid, x, 0)
  if likelihood == 'bernoulli':
    elementwise = losses.binary_cross_entropy(outputs, x, event_ndims=0)
  else:
    elementwise = losses.squared_error(outputs, x, event_ndims=0)
  return jnp.sum(jnp.where(valid, elementwise, 0), axis=(1, 2))


def masked_sequence_mse(
    means: jax.typing.ArrayLike,
    x: jax.typing.ArrayLike,
    lengths: jax.typing.ArrayLike | None = None,
) -> jax.Array:
  """Mean squared error per valid element of each sequence.

  ``sum over t < lengths[b] and f of (means - x)**2 / (lengths[b] * F)``:
  with ``lengths=None`` it equals
  ``losses.mean_squared_error(means, x, event_ndims=2)``, the ``'mse'``
  metric every model reports.

  Args:
    means: floating array ``[B, T, F]``, the mean reconstruction.
    x: real array ``[B, T, F]``, the padded targets.
    lengths: optional integer array ``[B]`` of valid lengths in ``[1, T]``.

  Returns:
    Array ``[B]``.
  """
  means, x = jnp.asarray(means), jnp.asarray(x)
  valid = _valid_elements(x, lengths)
  x = jnp.where(valid, x, 0)
  elementwise = losses.squared_error(means, x, event_ndims=0)
  total = jnp.sum(jnp.where(valid, elementwise, 0), axis=(1, 2))
  count = jnp.sum(valid, axis=(1, 2)) * x.shape[-1]
  return total / count.astype(total.dtype)


def check_sequences(
    x: jax.Array,
    lengths: jax.typing.ArrayLike | None,
    input_shape: tuple[int, int],
) -> None:
  """Trace-time checks of a batch ``x`` ``[B, T, F]`` and its ``lengths``.

  Shapes and dtypes are always checked. The values of `lengths` are checked
  only when they are concrete (NumPy, lists, or jax arrays outside `jit`);
  traced lengths cannot be, and the model turns the codes and losses of
  sequences with invalid lengths into NaN instead (`nan_where_invalid`).

  Raises:
    ValueError: if ``x`` is not ``[B, T, F]`` with ``(T, F) == input_shape``,
      `lengths` is not ``[B]``, or a concrete length is outside ``[1, T]``.
    TypeError: if `lengths` is not an integer array.
  """
  num_steps, num_features = input_shape
  if x.ndim != 3 or tuple(x.shape[1:]) != tuple(input_shape):
    raise ValueError(
        f'LSTMAutoencoder expects sequences of shape [B, T, F] = [B, '
        f'{num_steps}, {num_features}], got x of shape {x.shape}; build the '
        'model with input_shape=(T, F) of the data (from the command line: '
        '--config.layout=sequence) or reshape x to [B, T, F].'
    )
  if lengths is None:
    return
  if not isinstance(lengths, jax.core.Tracer):
    lengths = np.asarray(lengths)
  if lengths.shape != x.shape[:1]:
    raise ValueError(
        f'lengths must have shape [B] = {x.shape[:1]} (one length per '
        f'sequence of x {x.shape}), got shape {lengths.shape}; pass a 1-D '
        'array of the valid steps of each sequence.'
    )
  if not jnp.issubdtype(lengths.dtype, jnp.integer):
    raise TypeError(
        f'lengths must be integers, got dtype {lengths.dtype}; cast them '
        'first, e.g. lengths.astype(jnp.int32).'
    )
  if isinstance(lengths, jax.core.Tracer):
    return
  too_long = lengths > num_steps
  if too_long.any():
    n = int(lengths[too_long].max())
    raise ValueError(
        f'sequence length {n} exceeds the padded length T={num_steps}; pad '
        f'the batch to at least {n} steps or trim the sequence.'
    )
  if (lengths < 1).any():
    raise ValueError(
        f'sequence lengths must be >= 1, got {int(lengths.min())} at batch '
        f'index {int(np.argmin(lengths))}; drop empty sequences from the '
        'batch (an empty sequence has no code).'
    )


def nan_where_invalid(
    values: jax.Array, lengths: jax.Array | None, num_steps: int
) -> jax.Array:
  """``values`` ``[B, ...]``, NaN where a sequence's length is not in [1, T].

  nn.RNN gathers the final carry at index ``lengths - 1``, which JAX wraps
  (length 0) or clamps (length > T) without error, and an empty mask makes a
  zero loss. Concrete lengths are rejected by `check_sequences`; traced ones
  cannot be, so their codes and losses are made NaN rather than plausible.
  """
  if lengths is None:
    return values
  ok = (lengths >= 1) & (lengths <= num_steps)
  return jnp.where(
      ok.reshape(ok.shape + (1,) * (values.ndim - 1)), values, jnp.nan
  )


class LSTMAutoencoderModule(nn.Module):
  """Encoder LSTM -> Dense code -> Dense initial state -> decoder LSTM -> Dense.

  `encode`, `decode` and `__call__` are apply methods. The parameters do not
  depend on ``num_steps``: one set applies to sequences of any length.

  Attributes:
    hidden: LSTM state size of the encoder and of the decoder.
    latent_dim: code size.
    num_steps: ``T``, the number of steps the decoder is unrolled for.
    num_features: ``F``, features per step.
    dtype: the dtype the gates and Dense layers compute in (float32 or
      bfloat16); parameters, the LSTM states, codes and outputs are float32.
  """

  hidden: int
  latent_dim: int
  num_steps: int
  num_features: int
  dtype: Any = jnp.float32

  def setup(self):
    kw = networks.layer_dtypes(self.dtype)
    dense = lambda n: networks.layer(nn.Dense, n, dtype=self.dtype)
    self.encoder_rnn = nn.RNN(nn.OptimizedLSTMCell(self.hidden, **kw))
    self.to_code = dense(self.latent_dim)
    self.to_decoder_state = dense(2 * self.hidden)
    self.decoder_rnn = nn.RNN(nn.OptimizedLSTMCell(self.hidden, **kw))
    self.readout = dense(self.num_features)

  def encode(self, x: jax.Array, lengths: jax.Array | None = None):
    """Codes ``[B, latent_dim]`` for ``x`` ``[B, T, F]``."""
    if lengths is not None:
      # Zeroed padding cannot reach the code even through the gradient: the
      # scan runs over every step, and NaN/inf padding would otherwise make
      # 0 * NaN cotangents in the backward pass.
      x = jnp.where(sequence_mask(lengths, x.shape[1])[..., None], x, 0)
    # With seq_lengths and return_carry, nn.RNN returns the carry after step
    # lengths[b] - 1 of each sequence (tested in tests/test_lstm_ae.py).
    (c, h), _ = self.encoder_rnn(x, seq_lengths=lengths, return_carry=True)
    z = self.to_code(jnp.concatenate([c, h], axis=-1)).astype(jnp.float32)
    return nan_where_invalid(z, lengths, x.shape[1])

  def decode(self, z: jax.Array) -> jax.Array:
    """Decoder outputs ``[B, T, F]`` (logits or means) for codes ``z``."""
    state = self.to_decoder_state(z).astype(jnp.float32)
    c0, h0 = jnp.split(state, 2, axis=-1)
    # An LSTM's hidden state is o * tanh(c), within (-1, 1); start there.
    # The carry is float32 (as nn.RNN initialises the encoder's).
    carry = (c0, jnp.tanh(h0))
    inputs = jnp.broadcast_to(
        z[:, None, :], (z.shape[0], self.num_steps, z.shape[-1])
    )
    outputs = self.readout(self.decoder_rnn(inputs, initial_carry=carry))
    return outputs.astype(jnp.float32)

  def __call__(self, x: jax.Array, lengths: jax.Array | None = None):
    z = self.encode(x, lengths)
    return self.decode(z), z


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of model='lstm_ae' (Srivastava et al. 2015)."""

  lstm_hidden: int = base.hparam(128)  # LSTM state size.


@dataclasses.dataclass(frozen=True, kw_only=True)
class LSTMAutoencoder(base.Model):
  """`base.Model` for `LSTMAutoencoderModule`; ``input_shape = (T, F)``.

  Every method taking ``x`` ``[B, T, F]`` also takes optional ``lengths``
  ``[B]`` (int, in ``[1, T]``) for right-padded variable-length sequences.
  """

  module: LSTMAutoencoderModule

  def _prepare(self, x, lengths):
    x = jnp.asarray(x)
    check_sequences(x, lengths, self.input_shape)
    if not jnp.issubdtype(x.dtype, jnp.floating):
      x = x.astype(jnp.float32)  # e.g. uint8/bool binarised pixels.
    if lengths is not None:
      lengths = jnp.asarray(lengths)
    return x, lengths

  def init(self, rng):
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    return self.module.init(rng, x)['params']

  def per_example_losses(
      self, params, x, rng, *, train, labels=None, lengths=None
  ):
    del rng, train, labels  # Deterministic and unsupervised.
    x, lengths = self._prepare(x, lengths)
    outputs, _ = self.module.apply({'params': params}, x, lengths)
    rec = masked_sequence_loss(outputs, x, lengths, likelihood=self.likelihood)
    mse = masked_sequence_mse(self.output_mean(outputs), x, lengths)
    rec = nan_where_invalid(rec, lengths, x.shape[1])
    mse = nan_where_invalid(mse, lengths, x.shape[1])
    return {'loss': rec, 'loss_rec': rec, 'mse': mse}

  def encode(self, params, x, lengths=None):
    x, lengths = self._prepare(x, lengths)
    return self.module.apply({'params': params}, x, lengths, method='encode')

  def decode(self, params, z):
    """Mean reconstructions ``[B, T, F]``; steps past a length are unused."""
    outputs = self.module.apply({'params': params}, z, method='decode')
    return self.output_mean(outputs)

  def reconstruct(self, params, x, lengths=None):
    return self.decode(params, self.encode(params, x, lengths))


def build(config, data: base.DataSpec) -> LSTMAutoencoder:
  """The LSTM autoencoder for sequences of ``input_shape = (T, F)``.

  Reads ``config.latent_dim``, ``config.lstm_hidden``,
  ``config.likelihood`` and ``config.compute_dtype``.
  """
  base.check_likelihood(config.likelihood)
  input_shape = tuple(data.input_shape)
  if len(input_shape) != 2:
    raise ValueError(
        'The LSTM autoencoder reads sequences [T, F] (e.g. 28 rows of 28 '
        f'pixels), got examples of shape {input_shape}; set '
        '--config.layout=sequence.'
    )
  hidden = config.lstm_hidden
  if not (
      isinstance(hidden, (int, np.integer))
      and not isinstance(hidden, bool)
      and hidden >= 1
  ):
    raise ValueError(
        f'config.lstm_hidden={hidden!r} must be a positive integer (the LSTM '
        'state size), e.g. --config.lstm_hidden=128.'
    )
  module = LSTMAutoencoderModule(
      hidden=int(hidden),
      latent_dim=config.latent_dim,
      num_steps=input_shape[0],
      num_features=input_shape[1],
      dtype=networks.compute_dtype(config),
  )
  return LSTMAutoencoder(
      input_shape=input_shape,
      latent_dim=config.latent_dim,
      likelihood=config.likelihood,
      module=module,
  )
