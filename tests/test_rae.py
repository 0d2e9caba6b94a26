"""RAE: the loss is cost + beta ||z||^2/2 + lambda L_REG, the regulariser
smooths the decoder, and samples come from an ex-post density."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ae_jax
from ae_jax import models
from ae_jax import penalties
from ae_jax import train
from experiments.configs import rae as experiment_config
from tests import fitting

ARCH = dict(hidden_sizes=(64,), latent_dim=4)


def test_loss_is_the_cost_plus_the_code_norm_and_both_regularisers():
  x = fitting.digits().test_images[:8]
  model = models.build_model(
      fitting.config(
          model='rae',
          embedding_weight=0.3,
          decoder_l2_weight=0.01,
          gradient_penalty_weight=0.2,
          **ARCH,
      ),
      x.shape[1:],
  )
  params = model.init(jax.random.PRNGKey(0))
  got = jax.jit(lambda p: model.per_example_losses(p, x, None, train=True))(
      params
  )
  z = model.encode(params, x)
  outputs = model.module.apply({'params': params}, z, method='decode')
  cost = -jnp.sum(
      x * jax.nn.log_sigmoid(outputs) + (1 - x) * jax.nn.log_sigmoid(-outputs),
      -1,
  )
  l2 = sum(jnp.sum(p**2) for p in jax.tree.leaves(params['decoder']))
  # The decoder's Jacobian at each code, by brute force.
  one = lambda zi: model.module.apply(
      {'params': params}, zi[None], method='decode'
  )[0]
  gp = jnp.stack([jnp.sum(jax.jacfwd(one)(zi) ** 2) for zi in z])
  want = cost + 0.3 * 0.5 * jnp.sum(z**2, -1) + 0.01 * l2 + 0.2 * gp
  np.testing.assert_allclose(got['loss'], want, rtol=1e-5)
  np.testing.assert_allclose(got['loss_gradient_penalty'], gp, rtol=1e-5)
  # Differentiable through the penalty (reverse over forward mode).
  grads = jax.grad(
      lambda p: model.per_example_losses(p, x, None, train=True)['loss'].sum()
  )(params)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize('gp', [0.2, 0.0])
def test_gradient_penalty_runs_through_conv_decoders_on_every_conv_impl(gp):
  """The penalty's forward mode runs through the matrix-product transposed
  convolutions (JAX's own gradient there instead of the custom VJP, which
  has no forward mode): loss and gradients equal flax's layers'."""
  x = fitting.digits().test_images[:4].reshape(4, 8, 8, 1)
  results = []
  for impl in ('matmul', 'flax'):
    model = models.build_model(
        fitting.config(
            model='rae',
            encoder='conv',
            conv_features=(4, 8),
            latent_dim=3,
            gradient_penalty_weight=gp,
            decoder_l2_weight=0.0,
            conv_impl=impl,
        ),
        x.shape[1:],
    )
    params = model.init(jax.random.PRNGKey(0))
    loss = lambda p, m=model: m.per_example_losses(p, x, None, train=True)[
        'loss'
    ].sum()
    results.append(jax.jit(jax.value_and_grad(loss))(params))
  chex.assert_trees_all_close(*results, rtol=1e-4, atol=1e-5)
  if gp:
    assert float(results[0][0]) > 0


def _decoder_stats(model, params, x):
  z = model.encode(params, x)
  decode = lambda c: model.module.apply({'params': params}, c, method='decode')
  jac = float(jnp.mean(penalties.jacobian_frobenius_norm(decode, z)))
  norm = float(sum(jnp.sum(p**2) for p in jax.tree.leaves(params['decoder'])))
  mse = float(jnp.mean((model.reconstruct(params, x) - x) ** 2))
  return jac, norm, mse


def test_the_regularisers_smooth_the_decoder_that_a_plain_ae_leaves_rough():
  x = fitting.digits().test_images
  plain = _decoder_stats(*fitting.fit(fitting.config(**ARCH), steps=400)[:2], x)
  gp = _decoder_stats(
      *fitting.fit(
          fitting.config(
              model='rae',
              decoder_l2_weight=0.0,
              gradient_penalty_weight=0.05,
              **ARCH,
          ),
          steps=400,
      )[:2],
      x,
  )
  l2 = _decoder_stats(
      *fitting.fit(
          fitting.config(model='rae', decoder_l2_weight=0.05, **ARCH),
          steps=400,
      )[:2],
      x,
  )
  # Measured (Jacobian norm^2, weight norm^2, MSE): plain AE (51.2, 95.5,
  # 0.0377), RAE-GP (8.8, 63.7, 0.0401), RAE-L2 (12.1, 25.0, 0.0414).
  assert gp[0] < 0.5 * plain[0], (gp, plain)  # Decoder Jacobian norm.
  assert l2[1] < 0.5 * plain[1], (l2, plain)  # Decoder weight norm.
  # Still autoencoders: reconstructions within 2x of the plain AE's.
  assert gp[2] < 2 * plain[2] and l2[2] < 2 * plain[2], (gp, l2, plain)


@pytest.mark.parametrize(
    'field',
    ['embedding_weight', 'decoder_l2_weight', 'gradient_penalty_weight'],
)
def test_negative_weights_are_refused(field):
  with pytest.raises(ValueError, match=f'config.{field}=-1.0 must be >= 0'):
    models.build_model(fitting.config(model='rae', **{field: -1.0}), (64,))


def test_unknown_regulariser_is_refused():
  with pytest.raises(ValueError, match="reg='sn'.*'gp'"):
    experiment_config.get_config('reg=sn')


def test_experiment_config_trains_and_samples_through_the_expost_density(
    tmp_path,
):
  config = experiment_config.get_config('smoke,reg=gp')
  assert config.gradient_penalty_weight > 0 == config.decoder_l2_weight
  config.num_train_steps = 10
  config.write_figures = False
  summary = train.train_and_evaluate(config, tmp_path)
  assert summary['step'] == 10
  assert np.isfinite(summary['test']['loss_gradient_penalty'])
  trained = ae_jax.load(tmp_path)
  assert trained.sample(3).shape == (3, 64)
