"""Greedy layer-wise pretraining: stacked autoencoders and stacked RBMs.

Each hidden layer is first trained alone, on the codes of the layer below
(Hinton & Salakhutdinov 2006 with RBMs; Bengio et al. 2007 and Vincent et al.
2010 with autoencoders, optionally denoising or sparse); the trained layers
then initialise the whole network, which is fine-tuned by the normal training
loop. Targets:

Any model with `capabilities.LayerwisePretrainable` can be the target (the
model says which layers and where their weights go):

* ``model='ae'`` (MLP): layers ``hidden_sizes + (latent_dim,)``; encoder
  layer i takes layer i's encoding weights, the mirrored decoder layer takes
  its decoding weights (an RBM's are the transposed kernel and visible bias:
  the "unrolled" autoencoder of Hinton & Salakhutdinov);
* ``model='mlp_classifier'``: layers ``hidden_sizes``; the softmax head keeps
  its random initialisation.

Every layer is a full run of `trainer.train_and_evaluate` in
``<workdir>/pretrain/layer_<i>`` (its own checkpoints, metrics and, for the
first layer, figures), so an interrupted pretraining resumes layer by layer.
"""

from collections.abc import Callable
import copy

from etils import epath
import ml_collections
import numpy as np

from ae_jax import corruptions
from ae_jax import trained
from ae_jax.data import datasets
from ae_jax.data.pipeline import as_unit_float
from ae_jax.metrics import batching
from ae_jax.models import capabilities
from ae_jax.models import registry

PRETRAIN = ('none', 'autoencoders', 'rbm')


def targets() -> tuple[str, ...]:
  """The registered models that layer-wise pretraining can initialise."""
  return tuple(
      name
      for name, entry in registry.MODELS.items()
      if issubclass(entry.model_class, capabilities.LayerwisePretrainable)
  )


def check_config(config) -> None:
  """Raises ValueError naming the field and the fix."""
  if config.pretrain not in PRETRAIN:
    raise ValueError(
        f'config.pretrain={config.pretrain!r} is not one of {PRETRAIN}; set '
        '--config.pretrain to one of them.'
    )
  if config.pretrain == 'none':
    return
  if config.model not in targets() or config.encoder != 'mlp':
    raise ValueError(
        f'config.pretrain={config.pretrain!r} pretrains the MLP layers of '
        f'{targets()}, not model={config.model!r} with '
        f'encoder={config.encoder!r}; set --config.pretrain=none.'
    )
  if config.get('noise') in corruptions.IMAGE_CORRUPTIONS:
    raise ValueError(
        f'config.noise={config.noise!r} corrupts images, but pretraining '
        'trains each layer on flat codes; use a noise of '
        f'{tuple(corruptions.CORRUPTIONS)} or set --config.pretrain=none.'
    )
  if config.activation == 'gated':
    raise ValueError(
        f'config.pretrain={config.pretrain!r} trains plain layers one at a '
        "time, not the gated layers of config.activation='gated'; set "
        '--config.pretrain=none or another --config.activation.'
    )
  if config.pretrain == 'rbm' and config.activation != 'sigmoid':
    raise ValueError(
        "config.pretrain='rbm' unrolls RBMs into logistic hidden units; set "
        '--config.activation=sigmoid.'
    )
  if config.pretrain == 'rbm' and 'code_activation' in config:  # An AE.
    if config.code_activation not in ('linear', 'sigmoid'):
      raise ValueError(
          "config.pretrain='rbm' gives a linear (Gaussian top RBM) or sigmoid "
          'code layer; set --config.code_activation to linear or sigmoid.'
      )
  if not (isinstance(config.pretrain_steps, int) and config.pretrain_steps > 0):
    raise ValueError(
        f'config.pretrain_steps={config.pretrain_steps!r} must be a positive '
        'integer (optimiser steps per layer).'
    )
  if not config.pretrain_learning_rate > 0:
    raise ValueError(
        f'config.pretrain_learning_rate={config.pretrain_learning_rate} must '
        'be > 0.'
    )


def layer_config(
    config, sizes: tuple[int, ...], index: int, top_activation: str | None
) -> ml_collections.ConfigDict:
  """The config of the single-layer model that pretrains layer ``index``.

  ``sizes`` and ``top_activation`` are the target model's
  (`capabilities.LayerwisePretrainable`).
  """
  top = index == len(sizes) - 1
  c = ml_collections.ConfigDict(copy.deepcopy(config.to_dict()))
  c.hidden_sizes = ()
  c.latent_dim = sizes[index]
  c.pretrain = 'none'
  c.num_train_steps = config.pretrain_steps
  c.num_epochs = -1
  c.learning_rate = config.pretrain_learning_rate
  c.lr_schedule = 'constant'
  c.warmup_steps = 0
  c.layout = 'flat'
  c.dropout_rate = 0.0
  c.binarize = 'none' if index else config.binarize
  c.eval_every_steps = 0
  c.checkpoint_every_steps = config.pretrain_steps
  c.log_every_steps = min(config.log_every_steps, config.pretrain_steps)
  c.write_figures = config.write_figures and index == 0
  # Layers above the first see codes in [0, 1] when hidden units are logistic.
  if index:
    c.likelihood = 'bernoulli' if config.activation == 'sigmoid' else 'gaussian'
  code = top_activation if top else None
  if config.pretrain == 'autoencoders':
    c.model = 'ae'
    c.code_activation = code or _code_activation(config.activation)
  else:
    c.model = 'rbm'
    c.rbm_visible = c.likelihood
    c.rbm_hidden = 'gaussian' if code == 'linear' else 'bernoulli'
    for field in registry.hparam_defaults(config.model):
      if field in c:  # The target's own fields are not the RBM's.
        del c[field]
  return c


def _code_activation(activation: str) -> str:
  if activation not in ('sigmoid', 'relu', 'tanh'):
    raise ValueError(
        f"config.pretrain='autoencoders' needs --config.activation of "
        f'sigmoid, relu or tanh for its layer codes, not {activation!r}.'
    )
  return activation


def layer_weights(model_name: str, params) -> tuple[dict, dict]:
  """(encoding, decoding) ``{'kernel', 'bias'}`` of a trained layer."""
  if model_name == 'rbm':
    return (
        {'kernel': params['kernel'], 'bias': params['hidden_bias']},
        {'kernel': params['kernel'].T, 'bias': params['visible_bias']},
    )
  return params['encoder']['head'], params['decoder']['head']


def pretrain(
    config,
    model: capabilities.LayerwisePretrainable,
    dataset: datasets.Dataset,
    workdir: epath.Path,
    template,
    *,
    train_fn: Callable[..., dict],
):
  """Trains the layers one by one; returns ``template`` with their weights.

  Args:
    config: the target run's config (``config.pretrain != 'none'``).
    model: the target model.
    dataset: the target run's data (any layout; flattened here).
    workdir: where ``layer_<i>/`` work directories go.
    template: the target model's freshly initialised params (shapes).
    train_fn: `trainer.train_and_evaluate` (passed in to avoid an import cycle).
  """
  train_x = dataset.train_images.reshape(len(dataset.train_images), -1)
  test_x = dataset.test_images.reshape(len(dataset.test_images), -1)
  layers = []
  sizes = model.pretrain_layer_sizes()
  for i in range(len(sizes)):
    c = layer_config(config, sizes, i, model.pretrain_top_activation())
    layer_dir = epath.Path(workdir) / f'layer_{i}'
    layer_data = datasets.Dataset(
        name=f'{dataset.name}/layer_{i}',
        train_images=train_x,
        train_labels=dataset.train_labels,
        test_images=test_x,
        test_labels=dataset.test_labels,
        num_classes=dataset.num_classes,
        class_names=dataset.class_names,
    )
    train_fn(c, layer_dir, dataset=layer_data)
    layer = trained.load(layer_dir)
    layers.append(layer_weights(c.model, layer.params))
    train_x, test_x = _encode(layer, train_x), _encode(layer, test_x)
  return model.with_pretrained_layers(template, layers)


def _encode(layer: 'trained.TrainedModel', x: np.ndarray) -> np.ndarray:
  # The first layer's inputs may be a uint8 train split: [0, 1] per batch.
  return batching.apply_in_batches(
      lambda b: layer.encode(as_unit_float(b)),
      x,
      batch_size=layer.config.eval_batch_size,
  ).astype(np.float32)
