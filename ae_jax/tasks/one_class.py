"""The one-class anomaly-detection protocol: an autoencoder per normal class.

The standard protocol (Golan & El-Yaniv 2018; Ruff et al. 2018): for each
class c, train a model on the training images of class c only, score the
whole test set, and measure how well the scores separate the test images of
class c (normal) from those of the other classes (anomalies): the AUROC per
class and its mean over the classes (`ae_jax.anomaly.auroc`). The threshold
form flags test scores above ``mean + k * std`` of the class-c training
scores (``--k``) and reports precision, recall and F1 with the anomalies as
the positive class.

Scores (``--score``, one or several separated by commas): ``mse``, the
per-example reconstruction error, for every model; ``mse_over_tv``, the
same over the image's total variation (`ae_jax.anomaly`), for images;
``neg_elbo``, the per-example negative ELBO, for VAE-family models (vae,
iwae, factor_vae); ``both`` = ``mse,neg_elbo``.

Everything is compiled once for all classes: the model, the optimiser and one
jitted training function (``--epochs`` epochs of the class's images, one
epoch of steps fused per call with `lax.scan`) whose inputs are the full
training set, kept on the device, and per-class int32 index arrays of one
fixed shape ``[steps_per_epoch, batch_size]`` drawn from that class's
members (a fresh shuffle each epoch; ``steps_per_epoch`` comes from the
smallest selected class). Every class starts from a fresh initialisation;
its PRNG streams are `state.run_keys(fold_in(PRNGKey(seed), class))`.
The JSON records the measured number of compilations of the training and
scoring functions (1 each).

The config's run length (``num_train_steps``, ``num_epochs``) is replaced by
``--epochs``; evaluation, checkpoint and figure settings are unused, and no
checkpoint is written. Default config: the MLP autoencoder
(``experiments/configs/ae.py``, 784-512-20, BCE loss) on Fashion-MNIST.

Outputs in ``--outdir``: ``one_class.json`` (one row per class, the means,
the config, timings), ``one_class_auroc.png`` (AUROC per class with the
mean); a Markdown table on stdout.

Measured results and the published numbers they are compared with are in
BUILD.md ("Applications on Fashion-MNIST", "Reproducing the papers");
``python -m experiments.one_class`` runs it.
"""

import json
import math
import os
import time

from absl import logging
from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from sklearn import svm

from ae_jax import anomaly
from ae_jax import data
from ae_jax import figures
from ae_jax import models
from ae_jax import train
from ae_jax.metrics import pca as pca_lib
from ae_jax.tasks import markdown as markdown_lib
from ae_jax.train import state as state_lib
from ae_jax.train import loop
from ae_jax.train import workdir as workdir_lib

DEFAULT_EPOCHS = 20
# Raw-pixel detectors fitted on the same class's training images and scored
# on the same test set (``baselines=True``): `baseline_scores`.
BASELINES = ('pca', 'pca_over_tv', 'oc_svm')
OC_SVM_NU = 0.1


# ---------------------------------------------------------------------------
# Arguments, checked before anything is loaded or compiled.
# ---------------------------------------------------------------------------


def score_kinds(score: str) -> tuple[str, ...]:
  """``--score``: one kind, a comma-separated list of kinds, or ``'both'``
  (``mse,neg_elbo``, its meaning before ``mse_over_tv``)."""
  if score == 'both':
    return ('mse', 'neg_elbo')
  kinds = tuple(k.strip() for k in str(score).split(','))
  for kind in kinds:
    if kind not in anomaly.SCORE_KINDS:
      raise ValueError(
          f'--score={score!r}: {kind!r} is not a score; use one or more of '
          f'{anomaly.SCORE_KINDS} separated by commas (e.g. '
          '--score=mse,mse_over_tv), or --score=both (mse,neg_elbo).'
      )
  if len(set(kinds)) != len(kinds):
    raise ValueError(f'--score={score!r} names a score twice.')
  return kinds


def parse_classes(tokens) -> list[int] | None:
  """``['0', '3']`` -> ``[0, 3]``; None or empty -> None (every class)."""
  if not tokens:
    return None
  classes = []
  for token in tokens:
    try:
      c = int(str(token).strip())
    except ValueError:
      raise ValueError(
          f'--classes: {token!r} is not a class index; pass integers, e.g. '
          '--classes=0,1,2'
      ) from None
    if c < 0:
      raise ValueError(f'--classes: {c} is negative; class indices are >= 0.')
    if c in classes:
      raise ValueError(f'--classes: class {c} is listed twice.')
    classes.append(c)
  return classes


def check_args(config, epochs, k) -> ml_collections.ConfigDict:
  """``config`` normalised (`train.check_config`), once every argument is
  checked."""
  config = train.check_config(config)
  if config.pretrain != 'none':
    raise ValueError(
        f'config.pretrain={config.pretrain!r}: layer-wise pretraining is not '
        'supported by one_class; set --config.pretrain=none.'
    )
  if not (isinstance(epochs, int) and epochs >= 1):
    raise ValueError(f'--epochs={epochs!r} must be a positive integer.')
  if not (math.isfinite(k) and k >= 0):
    raise ValueError(f'--k={k!r} must be a finite number >= 0.')
  return config


def baseline_scores(
    name: str, train_x: np.ndarray, test_x: np.ndarray, num_components: int
) -> np.ndarray:
  """Test anomaly scores (higher = more anomalous) of a raw-pixel baseline
  fitted on ``train_x``, one class's training images.

  ``'pca'``: squared reconstruction error per example of PCA with
  ``num_components`` components (the autoencoder's code size).
  ``'pca_over_tv'``: its mean per pixel over the image's total variation,
  as the ``mse_over_tv`` score of `ae_jax.anomaly` (images only).
  ``'oc_svm'``: minus the decision function of scikit-learn's RBF
  `OneClassSVM` with ``nu`` = `OC_SVM_NU` and ``gamma='scale'``, fixed in
  advance. (Golan & El-Yaniv's raw-pixel OC-SVM instead keeps, per class,
  the best of a 9 x 10 grid of ``nu`` and ``gamma`` by test AUROC, i.e.
  chosen with the test labels; their code, ``experiments.py``.)
  """
  flat = lambda a: np.asarray(a, np.float64).reshape(len(a), -1)
  if name in ('pca', 'pca_over_tv'):
    pca, _, test = pca_lib.fit_pca(
        'baseline_scores', train_x, test_x, num_components
    )
    error = np.sum((pca.inverse_transform(pca.transform(test)) - test) ** 2, 1)
    if name == 'pca':
      return error
    images = np.reshape(
        test_x, (len(test_x), *figures.image_shape(test_x.shape[1:]))
    )
    return np.asarray(
        anomaly.over_total_variation(
            error / test.shape[1], jnp.asarray(images)
        ),
        np.float64,
    )
  if name == 'oc_svm':
    detector = svm.OneClassSVM(gamma='scale', nu=OC_SVM_NU).fit(flat(train_x))
    return -detector.decision_function(flat(test_x))
  raise ValueError(f'Unknown baseline {name!r}; use one of {BASELINES}.')


# ---------------------------------------------------------------------------
# Training: one compiled function for every class.
# ---------------------------------------------------------------------------


def class_indices(
    labels: np.ndarray,
    normal_class: int,
    *,
    epochs: int,
    steps_per_epoch: int,
    batch_size: int,
    seed: int,
) -> np.ndarray:
  """int32 ``[epochs, steps_per_epoch, batch_size]`` rows of ``labels`` of
  ``normal_class``: each epoch a fresh permutation of the class's members,
  its first ``steps_per_epoch * batch_size`` entries (the rest wait for a
  later shuffle)."""
  members = np.flatnonzero(labels == normal_class).astype(np.int32)
  needed = steps_per_epoch * batch_size
  if len(members) < needed:
    raise ValueError(
        f'class {normal_class} has {len(members)} training examples, fewer '
        f'than the {needed} of one epoch ({steps_per_epoch} steps of '
        f'{batch_size}); lower --config.batch_size.'
    )
  rng = np.random.default_rng([seed, normal_class])
  return np.stack(
      [
          rng.permutation(members)[:needed].reshape(steps_per_epoch, batch_size)
          for _ in range(epochs)
      ]
  )


class OneClassTrainer:
  """The model, optimiser and ONE jitted epoch function, shared by classes.

  ``train(normal_class)`` starts from a fresh initialisation (its key folds
  in the class) and runs ``epochs`` calls of one epoch each; the training
  set lives on the device and each call sends the epoch's int32 indices.
  `train_compiles` counts the traces of the epoch function: it stays 1
  whatever the number of classes.
  """

  def __init__(
      self,
      config: ml_collections.ConfigDict,
      dataset: data.Dataset,
      model,
      *,
      epochs: int,
      steps_per_epoch: int,
  ):
    self.config = config
    self.dataset = dataset
    self.model = model
    self.epochs = epochs
    self.steps_per_epoch = steps_per_epoch
    self.total_steps = epochs * steps_per_epoch
    self.train_compiles = 0
    tx = state_lib.make_optimizer(
        config, self.total_steps, param_groups=model.param_groups()
    )

    def create(key):
      keys = state_lib.run_keys(key)  # As a run of the trainer lays them out.
      return state_lib.create_train_state(
          model.init(keys.params),
          tx,
          keys.train,
          model.init_model_state(keys.model_state, config.batch_size),
      )

    self._create = jax.jit(create)
    steps = loop.fused_step(model, tx, config, device_data=True)

    def epoch(state, batches, train_data):
      self.train_compiles += 1  # Runs once per trace, i.e. per compilation.
      state, metrics = steps(state, batches, train_data)
      return state, {k: jnp.mean(v) for k, v in metrics.items()}

    self._epoch = jax.jit(epoch, donate_argnums=(0,))
    self._train_data = {
        'image': jnp.asarray(dataset.train_images),
        'label': jnp.asarray(dataset.train_labels),
    }

  def train(self, normal_class: int):
    """``(params, final-epoch mean loss)`` of a model of ``normal_class``."""
    index = class_indices(
        self.dataset.train_labels,
        normal_class,
        epochs=self.epochs,
        steps_per_epoch=self.steps_per_epoch,
        batch_size=self.config.batch_size,
        seed=self.config.seed,
    )
    key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), normal_class)
    state = self._create(key)
    log_every = max(1, self.epochs // 5)
    pending = []
    loss = float('nan')
    for e in range(self.epochs):
      state, metrics = self._epoch(
          state, {'index': jnp.asarray(index[e])}, self._train_data
      )
      pending.append(metrics['loss'])
      if (e + 1) % log_every == 0 or e + 1 == self.epochs:
        losses = np.asarray(jax.device_get(pending), np.float64)
        pending = []
        if not np.all(np.isfinite(losses)):
          raise train.NonFiniteLossError(
              f'class {normal_class}: the training loss became {losses} by '
              f'epoch {e + 1}; lower --config.learning_rate or set '
              '--config.grad_clip_norm.'
          )
        loss = float(losses[-1])
        logging.info(
            'class %d: epoch %d/%d, loss %.5g',
            normal_class,
            e + 1,
            self.epochs,
            loss,
        )
    return jax.block_until_ready(state.params), loss


# ---------------------------------------------------------------------------
# The protocol.
# ---------------------------------------------------------------------------


def _threshold_images(config, images: np.ndarray) -> np.ndarray:
  """Training images as the test images look: with dynamic binarisation the
  train split is grey and the test split binary, so binarise once."""
  if config.binarize != 'dynamic':
    return images
  rng = np.random.default_rng([config.seed, 2])
  return (rng.random(images.shape) < images).astype(np.float32)


def _compiled_variants(jitted) -> int:
  """How many shapes the jitted function has compiled for (1 is the goal)."""
  return jitted._cache_size()  # pylint: disable=protected-access


def setup(
    config: ml_collections.ConfigDict,
    classes: list[int] | None,
    epochs: int,
    kinds: tuple[str, ...] = (),
) -> tuple[data.Dataset, list[int], np.ndarray, 'OneClassTrainer']:
  """``(dataset, classes, counts, trainer)`` of the protocol: the data, the
  checked normal classes (default: all), the training examples per class and
  the one trainer of every class's model. ``config`` is already checked
  (`check_args`); a score of ``kinds`` that the model lacks is refused
  before the trainer is built."""
  dataset = train.trainer.load_dataset(config)
  if classes is None:
    classes = list(range(dataset.num_classes))
  for c in classes:
    if not 0 <= c < dataset.num_classes:
      raise ValueError(
          f'--classes: {c} is not a class of {dataset.name!r}, which has '
          f'classes 0..{dataset.num_classes - 1}.'
      )
  counts = np.bincount(dataset.train_labels, minlength=dataset.num_classes)
  smallest = int(min(counts[c] for c in classes))
  if config.batch_size > smallest:
    raise ValueError(
        f'config.batch_size={config.batch_size} exceeds the {smallest} '
        'training examples of the smallest selected class; lower '
        '--config.batch_size.'
    )
  # One model for every class: its training set is one class's images
  # (the smallest selected class's count for objectives that need it).
  model = models.build_model(
      config,
      dataset.input_shape,
      num_classes=dataset.num_classes,
      num_train=smallest,
  )
  available = anomaly.available_scores(model)
  missing = [k for k in kinds if k not in available]
  if missing:  # Before training.
    raise ValueError(
        f'--score: {", ".join(missing)} is not a score of config.model='
        f'{config.model!r}; it has {", ".join(available)}.'
    )
  trainer = OneClassTrainer(
      config,
      dataset,
      model,
      epochs=epochs,
      steps_per_epoch=smallest // config.batch_size,
  )
  return dataset, classes, counts, trainer


def run(
    config: ml_collections.ConfigDict,
    outdir: str | os.PathLike,
    *,
    classes: list[int] | None = None,
    epochs: int = DEFAULT_EPOCHS,
    score: str = 'mse',
    k: float = 3.0,
    baselines: bool = False,
) -> dict:
  """The one-class protocol over ``classes`` (default: all); writes
  ``one_class.json`` and ``one_class_auroc.png`` into ``outdir`` and returns
  the JSON dict. ``baselines`` adds the AUROC of every `BASELINES` detector
  per class (``auroc_<name>``; not their threshold metrics)."""
  start = time.perf_counter()
  config = ml_collections.ConfigDict(config.to_dict())
  kinds = score_kinds(score)
  config = check_args(config, epochs, k)  # Exactly its model's fields.
  # Results go there after all the training: refuse an unusable one first.
  workdir_lib.check_writable(outdir, ('one_class.json',), flag='--outdir')
  dataset, classes, counts, trainer = setup(config, classes, epochs, kinds)
  model = trainer.model
  smallest = int(min(counts[c] for c in classes))
  # One batch shape for every scoring call: no input is smaller than it.
  score_batch = min(anomaly.BATCH_SIZE, smallest, len(dataset.test_images))
  names = dataset.class_names
  rows = []
  for c in classes:
    t0 = time.perf_counter()
    params, loss = trainer.train(c)
    train_seconds = time.perf_counter() - t0
    row = {
        'class': c,
        'name': names[c] if c < len(names) else str(c),
        'train_examples': int(counts[c]),
        'final_train_loss': loss,
        'train_seconds': train_seconds,
    }
    is_anomaly = dataset.test_labels != c
    train_x = _threshold_images(
        config, dataset.train_images[dataset.train_labels == c]
    )
    for kind in kinds:
      detector = anomaly.AnomalyDetector(
          model, params, kind=kind, batch_size=score_batch
      ).fit(train_x, k)
      metrics = detector.evaluate(dataset.test_images, is_anomaly)
      for name in ('auroc', 'threshold', 'precision', 'recall', 'f1'):
        row[f'{name}_{kind}'] = metrics[name]
      row[f'flagged_{kind}'] = metrics['flagged_fraction']
    for name in BASELINES if baselines else ():
      row[f'auroc_{name}'] = anomaly.auroc(
          # Fitted on the images the model's threshold sees (binarised
          # like the test split under dynamic binarisation).
          baseline_scores(
              name, train_x, dataset.test_images, config.latent_dim
          ),
          is_anomaly,
      )
    row['seconds'] = time.perf_counter() - t0
    logging.info(
        'class %d (%s): %s',
        c,
        row['name'],
        ', '.join(f'AUROC {kd} {row[f"auroc_{kd}"]:.4f}' for kd in kinds),
    )
    rows.append(row)

  result = {
      'dataset': dataset.name,
      'model': config.model,
      'score_kinds': list(kinds),
      'baselines': list(BASELINES) if baselines else [],
      'k': k,
      'epochs': epochs,
      'steps_per_class': trainer.total_steps,
      'batch_size': config.batch_size,
      'rows': rows,
      'mean_auroc': {
          kind: float(np.mean([r[f'auroc_{kind}'] for r in rows]))
          for kind in kinds
      },
      'mean_auroc_baselines': {
          name: float(np.mean([r[f'auroc_{name}'] for r in rows]))
          for name in (BASELINES if baselines else ())
      },
      'mean_f1': {
          kind: float(np.mean([r[f'f1_{kind}'] for r in rows]))
          for kind in kinds
      },
      'train_compiles': trainer.train_compiles,
      'score_compiles': {
          kind: _compiled_variants(anomaly.score_fn(model, kind))
          for kind in kinds
      },
      'config': config.to_dict(),
  }
  result['total_seconds'] = time.perf_counter() - start
  outdir = epath.Path(outdir)
  outdir.mkdir(parents=True, exist_ok=True)
  workdir_lib.write_text(
      outdir / 'one_class.json', json.dumps(result, indent=2)
  )
  figures.save_bars(
      outdir / 'one_class_auroc.png',
      [f'{r["class"]}: {r["name"]}' for r in rows],
      {f'AUROC ({kind})': [r[f'auroc_{kind}'] for r in rows] for kind in kinds},
      ylabel='test AUROC (class = normal, others = anomalies)',
      title=(
          f'One-class anomaly detection, {config.model} on {dataset.name} '
          f'({epochs} epochs per class)'
      ),
      reference={
          f'mean ({kind}) {v:.3f}': v
          for kind, v in result['mean_auroc'].items()
      },
      ylim=(
          min(0.5, min(min(r[f'auroc_{kd}'] for kd in kinds) for r in rows)),
          1.0,
      ),
  )
  return result


def markdown(result: dict) -> str:
  """Per-class AUROC (%) and F1/precision/recall, and their means, as a
  Markdown table."""
  kinds = result['score_kinds']
  rows = result['rows']
  metrics = ('f1', 'precision', 'recall')

  def cells(r) -> dict:
    out = {}
    for kind in kinds:
      out[f'AUROC {kind}'] = f'{100 * r[f"auroc_{kind}"]:.1f}'
    for name in result.get('baselines', ()):
      out[f'AUROC {name}'] = f'{100 * r[f"auroc_{name}"]:.1f}'
    for kind in kinds:
      out.update(
          {
              f'{"F1" if m == "f1" else m} {kind}': f'{r[f"{m}_{kind}"]:.3f}'
              for m in metrics
          }
      )
    return out

  mean = {
      key: float(np.mean([r[key] for r in rows]))
      for key in rows[0]
      if key.split('_')[0] in ('auroc',) + metrics
  }
  table = [
      {
          'class': r['class'],
          'name': r['name'],
          **cells(r),
          'train s': f'{r["train_seconds"]:.1f}',
      }
      for r in rows
  ]
  table.append(
      {
          'class': 'mean',
          'name': f'({len(rows)} classes)',
          **cells(mean),
          'train s': f'{sum(r["train_seconds"] for r in rows):.1f}',
      }
  )
  return markdown_lib.table(table)
