r"""The PyTorch reference: the same MLP VAE trained the same way, in plain PyTorch.

  pip install torch   # optional benchmark extra, never a dependency of ae_jax
  python -m benchmarks.pytorch_vae --seeds=0,1,2 [--epochs=5]

Model 784-512-20 (ReLU), Bernoulli decoder (BCE on [0, 1] grey levels, summed
over pixels), one reparameterised sample per example, Adam 1e-3, batch 128,
shuffled every epoch (the last partial batch kept, as torch's DataLoader
does), PyTorch's default initialisation. The test negative ELBO counts all
10,000 test images once, with one sample each, like ae_jax's evaluation. Data
comes from ae_jax's loader, so pixel scaling is identical. This is the
pytorch/examples ``vae/main.py`` recipe with the issue's layer sizes.
"""

import time

from absl import app
from absl import flags
import numpy as np

from ae_jax import data

_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds.')
_EPOCHS = flags.DEFINE_integer('epochs', 5, 'Training epochs.')
_BATCH = flags.DEFINE_integer('batch_size', 128, 'Batch size.')


def _vae(input_dim: int = 784, hidden: int = 512, latent: int = 20):
  """(model, loss_fn): the MLP VAE input-512-20 and its summed negative ELBO."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  class VAE(nn.Module):

    def __init__(self):
      super().__init__()
      self.fc1 = nn.Linear(input_dim, hidden)
      self.fc21 = nn.Linear(hidden, latent)
      self.fc22 = nn.Linear(hidden, latent)
      self.fc3 = nn.Linear(latent, hidden)
      self.fc4 = nn.Linear(hidden, input_dim)

    def forward(self, x):
      h = F.relu(self.fc1(x))
      mu, logvar = self.fc21(h), self.fc22(h)
      z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
      logits = self.fc4(F.relu(self.fc3(z)))
      return logits, mu, logvar

  def loss_fn(logits, x, mu, logvar):  # Summed over the batch, as upstream.
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction='sum')
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld

  return VAE(), loss_fn


def mlp_vae(train_images: np.ndarray):
  """``(model, forward_loss, inputs)`` of the MLP VAE on flattened images."""
  import torch  # pylint: disable=g-import-not-at-top

  model, loss_fn = _vae(int(np.prod(train_images.shape[1:])))

  def forward_loss(x):
    logits, mu, logvar = model(x)
    return loss_fn(logits, x, mu, logvar)

  return (
      model,
      forward_loss,
      torch.from_numpy(train_images.reshape(len(train_images), -1)),
  )


def _autocast(fn, device: str, dtype):
  """``fn`` run under `torch.autocast` to ``dtype`` on ``device``'s type."""
  import torch  # pylint: disable=g-import-not-at-top

  def wrapped(x):
    with torch.autocast(device_type=device.split(':')[0], dtype=dtype):
      return fn(x)

  return wrapped


def time_training(
    train_images: np.ndarray,
    *,
    steps: int,
    batch_size: int = 128,
    compile: bool = False,  # pylint: disable=redefined-builtin
    fused: bool = False,
    flush_denormal: bool = False,
    seed: int = 0,
    network=mlp_vae,
    seconds: float | None = None,
    device: str = 'cpu',
    autocast: str | None = None,
) -> dict:
  """Steps/s of the plain training loop in one PyTorch configuration.

  The loop is `train_one`'s (random batches gathered from a permutation,
  forward, summed loss, backward, Adam 1e-3), timed over ``steps`` steps
  after warm-up steps that include ``torch.compile``'s compilation (returned
  as ``compile_s``). ``network(train_images)`` gives ``(model,
  forward_loss(x), inputs)``: the MLP VAE by default, or a conv network of
  `benchmarks.pytorch_peers`. ``fused`` uses Adam's fused kernel,
  ``flush_denormal`` `torch.set_flush_denormal(True)` (restored to off
  afterwards). With ``seconds``, ``steps`` is a minimum: the run is sized
  from two timed warm steps to last about that long. ``device`` (``'cpu'``
  or ``'cuda'``) holds the model, Adam's state and the whole training set,
  as ae_jax's loop does; ``autocast='bfloat16'`` runs the forward pass
  under `torch.autocast` (layers in bfloat16, parameters and Adam float32:
  the policy of ae_jax's ``compute_dtype``). Each timed span ends in
  ``float(loss)``, which waits for the device. Raises whatever torch raises
  (e.g. no C++ compiler for ``compile``).
  """
  import torch  # pylint: disable=g-import-not-at-top

  if steps < 1 or batch_size < 1:
    raise ValueError(
        f'steps={steps} and batch_size={batch_size} must be positive.'
    )
  torch.manual_seed(seed)
  model, forward_loss, x_train = network(train_images)
  model.to(device)  # Keeps each parameter's memory format (channels-last).
  x_train = x_train.to(device)
  opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
  if autocast is not None:
    forward_loss = _autocast(forward_loss, device, getattr(torch, autocast))
  if compile:
    forward_loss = torch.compile(forward_loss)
  gen = torch.Generator().manual_seed(seed)
  perm = torch.randperm(len(x_train), generator=gen).to(device)
  per_epoch = max(len(x_train) // batch_size, 1)

  def run(n, offset):
    for i in range(offset, offset + n):
      j = (i % per_epoch) * batch_size
      x = x_train[perm[j : j + batch_size]]
      loss = forward_loss(x)
      opt.zero_grad()
      loss.backward()
      opt.step()
    return float(loss.detach())

  torch.set_flush_denormal(flush_denormal)
  try:
    t0 = time.perf_counter()
    run(3, 0)  # Warm-up; compiles forward and backward under `compile`.
    compile_s = time.perf_counter() - t0
    if seconds is not None:
      t0 = time.perf_counter()
      run(2, 3)
      steps = max(steps, int(seconds / ((time.perf_counter() - t0) / 2)))
    t0 = time.perf_counter()
    loss = run(steps, 3)
    elapsed = time.perf_counter() - t0
  finally:
    torch.set_flush_denormal(False)
  return {
      'steps_per_second': steps / elapsed,
      'compile_s': compile_s,
      'loss': loss,
  }


def train_one(seed: int, dataset, epochs: int, batch_size: int) -> dict:
  import torch  # pylint: disable=g-import-not-at-top

  torch.manual_seed(seed)
  model, loss_fn = _vae()
  opt = torch.optim.Adam(model.parameters(), lr=1e-3)
  x_train = torch.from_numpy(dataset.train_images)
  x_test = torch.from_numpy(dataset.test_images)
  gen = torch.Generator().manual_seed(seed)
  steps, t0 = 0, time.perf_counter()
  for _ in range(epochs):
    model.train()
    perm = torch.randperm(len(x_train), generator=gen)
    for i in range(0, len(x_train), batch_size):
      x = x_train[perm[i : i + batch_size]]
      logits, mu, logvar = model(x)
      loss = loss_fn(logits, x, mu, logvar)
      opt.zero_grad()
      loss.backward()
      opt.step()
      steps += 1
  train_s = time.perf_counter() - t0
  model.eval()
  total = 0.0
  with torch.no_grad():
    for i in range(0, len(x_test), 1000):
      x = x_test[i : i + 1000]
      logits, mu, logvar = model(x)
      total += float(loss_fn(logits, x, mu, logvar))
  return {'neg_elbo': total / len(x_test), 'steps_per_second': steps / train_s}


def main(argv):
  del argv
  dataset = data.load_dataset('fashion_mnist')
  results = []
  for seed in map(int, _SEEDS.value):
    r = train_one(seed, dataset, _EPOCHS.value, _BATCH.value)
    results.append(r['neg_elbo'])
    print(
        f'seed {seed}: test negative ELBO {r["neg_elbo"]:.2f} nats '
        f'({r["steps_per_second"]:.0f} steps/s)',
        flush=True,
    )
  v = np.array(results)
  print(
      f'PyTorch VAE, {_EPOCHS.value} epochs: test negative ELBO mean '
      f'{v.mean():.2f}, spread (max-min) {v.max() - v.min():.2f}'
  )


if __name__ == '__main__':
  app.run(main)
