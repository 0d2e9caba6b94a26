"""The sharded step on 4 forced host devices equals the single-device step.

XLA_FLAGS must be set before JAX starts, so the comparison runs in a fresh
Python process.
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    assert jax.device_count() == 4, jax.devices()
    from ae_jax import data, models
    from ae_jax.train import sharding, state as state_lib, step as step_lib
    from experiments.configs import vae

    config = vae.get_config('smoke')
    config.binarize = 'dynamic'  # Exercise per-step randomness on sharded data.
    dataset = data.load_dataset('digits')
    model = models.build_model(config, dataset.input_shape)
    tx = state_lib.make_optimizer(config, 10)

    def run(num_devices):
      mesh = sharding.make_mesh(num_devices)
      state = state_lib.init_train_state(
          model, tx, keys=state_lib.run_keys(jax.random.PRNGKey(0)), mesh=mesh,
          batch_size=32)
      step = step_lib.jit_train_step(step_lib.make_train_step(
          model, tx, dynamic_binarization=True), mesh)
      batches = data.train_batches(dataset.train_images, dataset.train_labels,
                                   batch_size=32, seed=0)
      for _ in range(8):
        batch = sharding.put_batch(next(batches), mesh)
        assert len(batch['image'].sharding.device_set) == num_devices
        state, metrics = step(state, batch)
      return jax.device_get(state.params), jax.device_get(metrics)

    p1, m1 = run(1)
    p4, m4 = run(4)
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p4)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m1['loss'], m4['loss'], rtol=1e-5)

    # A batch that does not split across the devices is refused up front.
    try:
      sharding.check_batch_size(30, sharding.make_mesh(4), 'batch_size')
    except ValueError as e:
      assert 'batch_size=28' in str(e), e
    else:
      raise AssertionError('batch of 30 on 4 devices was accepted')
    print('SHARDED_OK')
""")


def test_sharded_step_equals_single_device_step():
  env = dict(
      os.environ,
      XLA_FLAGS='--xla_force_host_platform_device_count=4',
      JAX_PLATFORMS='cpu',
  )
  proc = subprocess.run(
      [sys.executable, '-c', SCRIPT],
      env=env,
      capture_output=True,
      text=True,
      timeout=600,
      cwd=os.path.dirname(os.path.dirname(__file__)),
  )
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert 'SHARDED_OK' in proc.stdout


FAMILIES_SCRIPT = textwrap.dedent("""
    import importlib
    import jax, numpy as np
    assert jax.device_count() == 4, jax.devices()
    from ae_jax import data, models
    from ae_jax.train import sharding, state as state_lib, step as step_lib

    ARGS = {'aae': 'smoke', 'factor_vae': 'smoke', 'rbm': 'smoke',
            'lstm_ae': 'smoke', 'conv_ae': 'smoke', 'denoising_ae': 'smoke',
            'beta_vae': 'smoke,capacity=5'}
    for name, arg in ARGS.items():
      config = importlib.import_module(
          f'experiments.configs.{name}').get_config(arg)
      dataset = data.load_dataset('digits', layout=config.layout)
      model = models.build_model(config, dataset.input_shape,
                                 num_classes=dataset.num_classes)
      tx = state_lib.make_optimizer(config, 10,
                                    param_groups=model.param_groups())

      def run(num_devices):
        mesh = sharding.make_mesh(num_devices)
        state = state_lib.init_train_state(
            model, tx, keys=state_lib.run_keys(jax.random.PRNGKey(0)), mesh=mesh, batch_size=32)
        step = step_lib.jit_train_step(
            step_lib.make_train_step(model, tx), mesh)
        batches = data.train_batches(dataset.train_images,
                                     dataset.train_labels,
                                     batch_size=32, seed=0)
        for _ in range(4):
          state, metrics = step(state, sharding.put_batch(next(batches), mesh))
        return jax.device_get(state.params), jax.device_get(metrics)

      p1, m1 = run(1)
      p4, m4 = run(4)
      for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p4)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5, err_msg=name)
      np.testing.assert_allclose(m1['loss'], m4['loss'], rtol=1e-4,
                                 err_msg=name)
      print('FAMILY_OK', name, flush=True)
""")


def test_every_family_shards_like_one_device():
  # One and several optimisers (aae, factor_vae), carried model state (rbm
  # chains, the capacity step), sequences, convolutions, labels, corruption.
  # Losses that only add a term to these (sparse, InfoVAE, ...) shard alike.
  env = dict(
      os.environ,
      XLA_FLAGS='--xla_force_host_platform_device_count=4',
      JAX_PLATFORMS='cpu',
  )
  proc = subprocess.run(
      [sys.executable, '-c', FAMILIES_SCRIPT],
      env=env,
      capture_output=True,
      text=True,
      timeout=900,
      cwd=os.path.dirname(os.path.dirname(__file__)),
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
  assert proc.stdout.count('FAMILY_OK') == 7, proc.stdout
