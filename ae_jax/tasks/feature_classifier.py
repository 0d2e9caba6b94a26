"""The classifier whose features the sample-quality distances compare.

FID needs a network that maps images to features that reflect what people
see; Inception-v3 weights cannot be downloaded here (and would not suit
28x28 grey images anyway). So, per dataset, the project trains a small conv
net to classify the training split (`FeatureNet`: two strided 3x3
convolutions of 32 and 64 channels, a 128-unit ReLU layer, softmax; Adam
1e-3, batch 128, `TRAIN_EPOCHS` epochs, at least `MIN_STEPS` steps, seed 0)
and takes the 128 ReLU units as features. Its test accuracy is reported next
to every distance, since features of a poor classifier make a poor metric.

The trained weights are cached under ``$AE_JAX_CACHE`` (default
``~/.cache/ae_jax``) in a file named by a fingerprint of the training
images, labels and this recipe, so each dataset trains it once; a damaged
cache file is retrained over, never trusted.
"""

import hashlib
import json

from absl import logging
import flax.linen as nn
from flax import serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ae_jax import figures
from ae_jax.metrics import batching
from ae_jax.models import networks
from ae_jax.train.workdir import cache_dir
from ae_jax.train.workdir import write_bytes

RECIPE = 'feature_classifier/v1: conv(32,64)s2-relu128-softmax, adam 1e-3'
TRAIN_EPOCHS = 3
MIN_STEPS = 300
BATCH = 128
FEATURES = 128


class FeatureNet(nn.Module):
  """Conv classifier; ``features=True`` returns the 128 ReLU units."""

  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array, features: bool = False) -> jax.Array:
    h = networks.ConvEncoder((32, 64), FEATURES, name='body')(x)
    h = nn.relu(h)
    return h if features else nn.Dense(self.num_classes, name='logits')(h)


def _fingerprint(dataset) -> str:
  h = hashlib.sha256(RECIPE.encode())
  for array in (dataset.train_images, dataset.train_labels):
    h.update(str(array.shape).encode())
    h.update(np.ascontiguousarray(array).tobytes())
  return h.hexdigest()[:16]


class FeatureExtractor:
  """A trained `FeatureNet` for one dataset: ``features(x) -> [N, 128]``."""

  def __init__(self, net: FeatureNet, params, shape, test_accuracy: float):
    self.net, self.params, self.shape = net, params, shape
    self.test_accuracy = test_accuracy
    self._features = jax.jit(
        lambda p, x: net.apply(
            {'params': p}, x.reshape(-1, *shape), features=True
        )
    )

  def features(self, x: np.ndarray, *, batch_size: int = 500) -> np.ndarray:
    fn = lambda batch: self._features(self.params, batch)
    return batching.apply_in_batches(
        fn, np.asarray(x, np.float32), batch_size=batch_size
    )


def _train(net, dataset, shape) -> tuple[dict, float]:
  x = dataset.train_images.reshape(-1, *shape)
  y = dataset.train_labels.astype(np.int32)
  params = net.init(jax.random.PRNGKey(0), x[:1])['params']
  tx = optax.adam(1e-3)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, xb, yb):
    def loss_fn(p):
      logits = net.apply({'params': p}, xb)
      return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  batch = min(BATCH, len(x))
  per_epoch = len(x) // batch
  steps = max(TRAIN_EPOCHS * per_epoch, MIN_STEPS)
  rng = np.random.default_rng(0)
  order = np.empty(0, np.int64)
  for _ in range(steps):
    if len(order) < batch:
      order = np.concatenate([order, rng.permutation(len(x))])
    idx, order = order[:batch], order[batch:]
    params, opt_state = step(params, opt_state, x[idx], y[idx])
  logits = jax.jit(lambda p, v: net.apply({'params': p}, v))
  test = dataset.test_images.reshape(-1, *shape)
  predictions = np.concatenate(
      [
          np.argmax(logits(params, test[i : i + 500]), -1)
          for i in range(0, len(test), 500)
      ]
  )
  return params, float(np.mean(predictions == dataset.test_labels))


def feature_extractor(dataset) -> FeatureExtractor:
  """The cached (or newly trained) feature classifier of ``dataset``.

  Raises:
    ValueError: the examples are not images (see
      `figures.image_shape_or_none`) or the dataset has fewer than two
      classes to learn features from.
  """
  shape = figures.image_shape_or_none(dataset.input_shape)
  if shape is None:
    raise ValueError(
        f'Dataset {dataset.name!r} has examples of shape '
        f'{dataset.input_shape}, not images; the sample-quality distances '
        'need images (HWC with 1 or 3 channels, or flat S * S * C values '
        'with C = 1 or 3 and S >= 8; `figures.image_shape_or_none`).'
    )
  if dataset.num_classes < 2:
    raise ValueError(
        f'Dataset {dataset.name!r} has {dataset.num_classes} class; the '
        'feature classifier of the sample-quality distances needs labels of '
        'at least two classes.'
    )
  net = FeatureNet(num_classes=int(dataset.num_classes))
  path = cache_dir() / f'{dataset.name}-{_fingerprint(dataset)}.msgpack'
  meta_path = path.with_suffix('.json')
  template = net.init(jax.random.PRNGKey(0), jnp.zeros((1, *shape)))['params']
  if path.exists() and meta_path.exists():
    try:
      params = serialization.from_bytes(template, path.read_bytes())
      accuracy = float(json.loads(meta_path.read_text())['test_accuracy'])
      return FeatureExtractor(net, params, shape, accuracy)
    except (ValueError, KeyError, TypeError) as e:
      logging.warning('Retraining the feature classifier over %s: %s', path, e)
  logging.info('Training the feature classifier for %s', dataset.name)
  params, accuracy = _train(net, dataset, shape)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, serialization.to_bytes(params))
    write_bytes(
        meta_path,
        json.dumps({'test_accuracy': accuracy, 'recipe': RECIPE}).encode(),
    )
  except OSError as e:  # A read-only home: use it, retrain next time.
    logging.warning(
        'Not caching the feature classifier in %s (%s); set $AE_JAX_CACHE '
        'to a writable directory to train it once.',
        path.parent,
        e,
    )
  return FeatureExtractor(net, params, shape, accuracy)
