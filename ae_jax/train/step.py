"""The pure training and evaluation steps, and their jitted, sharded forms.

``train_step(state, batch) -> (state, metrics)`` is written for one global
batch; `jit_train_step` compiles it over a mesh with the batch split along the
'data' axis and the state replicated, so XLA inserts the gradient all-reduce
and the same function runs on 1 CPU or N devices. The state argument is
donated: its buffers are reused for the new state.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ae_jax.models import base
from ae_jax.train import sharding
from ae_jax.train.state import TrainState

Batch = dict[str, jax.Array]


def make_train_step(
    model: base.Model,
    tx: optax.GradientTransformation,
    *,
    dynamic_binarization: bool = False,
    skip_nonfinite: bool = False,
    grad_norm: bool = True,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict]]:
  """One optimiser step on ``batch['image']``; metrics are batch means.

  With ``grad_norm`` the metrics include the global gradient norm. It costs
  about a tenth of an MLP VAE step on 2 CPU cores (one more pass over every
  gradient, which XLA:CPU does not fuse into Adam's; `benchmarks.throughput`,
  BUILD.md), so the trainer computes it only in the calls whose metrics it
  logs, except where `trainer.grad_norm_every_step` says otherwise (skip
  mode, conv models).

  With ``dynamic_binarization`` the grey levels are resampled as binary pixels
  every step (Salakhutdinov & Murray 2008), from the step's own key.

  With ``skip_nonfinite`` (for a ``tx`` wrapped in `optax.apply_if_finite`,
  which leaves the parameters and optimiser state of a NaN/inf gradient
  unchanged) the model's carried state is kept unchanged on such a step too.
  """

  def train_step(state: TrainState, batch: Batch):
    rng = jax.random.fold_in(state.rng, state.step)
    data_rng, model_rng = jax.random.split(rng)
    x = batch['image']
    if dynamic_binarization:
      x = jax.random.bernoulli(data_rng, x).astype(x.dtype)

    def loss_fn(params):
      per_example, model_state = model.train_losses(
          params, state.model_state, x, model_rng, labels=batch.get('label')
      )
      means = {k: jnp.mean(v) for k, v in per_example.items()}
      return means['loss'], (means, model_state)

    grads, (metrics, model_state) = jax.grad(loss_fn, has_aux=True)(
        state.params
    )
    gates = model.update_gates(metrics)
    unknown = set(gates or {}) - set(model.param_groups() or {})
    if unknown:  # At trace time: a gate with no optimiser would do nothing.
      raise ValueError(
          f'{type(model).__name__}.update_gates names {sorted(unknown)}, '
          f'which are not among its param_groups() '
          f'{sorted(model.param_groups() or {})}; gate those groups.'
      )
    extra = {} if gates is None else {'gates': gates}
    updates, opt_state = tx.update(
        grads, state.opt_state, state.params, **extra
    )
    for group, on in (gates or {}).items():  # How often each group trains.
      metrics[f'update_{group}'] = jnp.asarray(on, jnp.float32)
    params = optax.apply_updates(state.params, updates)
    if grad_norm or skip_nonfinite:
      metrics['grad_norm'] = optax.global_norm(grads)
    if skip_nonfinite:
      finite = jnp.isfinite(metrics['grad_norm'])
      model_state = jax.tree.map(
          lambda new, old: jnp.where(finite, new, old),
          model_state,
          state.model_state,
      )
    params = model.after_update(params, model_state)
    new_state = state.replace(
        step=state.step + 1,
        params=params,
        opt_state=opt_state,
        model_state=model_state,
    )
    return new_state, metrics

  return train_step


def make_eval_step(
    model: base.Model,
) -> Callable[[dict, Batch, jax.Array], dict]:
  """Masked sums of per-example metrics over a padded batch, plus ``'count'``."""

  def eval_step(params, batch: Batch, rng: jax.Array):
    per_example = model.per_example_losses(
        params, batch['image'], rng, train=False, labels=batch.get('label')
    )
    mask = batch['mask']
    sums = {k: jnp.sum(v * mask) for k, v in per_example.items()}
    sums['count'] = jnp.sum(mask)
    return sums

  return eval_step


# float32(k) / float32(255) for every byte k, divided on the host: a lookup
# gives exactly the values `data.as_unit_float` gives (XLA may turn a
# division by a constant into a multiplication, off by an ulp).
_UNIT_LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)


def gather_batch(data: Batch, index) -> Batch:
  """Rows ``index`` of device-resident data; uint8 images (a large train
  split kept as bytes) become float32 ``x / 255`` here, per batch."""
  batch = {k: v[index] for k, v in data.items()}
  if batch['image'].dtype == jnp.uint8:
    batch['image'] = jnp.asarray(_UNIT_LEVELS)[batch['image']]
  return batch


def gather_from_device_data(train_step):
  """``step(state, batch, data)``: the batch is rows ``batch['index']`` of ``data``.

  For training sets kept on the device (`put_replicated`): the host sends
  only int32 indices per step, not the images.
  """

  def step(state: TrainState, batch: Batch, data: Batch):
    return train_step(state, gather_batch(data, batch['index']))

  return step


def unroll_fused_steps(config, platform: str | None = None) -> bool:
  """Whether `scan_steps` should unroll: the one place this is decided.

  Measured on XLA:CPU only (`scan_steps`): convolutions run about 3x slower
  inside a rolled loop there, while MLPs run 25% slower unrolled. Elsewhere
  (GPU, TPU: unmeasured here) the loop stays rolled, which compiles faster.
  """
  platform = platform or jax.default_backend()
  return platform == 'cpu' and config.get('encoder') == 'conv'


def scan_steps(train_step, *, unroll: bool = False):
  """Several optimiser steps in one call, via `jax.lax.scan`.

  Batch leaves carry a leading ``[K]`` axis (K consecutive steps); metrics
  come back with that axis. Each step still uses ``fold_in(rng, state.step)``,
  so K steps in one call draw exactly what K single calls draw. One dispatch,
  one transfer and one Python round trip per K steps instead of per step.

  ``unroll`` unrolls the K steps into straight-line code. Measured on 2 CPU
  cores at batch 128: XLA:CPU runs convolutions inside a while loop about 3x
  slower than outside one (conv AE: 0.33 s/step rolled, 0.09 s/step unrolled,
  0.11 s/step with one step per call), while the MLP VAE is 25% slower
  unrolled (157 vs 212 steps/s). K = 1 never loops.
  """

  def steps(state: TrainState, batches: Batch, *data):
    if jax.tree.leaves(batches)[0].shape[0] == 1:  # No loop at all.
      state, metrics = train_step(
          state, jax.tree.map(lambda b: b[0], batches), *data
      )
      return state, jax.tree.map(lambda m: m[None], metrics)
    return jax.lax.scan(
        lambda s, b: train_step(s, b, *data), state, batches, unroll=unroll
    )

  return steps


def jit_train_step(
    train_step,
    mesh: jax.sharding.Mesh,
    *,
    device_data: bool = False,
    stacked: bool = False,
):
  """Batch sharded on 'data', state replicated and donated.

  With ``device_data`` the step is a `gather_from_device_data` step whose
  third argument, the replicated training set, is neither copied nor donated.
  With ``stacked`` it is a `scan_steps` step: batches ``[K, B, ...]`` are
  split along B.
  """
  rep = sharding.replicated(mesh)
  batch = sharding.data_sharded(mesh, stacked=stacked)
  in_shardings = (rep, batch) + ((rep,) if device_data else ())
  return jax.jit(
      train_step,
      in_shardings=in_shardings,
      out_shardings=(rep, rep),
      donate_argnums=(0,),
  )


def jit_eval_step(eval_step, mesh: jax.sharding.Mesh):
  rep = sharding.replicated(mesh)
  return jax.jit(
      eval_step,
      in_shardings=(rep, sharding.data_sharded(mesh), rep),
      out_shardings=rep,
  )


def jit_batch_fn(
    fn: Callable[[dict, jax.Array], jax.Array], mesh: jax.sharding.Mesh
):
  """``fn(params, x)`` (encode, reconstruct, ...) with x and the output sharded."""
  data = sharding.data_sharded(mesh)
  return jax.jit(
      fn, in_shardings=(sharding.replicated(mesh), data), out_shardings=data
  )
