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


def train_one(seed: int, dataset, epochs: int, batch_size: int) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  torch.manual_seed(seed)

  class VAE(nn.Module):

    def __init__(self):
      super().__init__()
      self.fc1 = nn.Linear(784, 512)
      self.fc21 = nn.Linear(512, 20)
      self.fc22 = nn.Linear(512, 20)
      self.fc3 = nn.Linear(20, 512)
      self.fc4 = nn.Linear(512, 784)

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

  model = VAE()
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
