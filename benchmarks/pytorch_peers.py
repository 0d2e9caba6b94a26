"""PyTorch twins of `benchmarks.suite.FAMILIES`' conv and LSTM models.

Each ``name(train_images, **options)`` returns ``(model, forward_loss(x),
inputs)`` for `benchmarks.pytorch_vae.time_training`.

The conv VAE and conv AE in plain PyTorch:
3x3 stride-2 convolutions (ReLU) and a linear head; a linear layer to a
7x7 map, 3x3 stride-2 transposed convolutions (ReLU) and a 3x3 stride-1
head (`ae_jax.models.networks.ConvEncoder`/`ConvDecoder`), Bernoulli
likelihood summed over pixels (the VAE adds its KL term and one
reparameterised sample). Padding is PyTorch's symmetric ``padding=1``
(``output_padding=1`` for the transposed convolutions) instead of
TF/flax's SAME: the same shapes and FLOPs, only the alignment differs.
Images go in NCHW, or in channels-last memory with ``channels_last``.

The LSTM AE (`ae_jax.models.lstm_ae`): an ``nn.LSTM`` encoder over the rows
as steps, a linear layer from its final (h, c) to the code, a linear layer
from the code to the decoder's initial (c, tanh(h)), an ``nn.LSTM`` decoder
fed the code at every step, a linear read-out; Bernoulli likelihood.
"""

import functools

import numpy as np


def _conv_net(
    channels: int,
    size: int,
    features: tuple[int, ...],
    code: int,
    variational: bool,
):
  """``(model, loss(x))`` of the conv AE or VAE."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  small = size // 2 ** len(features)
  if small * 2 ** len(features) != size:
    raise ValueError(f'image size {size} must divide by {2**len(features)}')

  class ConvNet(nn.Module):

    def __init__(self):
      super().__init__()
      widths = (channels, *features)
      self.convs = nn.ModuleList(
          nn.Conv2d(a, b, 3, stride=2, padding=1)
          for a, b in zip(widths[:-1], widths[1:])
      )
      flat = features[-1] * small * small
      self.encode = nn.Linear(flat, 2 * code if variational else code)
      self.project = nn.Linear(code, flat)
      back = features[::-1]
      self.deconvs = nn.ModuleList(
          nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1)
          for a, b in zip((back[0], *back[:-1]), back)
      )  # As ConvDecoder: the first keeps the widest map's channels.
      self.head = nn.Conv2d(back[-1], channels, 3, padding=1)

    def forward(self, x):
      h = x
      for conv in self.convs:
        h = F.relu(conv(h))
      out = self.encode(h.flatten(1))
      kl = 0.0
      if variational:
        mu, logvar = out.chunk(2, dim=1)
        out = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
      h = F.relu(self.project(out)).view(-1, features[-1], small, small)
      for deconv in self.deconvs:
        h = F.relu(deconv(h))
      logits = self.head(h)
      bce = F.binary_cross_entropy_with_logits(logits, x, reduction='sum')
      return bce + kl

  return ConvNet()


def network(
    train_images: np.ndarray,
    *,
    features: tuple[int, ...],
    code: int,
    variational: bool,
    channels_last: bool = False,
):
  """``(model, forward_loss(x), inputs)`` for `pytorch_vae.time_training`:
  ``train_images`` ``[N, H, W, C]`` (ae_jax's hwc layout) as NCHW tensors."""
  import torch  # pylint: disable=g-import-not-at-top

  n, h, w, c = train_images.shape
  if h != w:
    raise ValueError(f'square images only, got {h}x{w}')
  model = _conv_net(c, h, tuple(features), code, variational)
  inputs = torch.from_numpy(np.ascontiguousarray(train_images)).permute(
      0, 3, 1, 2
  )  # NCHW view of NHWC memory: channels-last already.
  fmt = torch.channels_last if channels_last else torch.contiguous_format
  model = model.to(memory_format=fmt)
  inputs = inputs.contiguous(memory_format=fmt)

  def forward_loss(x):
    return model(x.contiguous(memory_format=fmt))

  assert len(inputs) == n
  return model, forward_loss, inputs


# The conv families of `benchmarks.suite.FAMILIES`.
conv_vae = functools.partial(
    network, features=(32, 64), code=20, variational=True
)
conv_ae = functools.partial(
    network, features=(16, 32), code=32, variational=False
)


def lstm_ae(train_images: np.ndarray, *, hidden: int = 256, code: int = 32):
  """``(model, forward_loss(x), inputs)`` of the LSTM AE on ``[N, T, F]``."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  if train_images.ndim != 3:
    raise ValueError(
        f'lstm_ae needs sequences [N, T, F], got {train_images.shape}'
    )
  _, steps, features = train_images.shape

  class LSTMAutoencoder(nn.Module):

    def __init__(self):
      super().__init__()
      self.encoder = nn.LSTM(features, hidden, batch_first=True)
      self.to_code = nn.Linear(2 * hidden, code)
      self.to_state = nn.Linear(code, 2 * hidden)
      self.decoder = nn.LSTM(code, hidden, batch_first=True)
      self.readout = nn.Linear(hidden, features)

    def forward(self, x):
      _, (h, c) = self.encoder(x)
      z = self.to_code(torch.cat([c[0], h[0]], dim=-1))
      c0, h0 = self.to_state(z).chunk(2, dim=-1)
      inputs = z[:, None, :].expand(-1, steps, -1)
      out, _ = self.decoder(
          inputs, (torch.tanh(h0)[None].contiguous(), c0[None].contiguous())
      )
      logits = self.readout(out)
      return F.binary_cross_entropy_with_logits(logits, x, reduction='sum')

  model = LSTMAutoencoder()
  return model, model, torch.from_numpy(np.ascontiguousarray(train_images))
