"""VQ-VAE: nearest-code lookup with straight-through gradients, its two
losses, codebook perplexity, and a discrete code that reconstructs."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ae_jax
from ae_jax import expost
from ae_jax import losses
from ae_jax import models
from ae_jax import tasks
from ae_jax import train
from experiments.configs import vq_vae as experiment_config
from tests import fitting


def test_vector_quantize_matches_a_brute_force_nearest_code():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(5, 3, 4)).astype(np.float32)
  codebook = rng.normal(size=(16, 4)).astype(np.float32)
  out = jax.jit(losses.vector_quantize)(z, codebook)
  distances = ((z[..., None, :] - codebook) ** 2).sum(-1)
  np.testing.assert_array_equal(out.indices, distances.argmin(-1))
  np.testing.assert_allclose(out.quantized, codebook[out.indices], atol=1e-6)
  np.testing.assert_allclose(out.codebook_loss, distances.min(-1), rtol=1e-5)
  np.testing.assert_allclose(out.commitment_loss, out.codebook_loss)
  # One vector at a time under vmap: the same.
  single = jax.vmap(losses.vector_quantize, in_axes=(0, None))(z, codebook)
  np.testing.assert_array_equal(single.indices, out.indices)


def test_gradients_go_straight_through_and_each_loss_to_its_side():
  rng = np.random.default_rng(1)
  z = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
  codebook = jnp.asarray(rng.normal(size=(8, 4)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
  straight = jax.grad(
      lambda v: jnp.sum(losses.vector_quantize(v, codebook).quantized * w)
  )(z)
  np.testing.assert_allclose(straight, w)  # The decoder's gradient, copied.
  for name, to_z in (('codebook_loss', False), ('commitment_loss', True)):
    g_z, g_codes = jax.grad(
        lambda v, c: jnp.sum(getattr(losses.vector_quantize(v, c), name)),
        argnums=(0, 1),
    )(z, codebook)
    assert bool(jnp.any(g_z != 0)) == to_z
    assert bool(jnp.any(g_codes != 0)) != to_z


def test_codebook_perplexity_counts_the_codes_in_use():
  uniform = jnp.arange(12) % 4
  perplexity, used = losses.codebook_perplexity(uniform, 8)
  assert float(perplexity) == pytest.approx(4.0) and float(used) == 0.5
  perplexity, used = losses.codebook_perplexity(jnp.zeros(10, jnp.int32), 8)
  assert float(perplexity) == pytest.approx(1.0) and float(used) == 1 / 8
  with pytest.raises(ValueError, match='codebook_size'):
    losses.codebook_perplexity(uniform, 0)
  # NumPy ints are static sizes too.
  assert float(losses.codebook_perplexity(uniform, np.int64(4))[1]) == 1.0


@pytest.mark.parametrize(
    'indices, error, match',
    [
        # -1 counted as code 3, and 5 and 7 silently dropped, before.
        ([-1, -1, 0, 1], ValueError, r'\[0, 4\).*values in \[-1, 1\]'),
        ([0, 0, 5, 7], ValueError, r'\[0, 4\).*values in \[0, 7\]'),
        (np.zeros(0, np.int32), ValueError, 'got none'),
        ([0.0, 1.0], TypeError, 'indices must be integer'),
    ],
)
def test_codebook_perplexity_refuses_what_is_not_a_code(indices, error, match):
  with pytest.raises(error, match=f'codebook_perplexity: .*{match}'):
    losses.codebook_perplexity(jnp.asarray(indices), 4)


def test_traced_indices_outside_the_codebook_are_left_out():
  perplexity, used = jax.jit(losses.codebook_perplexity, static_argnums=1)(
      jnp.array([-1, 0, 1, 9]), 4
  )
  assert float(perplexity) == pytest.approx(2.0) and float(used) == 0.5


def test_an_empty_codebook_is_refused():
  with pytest.raises(ValueError, match='K >= 1'):
    losses.vector_quantize(jnp.ones((2, 3)), jnp.ones((0, 3)))


ARCH = dict(hidden_sizes=(64,), latent_dim=8)


def test_the_code_is_discrete_uses_the_codebook_and_reconstructs():
  config = fitting.config(model='vq_vae', codebook_size=32, code_dim=2, **ARCH)
  model, params, _ = fitting.fit(config, steps=600)
  x = fitting.digits().test_images
  z = np.asarray(model.encode(params, x)).reshape(len(x), -1, 2)
  codebook = np.asarray(params['codebook'])
  idx = np.asarray(model.code_indices(params, x))
  assert idx.shape == (len(x), 4)
  np.testing.assert_array_equal(z, codebook[idx])  # Codebook rows, exactly.
  np.testing.assert_allclose(
      model.decode(params, z.reshape(len(x), -1) + 1e-3),
      model.reconstruct(params, x),
      atol=1e-6,
  )  # decode snaps to the codebook.
  m = jax.jit(lambda p: model.per_example_losses(p, x, None, train=False))(
      params
  )
  # 4 symbols of 5 bits: far better than the mean image (MSE 0.11).
  mse = float(jnp.mean(m['mse']))
  assert mse < 0.06, mse
  assert float(m['perplexity'][0]) > 8 and float(m['codes_used'][0]) > 0.5


def test_a_larger_commitment_weight_keeps_the_encoder_nearer_its_codes():
  x = fitting.digits().test_images

  def commitment(beta):
    config = fitting.config(
        model='vq_vae',
        codebook_size=32,
        code_dim=2,
        commitment_weight=beta,
        **ARCH,
    )
    model, params, _ = fitting.fit(config, steps=300)
    m = model.per_example_losses(params, x, None, train=False)
    return float(jnp.mean(m['loss_commitment']))

  assert commitment(2.0) < 0.5 * commitment(0.05)


@pytest.mark.parametrize(
    'overrides, match',
    [
        (dict(codebook_size=1), 'codebook_size=1 must be an integer >= 2'),
        (
            dict(code_dim=3),
            'code_dim=3 must be a positive integer that divides',
        ),
        (dict(commitment_weight=-1.0), 'commitment_weight=-1.0 must be >= 0'),
        (dict(codebook_update='kmeans'), "Unknown codebook_update 'kmeans'"),
        (dict(ema_decay=1.0), 'ema_decay=1.0 must lie in'),
        (dict(restart_threshold=-1.0), 'restart_threshold=-1.0 must be >= 0'),
    ],
)
def test_invalid_settings_are_refused(overrides, match):
  with pytest.raises(ValueError, match=match):
    models.build_model(
        fitting.config(model='vq_vae', latent_dim=8, **overrides), (64,)
    )


def test_the_ema_update_moves_each_used_code_to_the_mean_of_its_vectors():
  x = jnp.asarray(fitting.digits().test_images[:64])
  model = models.build_model(
      fitting.config(
          model='vq_vae',
          codebook_size=16,
          code_dim=2,
          codebook_update='ema',
          **ARCH,
      ),
      (64,),
  )
  params = model.init(jax.random.PRNGKey(0))
  state = model.init_model_state(jax.random.PRNGKey(1), 64)
  _, new_state = model.train_losses(params, state, x, jax.random.PRNGKey(2))
  updated = model.after_update(params, new_state)
  vectors = np.asarray(
      model.module.apply({'params': params}, x, method='encode')
  ).reshape(-1, 2)
  idx = np.asarray(model.code_indices(params, x)).reshape(-1)
  for k in range(16):
    if (idx == k).any():  # First step: the debiased average is the mean.
      np.testing.assert_allclose(
          updated['codebook'][k],
          vectors[idx == k].mean(0),
          rtol=1e-3,
          atol=1e-4,
      )
    else:
      np.testing.assert_array_equal(
          updated['codebook'][k], params['codebook'][k]
      )
  # The codebook takes no gradient: the loss has no codebook term.
  g = jax.grad(
      lambda p: model.train_losses(p, state, x, jax.random.PRNGKey(2))[0][
          'loss'
      ].mean()
  )(params)
  assert not bool(jnp.any(g['codebook'] != 0))


def test_restarts_bring_dead_codes_back_into_use():
  """Half the codebook moved far from every encoder output is dead: the
  gradient and the EMA never reach it, restarts bring it back."""
  x = jnp.asarray(fitting.digits().train_images[:512])

  def codes_in_use(**options):
    model = models.build_model(
        fitting.config(
            model='vq_vae', codebook_size=32, code_dim=2, **ARCH, **options
        ),
        (64,),
    )
    params = model.init(jax.random.PRNGKey(0))
    params['codebook'] = params['codebook'].at[16:].add(100.0)
    tx = optax.adam(1e-3)

    @jax.jit
    def step(carry, i):
      params, opt, state = carry
      batch = jax.lax.dynamic_slice_in_dim(x, (i % 4) * 128, 128)

      def loss(p):
        m, s = model.train_losses(p, state, batch, jax.random.PRNGKey(i))
        return m['loss'].mean(), s

      grads, state = jax.grad(loss, has_aux=True)(params)
      updates, opt = tx.update(grads, opt, params)
      params = model.after_update(optax.apply_updates(params, updates), state)
      return (params, opt, state), None

    carry = (
        params,
        tx.init(params),
        model.init_model_state(jax.random.PRNGKey(1), 128),
    )
    (params, _, _), _ = jax.lax.scan(step, carry, jnp.arange(300))
    return len(np.unique(np.asarray(model.code_indices(params, x))))

  # Measured at 300 steps: 16, 16, 31, 31 of 32 codes.
  assert codes_in_use() <= 16
  assert codes_in_use(codebook_update='ema') <= 16
  assert codes_in_use(restart_dead_codes=True) >= 28
  assert codes_in_use(codebook_update='ema', restart_dead_codes=True) >= 28


def test_the_learned_code_prior_samples_and_prices_the_symbols(
    tmp_path, monkeypatch
):
  monkeypatch.setattr(expost, 'CODE_PRIOR_STEPS', 100)
  config = experiment_config.get_config('smoke,ema,restarts')
  config.num_train_steps = 30
  config.write_figures = False
  summary = train.train_and_evaluate(config, tmp_path)
  assert summary['test']['perplexity'] >= 1
  trained = ae_jax.load(tmp_path)
  prior = trained.expost_density()
  assert isinstance(prior, expost.CodePrior) and prior.num_symbols == 2
  images = trained.sample(5, seed=2)
  assert images.shape == (5, 64)
  # Sampled codes are codebook rows.
  codes = trained.expost_codes(5, seed=2).reshape(5, 2, -1)
  rows = np.asarray(trained.params['codebook'])
  assert all(
      any(np.array_equal(c, r) for r in rows) for c in codes.reshape(-1, 4)
  )
  result = tasks.run('generate', trained, tasks.load_data(trained))
  assert result['sampler'] == 'code_prior'
  assert result['fixed_bits_per_image'] == 16.0  # 2 symbols of 256 codes.
  # The learned entropy model beats fixed-length codes.
  assert 0 < result['code_prior_bits_per_image'] < 16.0


def test_the_code_prior_learns_a_markov_chain_of_symbols():
  rng = np.random.default_rng(0)
  idx = np.zeros((5000, 6), np.int64)
  idx[:, 0] = rng.integers(0, 16, 5000)
  for t in range(1, 6):  # Each symbol is the last one or the next.
    idx[:, t] = (idx[:, t - 1] + rng.integers(0, 2, 5000)) % 16
  prior = expost.fit_code_prior(idx, 16, steps=300)
  entropy = np.log(16) + 5 * np.log(2)  # Of the chain, in nats.
  # Measured: 6.29 nats against 6.24.
  assert -prior.log_prob(idx[:1000]).mean() < entropy + 0.15
  draws = prior.sample(1000, seed=1)
  assert np.isin((draws[:, 1:] - draws[:, :-1]) % 16, [0, 1]).mean() > 0.98
  again = expost.CodePrior.from_arrays(prior.to_arrays())
  np.testing.assert_allclose(again.log_prob(idx[:10]), prior.log_prob(idx[:10]))
  with pytest.raises(ValueError, match=r'lie in \[0, 16\)'):
    expost.fit_code_prior(idx + 16, 16)
