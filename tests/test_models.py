"""Models: shapes, objectives against the loss library, registry errors."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ae_jax import configs
from ae_jax import losses
from ae_jax import models
from ae_jax.models import base
from ae_jax.models import factor_vae
from ae_jax.models import networks as networks_lib
from ae_jax.models import vae
from experiments.configs import common


def _config(**overrides):
  c = common.get_base_config()
  c.hidden_sizes = (16,)
  c.conv_features = (4, 8)
  c.latent_dim = 3
  c.update(overrides)
  return c


SHAPES = [
    ('mlp', (64,)),
    ('mlp', (28, 28, 1)),
    ('conv', (8, 8, 1)),
    ('conv', (28, 28, 1)),
]


@pytest.mark.parametrize('name', ['ae', 'vae'])
@pytest.mark.parametrize('encoder,shape', SHAPES)
def test_shapes(name, encoder, shape):
  model = models.build_model(_config(model=name, encoder=encoder), shape)
  params = model.init(jax.random.PRNGKey(0))
  x = jax.random.uniform(jax.random.PRNGKey(1), (5, *shape))
  chex.assert_shape(model.encode(params, x), (5, 3))
  chex.assert_shape(model.decode(params, jnp.zeros((5, 3))), (5, *shape))
  recon = model.reconstruct(params, x)
  assert float(recon.min()) >= 0 and float(recon.max()) <= 1  # Bernoulli means.
  metrics = model.per_example_losses(
      params, x, jax.random.PRNGKey(2), train=True
  )
  for k, v in metrics.items():
    chex.assert_shape(v, (5,), custom_message=k)
  chex.assert_tree_all_finite(metrics)


def test_vae_loss_is_negative_elbo_from_the_loss_library():
  model = models.build_model(_config(model='vae', beta=2.0), (64,))
  params = model.init(jax.random.PRNGKey(0))
  x = jax.random.uniform(jax.random.PRNGKey(1), (4, 64))
  rng = jax.random.PRNGKey(3)
  m = model.per_example_losses(params, x, rng, train=True)
  mean, log_var = model.encode_distribution(params, x)
  z = models.reparameterize(rng, mean, log_var)
  logits = model.module.apply({'params': params}, z, method='decode')
  ll = losses.bernoulli_log_likelihood(logits, x)
  kl = losses.standard_normal_kl(mean, log_var)
  np.testing.assert_allclose(m['loss'], kl * 2.0 - ll, rtol=1e-5)
  np.testing.assert_allclose(m['neg_elbo'], kl - ll, rtol=1e-5)
  np.testing.assert_allclose(m['loss_kl'], kl, rtol=1e-5)


def test_reparameterize_is_differentiable_and_has_the_right_moments():
  mean, log_var = jnp.array([1.0, -2.0]), jnp.log(jnp.array([0.25, 4.0]))
  z = jax.vmap(lambda k: models.reparameterize(k, mean, log_var))(
      jax.random.split(jax.random.PRNGKey(0), 100_000)
  )
  np.testing.assert_allclose(z.mean(0), mean, atol=0.02)
  np.testing.assert_allclose(z.var(0), jnp.exp(log_var), rtol=0.03)
  g = jax.grad(
      lambda m: models.reparameterize(jax.random.PRNGKey(1), m, log_var).sum()
  )(mean)
  np.testing.assert_allclose(g, 1.0)


def test_gaussian_vae_learns_its_output_variance():
  model = models.build_model(_config(model='vae', likelihood='gaussian'), (64,))
  params = model.init(jax.random.PRNGKey(0))
  assert 'output_log_variance' in params
  x = jax.random.uniform(jax.random.PRNGKey(1), (4, 64))
  g = jax.grad(
      lambda p: model.per_example_losses(
          p, x, jax.random.PRNGKey(2), train=True
      )['loss'].mean()
  )(params)
  assert float(jnp.abs(g['output_log_variance'])) > 0


def test_ae_gaussian_likelihood_is_squared_error():
  model = models.build_model(_config(model='ae', likelihood='gaussian'), (64,))
  params = model.init(jax.random.PRNGKey(0))
  x = jax.random.uniform(jax.random.PRNGKey(1), (4, 64))
  m = model.per_example_losses(params, x, None, train=False)
  np.testing.assert_allclose(
      m['loss'], jnp.sum((model.reconstruct(params, x) - x) ** 2, -1), rtol=1e-5
  )


def test_sample_only_for_generative_models():
  ae = models.build_model(_config(model='ae'), (64,))
  with pytest.raises(NotImplementedError, match='vae'):
    ae.sample(ae.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(0), 2)
  vae = models.build_model(_config(model='vae'), (64,))
  s = vae.sample(vae.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(0), 7)
  chex.assert_shape(s, (7, 64))


@pytest.mark.parametrize(
    'overrides,match',
    [
        (dict(model='pca'), "Unknown model 'pca'.*'ae'"),
        (dict(encoder='resnet'), 'Unknown encoder'),
        (dict(latent_dim=0), 'latent_dim'),
        (dict(hidden_sizes=(16, -1)), 'hidden_sizes'),
        (dict(likelihood='poisson'), "likelihood='poisson'"),
        (dict(init='orthogonal'), "Unknown init 'orthogonal'"),
        (dict(conv_impl='cudnn'), "Unknown conv_impl 'cudnn'.*'matmul'"),
        (dict(model='vae', beta=-1.0), 'beta=-1.0 must be >= 0'),
        (
            dict(activation='gated', encoder='conv', layout='hwc'),
            "gated.*dense hidden layers only.*encoder='conv'",
        ),
    ],
)
def test_invalid_model_config_is_rejected(overrides, match):
  with pytest.raises(ValueError, match=match):
    models.build_model(_config(**overrides), (64,))


def test_gated_layers_compute_a_linear_map_times_a_sigmoid_gate():
  vae_model = models.build_model(
      _config(model='vae', activation='gated', hidden_sizes=(5,)), (64,)
  )
  params = vae_model.init(jax.random.PRNGKey(0))
  enc = params['encoder']
  assert set(enc) == {'hidden_0', 'hidden_0_gate', 'head'}
  x = jax.random.uniform(jax.random.PRNGKey(1), (3, 64))
  dense = lambda p, v: v @ p['kernel'] + p['bias']
  h = dense(enc['hidden_0'], x) * jax.nn.sigmoid(dense(enc['hidden_0_gate'], x))
  expected = dense(enc['head'], h)
  got = networks_lib.MLPEncoder((5,), expected.shape[-1], activation='gated')
  np.testing.assert_allclose(
      got.apply({'params': enc}, x), expected, rtol=1e-5, atol=1e-6
  )
  # The decoder mirrors it, gates included.
  assert set(params['decoder']) == {'hidden_0', 'hidden_0_gate', 'head'}
  # The VAE-GAN's image discriminator gates its dense layers too.
  gan = models.build_model(
      _config(model='vae_gan', activation='gated', discriminator_sizes=(6,)),
      (64,),
  )
  disc = gan.init(jax.random.PRNGKey(0))['discriminator']
  assert set(disc) == {'hidden_0', 'hidden_0_gate', 'logit'}


def test_conv_encoder_needs_images():
  with pytest.raises(ValueError, match='layout=hwc'):
    models.build_model(_config(encoder='conv'), (784,))


@pytest.mark.parametrize('encoder,shape', [('mlp', (64,)), ('conv', (8, 8, 1))])
def test_uniform_fan_in_init_bounds_weights_and_biases(encoder, shape):
  model = models.build_model(
      _config(encoder=encoder, init='uniform_fan_in'), shape
  )
  params = model.init(jax.random.PRNGKey(0))
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    if leaf.ndim == 0:
      continue
    fan_in = int(np.prod(leaf.shape[:-1])) if leaf.ndim > 1 else None
    if fan_in is not None:  # A kernel: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
      assert float(jnp.abs(leaf).max()) <= 1 / np.sqrt(fan_in) + 1e-7, path
      assert float(jnp.abs(leaf).max()) > 0.8 / np.sqrt(fan_in), path
    else:  # Biases are random too, unlike Flax's zero default.
      assert float(jnp.abs(leaf).max()) > 0, path
  lecun = models.build_model(
      _config(encoder=encoder, init='lecun_normal'), shape
  )
  biases = [
      l
      for l in jax.tree.leaves(lecun.init(jax.random.PRNGKey(0)))
      if l.ndim == 1
  ]
  assert all(float(jnp.abs(b).max()) == 0 for b in biases)


def test_classifier_needs_labels_and_reports_accuracy():
  config = _config(model='mlp_classifier', hidden_sizes=(16, 8))
  model = models.build_model(config, (64,), num_classes=4)
  params = model.init(jax.random.PRNGKey(0))
  x = jax.random.uniform(jax.random.PRNGKey(1), (6, 64))
  labels = jnp.array([0, 1, 2, 3, 0, 1])
  with pytest.raises(ValueError, match='labels'):
    model.per_example_losses(params, x, None, train=False)
  m = model.per_example_losses(params, x, None, train=False, labels=labels)
  logits = model.logits(params, x)
  np.testing.assert_allclose(
      m['loss'], -jax.nn.log_softmax(logits)[jnp.arange(6), labels], rtol=1e-5
  )
  np.testing.assert_array_equal(
      m['accuracy'], (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
  )
  chex.assert_shape(model.encode(params, x), (6, 8))
  assert not model.reconstructs
  with pytest.raises(ValueError, match='>= 2 classes'):
    models.build_model(config, (64,), num_classes=None)


@pytest.mark.parametrize(
    'model, field, value, owner',
    [
        ('ae', 'cd_steps', 3, 'rbm'),
        ('rbm', 'sparsity', 'l1', 'ae'),
        ('ae', 'beta', 4.0, 'vae'),  # Passed silently before issue 15.
        ('ae', 'lstm_hidden', 64, 'lstm_ae'),
        ('vae', 'discriminator_sizes', (8,), 'aae'),
        ('vae', 'iwae_samples', 5, 'iwae'),
    ],
)
def test_another_models_field_is_refused_naming_its_owner(
    model, field, value, owner
):
  with pytest.raises(
      ValueError,
      match=rf"config.{field}=.* not a field of model '{model}'.*{owner}",
  ):
    models.build_model(_config(model=model, **{field: value}), (64,))


def test_each_models_config_holds_exactly_its_declared_fields():
  general = set(configs.general_config())
  for name, entry in models.MODELS.items():
    declared = {f.name for f in dataclasses.fields(entry.config)}
    assert set(configs.default_config(name)) - general == declared, name
  # Another model's field left at its default is dropped, not refused: a
  # config built from the default (vae) one with only `model` changed works.
  c = configs.normalize(_config(model='ae'))
  assert 'beta' not in c and c.noise == 'none'


def test_hyperparameter_defaults_are_declared_once():
  # Two had drifted apart before issue 15: the models' own dataclass
  # defaults (capacity_steps=1, FactorVAE's discriminator lr 1e-4) differed
  # from the config's (10000, 1e-3). Now a model built from defaults carries
  # exactly the declared values.
  vae_model = models.build_model(configs.default_config('vae'), (64,))
  assert vae_model.capacity_steps == vae.Config().capacity_steps == 10000
  fvae = models.build_model(configs.default_config('factor_vae'), (64,))
  assert (
      fvae.discriminator_learning_rate
      == factor_vae.Config().discriminator_learning_rate
      == 1e-3
  )


def test_build_receives_one_description_of_the_data():
  seen = []

  def build(config, data):
    seen.append(data)
    return vae.build(config, data)

  entry = models.MODELS['vae']
  try:
    models.MODELS['vae'] = dataclasses.replace(entry, build=build)
    models.build_model(_config(), (64,), num_classes=10, num_train=1797)
  finally:
    models.MODELS['vae'] = entry
  assert seen == [base.DataSpec((64,), num_classes=10, num_train=1797)]


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
def test_conv_networks_are_the_same_model_under_every_conv_impl(dtype):
  """'matmul' (the CPU default) and 'flax' share parameters (checkpoints
  move between platforms) and compute the same outputs and gradients: equal
  to float tolerance in float32; in bfloat16, within 3% (by norm, per
  parameter) of the float32 values. Measured: 'matmul' at most 1.0%; flax's
  own bfloat16 convolutions are off by up to 6% on the encoder."""
  from ae_jax.models import networks  # pylint: disable=g-import-not-at-top

  # 10 x 10: odd sizes on the way down (5 -> 3), a crop on the way up.
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(3, 10, 10, 1)))
  z = jnp.asarray(np.random.default_rng(1).normal(size=(3, 5)))
  pairs = [
      (
          lambda impl, dt: networks.ConvEncoder(
              (4, 8), 6, dtype=dt, conv_impl=impl
          ),
          x,
      ),
      (
          lambda impl, dt: networks.ConvDecoder(
              (4, 8), (10, 10, 1), dtype=dt, conv_impl=impl
          ),
          z,
      ),
  ]
  for make, inputs in pairs:
    params = make('flax', dtype).init(jax.random.PRNGKey(0), inputs)
    chex.assert_trees_all_equal(
        params, make('matmul', dtype).init(jax.random.PRNGKey(0), inputs)
    )

    def value_and_grad(impl, dt, make=make, inputs=inputs, params=params):
      net = make(impl, dt)
      return jax.jit(
          jax.value_and_grad(lambda p: jnp.sum(jnp.sin(net.apply(p, inputs))))
      )(params)

    want = value_and_grad('flax', jnp.float32)
    got = value_and_grad('matmul', dtype)
    if dtype == jnp.float32:
      chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-5)
      continue
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      assert np.linalg.norm(g - w) <= 0.03 * np.linalg.norm(w), (g, w)
  on_cpu = jax.default_backend() == 'cpu'
  assert networks.conv_classes('auto')[0].__module__.endswith(
      'conv_ops' if on_cpu else 'linear'
  )
  with pytest.raises(ValueError, match="conv_impl='cudnn' is not one of"):
    networks.conv_classes('cudnn')
