"""Greedy layer-wise pretraining: weights land where they belong, and they help."""

import jax
import numpy as np
import pytest

import ae_jax
from ae_jax import models
from ae_jax import tasks
from ae_jax import train
from ae_jax.models import capabilities
from ae_jax.train import pretrain
from experiments.configs import common


def _config(**overrides):
  c = common.get_base_config()
  c.update(
      dict(
          progress_bar=False,
          write_figures=False,
          log_every_steps=50,
          checkpoint_every_steps=100_000,
          eval_every_steps=0,
          activation='sigmoid',
          learning_rate=1e-3,
          pretrain_learning_rate=3e-3,
      )
  )
  c.update(overrides)
  return c


def _layers(sizes):
  """Fake trained layers with recognisable values: (encoding, decoding)."""
  out = []
  for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
    enc = {
        'kernel': np.full((n_in, n_out), i + 1.0),
        'bias': np.full(n_out, -i),
    }
    dec = {
        'kernel': np.full((n_out, n_in), 10 + i),
        'bias': np.full(n_in, 20 + i),
    }
    out.append((enc, dec))
  return out


def test_unrolled_autoencoder_gets_encoders_bottom_up_and_decoders_mirrored():
  config = _config(model='ae', hidden_sizes=(6, 4), latent_dim=2)
  model = models.build_model(config, (8,))
  template = jax.device_get(model.init(jax.random.PRNGKey(0)))
  params = model.with_pretrained_layers(template, _layers([8, 6, 4, 2]))
  enc, dec = params['encoder'], params['decoder']
  assert (enc['hidden_0']['kernel'] == 1).all() and enc['hidden_0'][
      'kernel'
  ].shape == (8, 6)
  assert (enc['hidden_1']['kernel'] == 2).all()
  assert (enc['head']['kernel'] == 3).all() and (
      enc['head']['bias'] == -2
  ).all()
  # The decoder runs top-down: its first layer undoes the top encoder layer.
  assert (dec['hidden_0']['kernel'] == 12).all() and dec['hidden_0'][
      'kernel'
  ].shape == (2, 4)
  assert (dec['hidden_1']['kernel'] == 11).all()
  assert (dec['head']['kernel'] == 10).all() and (
      dec['head']['bias'] == 20
  ).all()


def test_classifier_gets_hidden_layers_and_keeps_a_random_head():
  config = _config(model='mlp_classifier', hidden_sizes=(6, 4))
  model = models.build_model(config, (8,), num_classes=3)
  template = jax.device_get(model.init(jax.random.PRNGKey(0)))
  params = model.with_pretrained_layers(template, _layers([8, 6, 4]))
  assert (params['hidden_0']['kernel'] == 1).all()
  assert (params['hidden_1']['kernel'] == 2).all()
  np.testing.assert_array_equal(
      params['head']['kernel'], template['head']['kernel']
  )


def test_pretraining_targets_are_the_models_with_the_capability():
  assert pretrain.targets() == ('ae', 'mlp_classifier')
  with pytest.raises(ValueError, match=r"not model='vae'.*pretrain=none"):
    train.check_config(_config(model='vae', pretrain='autoencoders'))


def test_rbm_layers_unroll_with_tied_transposed_weights():
  params = {
      'kernel': np.arange(6.0).reshape(3, 2),
      'visible_bias': np.ones(3),
      'hidden_bias': np.zeros(2),
  }
  enc, dec = pretrain.layer_weights('rbm', params)
  np.testing.assert_array_equal(enc['kernel'], params['kernel'])
  np.testing.assert_array_equal(dec['kernel'], params['kernel'].T)
  np.testing.assert_array_equal(dec['bias'], params['visible_bias'])


def test_layer_configs_chain_the_layers():
  config = _config(
      model='ae',
      hidden_sizes=(6, 4),
      latent_dim=2,
      pretrain='rbm',
      code_activation='linear',
  )
  model = models.build_model(config, (8,))
  assert isinstance(model, capabilities.LayerwisePretrainable)
  sizes = model.pretrain_layer_sizes()
  assert sizes == (6, 4, 2)
  layers = [
      pretrain.layer_config(config, sizes, i, model.pretrain_top_activation())
      for i in range(3)
  ]
  assert [c.latent_dim for c in layers] == [6, 4, 2]
  assert all(c.model == 'rbm' and c.hidden_sizes == () for c in layers)
  # Linear codes: the top RBM has Gaussian hidden units (Hinton & Salakhutdinov).
  assert [c.rbm_hidden for c in layers] == [
      'bernoulli',
      'bernoulli',
      'gaussian',
  ]


def test_stacked_autoencoder_pretraining_beats_random_initialisation(tmp_path):
  results = {}
  for kind in ('autoencoders', 'none'):
    config = _config(
        model='mlp_classifier',
        hidden_sizes=(64,),
        pretrain=kind,
        pretrain_steps=400,
        num_train_steps=100,
    )
    results[kind] = train.train_and_evaluate(config, tmp_path / kind)['test']
  # Measured after 100 fine-tuning steps: loss 1.54 vs 2.01, accuracy 0.84 vs 0.81.
  assert results['autoencoders']['loss'] < 0.85 * results['none']['loss']
  assert results['autoencoders']['accuracy'] >= results['none']['accuracy']
  layers = tmp_path / 'autoencoders' / 'pretrain'
  assert (layers / 'layer_0' / 'checkpoints').exists()
  # The first layer trained on the data itself, recorded as 'digits/layer_0':
  # its run loads that data (the same arrays by their sha256).
  assert tasks.load_data(ae_jax.load(layers / 'layer_0')).name == 'digits'


def test_rbm_pretrained_autoencoder_reconstructs_better_than_random_init(
    tmp_path,
):
  mse = {}
  for kind in ('rbm', 'none'):
    config = _config(
        model='ae',
        hidden_sizes=(64,),
        latent_dim=8,
        pretrain=kind,
        pretrain_steps=600,
        num_train_steps=100,
    )
    mse[kind] = train.train_and_evaluate(config, tmp_path / kind)['test']['mse']
  # Measured after 100 fine-tuning steps: 0.045 vs 0.074.
  assert mse['rbm'] < 0.8 * mse['none'], mse


@pytest.mark.parametrize(
    'overrides,match',
    [
        (dict(pretrain='dbn'), 'config.pretrain'),
        (dict(model='vae', pretrain='rbm'), 'pretrains the MLP layers'),
        (
            dict(model='ae', pretrain='rbm', activation='relu'),
            'activation=sigmoid',
        ),
        (
            dict(model='ae', pretrain='autoencoders', activation='gated'),
            "not the gated layers of config.activation='gated'",
        ),
        (dict(model='ae', pretrain='rbm', pretrain_steps=0), 'pretrain_steps'),
        (
            dict(
                model='ae', pretrain='autoencoders', pretrain_learning_rate=0.0
            ),
            'pretrain_learning_rate',
        ),
    ],
)
def test_invalid_pretraining_settings_are_rejected(overrides, match, tmp_path):
  with pytest.raises(ValueError, match=match):
    train.train_and_evaluate(_config(**overrides), tmp_path)
  assert not list(tmp_path.iterdir())  # Nothing was written.
