"""Greedy layer-wise pretraining: stacked autoencoders and stacked RBMs.

Each hidden layer is first trained alone, on the codes of the layer below
(Hinton & Salakhutdinov 2006 with RBMs; Bengio et al. 2007 and Vincent et al.
2010 with autoencoders, optionally denoising or sparse); the trained layers
then initialise the whole network, which is fine-tuned by the normal training
loop. Targets:

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
import jax
import ml_collections
import numpy as np

from ae_jax import trained
from ae_jax.data import datasets
from ae_jax.metrics import batching
from ae_jax.models import registry

PRETRAIN = ('none', 'autoencoders', 'rbm')
TARGETS = ('ae', 'mlp_classifier')


def check_config(config) -> None:
  """Raises ValueError naming the field and the fix."""
  if config.pretrain not in PRETRAIN:
    raise ValueError(
        f'config.pretrain={config.pretrain!r} is not one of {PRETRAIN}; set '
        '--config.pretrain to one of them.'
    )
  if config.pretrain == 'none':
    return
  if config.model not in TARGETS or config.encoder != 'mlp':
    raise ValueError(
        f'config.pretrain={config.pretrain!r} pretrains the MLP layers of '
        f'{TARGETS}, not model={config.model!r} with '
        f'encoder={config.encoder!r}; set --config.pretrain=none.'
    )
  if config.pretrain == 'rbm' and config.activation != 'sigmoid':
    raise ValueError(
        "config.pretrain='rbm' unrolls RBMs into logistic hidden units; set "
        '--config.activation=sigmoid.'
    )
  if config.pretrain == 'rbm' and config.model == 'ae':
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


def layer_sizes(config) -> tuple[int, ...]:
  """Widths of the layers that are pretrained, bottom first."""
  sizes = tuple(config.hidden_sizes)
  return sizes + (config.latent_dim,) if config.model == 'ae' else sizes


def layer_config(config, index: int) -> ml_collections.ConfigDict:
  """The config of the single-layer model that pretrains layer ``index``."""
  sizes = layer_sizes(config)
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
  code = config.code_activation if config.model == 'ae' and top else None
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


def assemble(config, template, layers: list[tuple[dict, dict]]):
  """``template`` (the target's fresh params) with pretrained layers in place."""
  params = jax.tree.map(np.array, template)  # New containers, host copies.

  def put(tree, name, weights):
    for key in ('kernel', 'bias'):
      want = tree[name][key].shape
      got = np.asarray(weights[key])
      if got.shape != want:
        raise ValueError(
            f'Pretrained {name}/{key} has shape {got.shape}, expected {want}.'
        )
      tree[name][key] = got.astype(tree[name][key].dtype)

  n = len(layers)
  if config.model == 'mlp_classifier':
    for i, (enc, _) in enumerate(layers):
      put(params, f'hidden_{i}', enc)
    return params
  enc_names = [f'hidden_{i}' for i in range(n - 1)] + ['head']
  dec_names = [f'hidden_{j}' for j in range(n - 1)] + ['head']
  for i, (enc, dec) in enumerate(layers):
    put(params['encoder'], enc_names[i], enc)
    put(params['decoder'], dec_names[n - 1 - i], dec)
  return params


def pretrain(
    config,
    dataset: datasets.Dataset,
    workdir: epath.Path,
    template,
    *,
    train_fn: Callable[..., dict],
):
  """Trains the layers one by one; returns ``template`` with their weights.

  Args:
    config: the target run's config (``config.pretrain != 'none'``).
    dataset: the target run's data (any layout; flattened here).
    workdir: where ``layer_<i>/`` work directories go.
    template: the target model's freshly initialised params (shapes).
    train_fn: `trainer.train_and_evaluate` (passed in to avoid an import cycle).
  """
  train_x = dataset.train_images.reshape(len(dataset.train_images), -1)
  test_x = dataset.test_images.reshape(len(dataset.test_images), -1)
  layers = []
  for i in range(len(layer_sizes(config))):
    c = layer_config(config, i)
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
  return assemble(config, template, layers)


def _encode(layer: 'trained.TrainedModel', x: np.ndarray) -> np.ndarray:
  return batching.apply_in_batches(
      layer.encode, x, batch_size=layer.config.eval_batch_size
  ).astype(np.float32)
