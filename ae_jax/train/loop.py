"""The training core shared by every loop: calls, their schedule, timing, compiling.

A run's steps are fused K at a time into one compiled call (`fused_step`,
`steps_per_call`); `calls` says which calls end at a log, evaluation or
checkpoint boundary; `Programs` compiles each variant of the call once, ahead
of time, and `Throughput` keeps that compile time, the first call, evaluations
and checkpoints out of steps per second. The trainer (`trainer`), the sweep
(`sweep`), the one-class protocol (`tasks.one_class`) and, through the
trainer, layer-wise pretraining (`pretrain`) all use it; `state.run_keys` is
the one layout of a run's PRNG streams.
"""

from collections.abc import Callable, Hashable, Iterator
import contextlib
import dataclasses
import math
import time
from typing import Any

import jax
import numpy as np

from ae_jax import data
from ae_jax.train import sharding
from ae_jax.train import step as step_lib


def steps_per_call(limit: int, *boundaries: int) -> int:
  """K: the most steps, up to ``limit``, that divide every boundary.

  Pass the run length, its start step and every interval at which the host
  must see the state (0 is no constraint: ``gcd(x, 0) = x``); each boundary
  then falls between calls, and one shape compiles once.
  """
  common = math.gcd(*boundaries)
  return max(k for k in range(1, limit + 1) if common % k == 0)


def fused_step(
    model,
    tx,
    config,
    *,
    device_data: bool,
    skip_nonfinite: bool = False,
    grad_norm: bool = False,
    unroll: bool | None = None,
):
  """``steps(state, batches[, data])``: K optimiser steps in one function.

  With ``device_data`` batches hold row indices into ``data``, the training
  set kept on the device. Whether the K steps unroll is
  `step.unroll_fused_steps`'s decision (per platform, measured) unless
  ``unroll`` says otherwise (hundreds of steps in one call should not:
  the unrolled program grows with K).
  """
  train_step = step_lib.make_train_step(
      model,
      tx,
      dynamic_binarization=config.binarize == 'dynamic',
      skip_nonfinite=skip_nonfinite,
      grad_norm=grad_norm,
  )
  if device_data:
    train_step = step_lib.gather_from_device_data(train_step)
  if unroll is None:
    unroll = step_lib.unroll_fused_steps(config)
  return step_lib.scan_steps(train_step, unroll=unroll)


def grad_norm_every_step(config) -> bool:
  """Whether every call computes the gradient norm, not just logged ones.

  Skip mode decides from it which steps to skip. Where fused steps unroll
  (`step.unroll_fused_steps`: convolutions on CPU) a second program is slow
  to compile and the norm is noise next to the convolutions: it would cost
  seconds of compile and save nothing measurable.
  """
  return config.nonfinite == 'skip' or step_lib.unroll_fused_steps(config)


@dataclasses.dataclass(frozen=True)
class Call:
  """One compiled call: steps ``done - k .. done - 1`` and what follows it."""

  done: int
  is_last: bool
  eval_due: bool
  checkpoint_due: bool
  logged: bool  # Its metrics are fetched (every eval/checkpoint is logged).


def calls(
    start: int,
    total: int,
    k: int,
    *,
    log_every: int = 0,
    eval_every: int = 0,
    checkpoint_every: int = 0,
) -> Iterator[Call]:
  """The calls of a run from ``start`` to ``total`` steps, ``k`` per call.

  An interval of 0 means only at the end: the last call is always evaluated,
  logged and checkpointed.
  """

  def at(done, every):
    return every > 0 and done % every == 0

  for step in range(start, total, k):
    done = step + k
    is_last = done == total
    eval_due = is_last or at(done, eval_every)
    checkpoint_due = is_last or at(done, checkpoint_every)
    yield Call(
        done=done,
        is_last=is_last,
        eval_due=eval_due,
        checkpoint_due=checkpoint_due,
        logged=eval_due or checkpoint_due or at(done, log_every),
    )


class Throughput:
  """Training steps per second, with everything else left out.

  The clock starts when the first call has finished (its time is compile and
  warm-up); time spent in `untimed` blocks (evaluation, checkpoints, a second
  program's compile) and the steps run inside them are subtracted.
  """

  def __init__(self):
    self._start: tuple[float, int] | None = None
    self._untimed_seconds = 0.0
    self._untimed_steps = 0

  @property
  def started(self) -> bool:
    return self._start is not None

  def after_call(self, done: int, outputs) -> None:
    """Call after each call; the first one waits for ``outputs``."""
    if self._start is None:
      jax.block_until_ready(outputs)
      self._start = (time.perf_counter(), done)

  @contextlib.contextmanager
  def untimed(self, steps: int = 0):
    t0 = time.perf_counter()
    try:
      yield
    finally:
      self._untimed_seconds += time.perf_counter() - t0
      self._untimed_steps += steps

  def steps_per_second(self, total: int) -> float | None:
    """Timed steps per second up to step ``total`` (None if none was timed)."""
    if self._start is None:
      return None
    t_first, first = self._start
    elapsed = time.perf_counter() - t_first - self._untimed_seconds
    timed = total - first - self._untimed_steps
    return timed / elapsed if timed > 0 and elapsed > 0 else None


class Programs:
  """Variants of one jitted call, each compiled ahead of time on first use.

  ``programs[key](*args)`` lowers and compiles ``make(key)`` for ``args``
  the first time ``key`` is used, inside ``throughput.untimed`` (once the
  clock runs), and then calls the compiled executable. ``constants`` are
  appended to every call's arguments (e.g. the training set on the device).
  """

  def __init__(
      self,
      make: Callable[[Hashable], Any],
      *,
      constants: tuple = (),
      throughput: Throughput | None = None,
  ):
    self._make = make
    self._constants = constants
    self._throughput = throughput
    self._compiled: dict[Hashable, Any] = {}
    self.compile_seconds = 0.0

  def __call__(self, key: Hashable, *args):
    args = args + self._constants
    if key not in self._compiled:
      timer = contextlib.nullcontext()
      if self._throughput is not None and self._throughput.started:
        # Calls still running on the device belong to the timed steps.
        jax.block_until_ready(args)
        timer = self._throughput.untimed()
      with timer:
        t0 = time.perf_counter()
        self._compiled[key] = self._make(key).lower(*args).compile()
        self.compile_seconds += time.perf_counter() - t0
    return self._compiled[key](*args)


def stack(items: Iterator[dict], k: int) -> Iterator[dict]:
  """Groups of ``k`` consecutive batches, each leaf stacked to ``[k, ...]``."""
  while True:
    group = [next(items) for _ in range(k)]
    yield {key: np.stack([g[key] for g in group]) for key in group[0]}


def eval_batch_size(num_examples: int, batch_size: int, divisor: int) -> int:
  """``batch_size``, or fewer for a smaller test set: its size rounded down
  to a multiple of ``divisor`` (the devices), at least ``divisor``."""
  if num_examples >= batch_size:
    return batch_size
  return max(divisor, num_examples // divisor * divisor)


def evaluate(
    eval_step,
    params,
    images,
    labels,
    *,
    batch_size: int,
    mesh: jax.sharding.Mesh,
    rng: jax.Array,
) -> dict[str, float]:
  """Means over every test example (padded batches, masked sums).

  A test set smaller than ``batch_size`` is evaluated in one batch of its
  own size (down to a multiple of the devices): padding rows would enter
  the statistics some objectives take over a whole batch.
  """
  totals = None
  batches = data.eval_batches(
      images,
      labels,
      batch_size=eval_batch_size(len(images), batch_size, mesh.size),
      process_index=jax.process_index(),
      process_count=jax.process_count(),
  )
  for i, batch in enumerate(batches):
    sums = eval_step(
        params, sharding.put_batch(batch, mesh), jax.random.fold_in(rng, i)
    )
    # Sums stay on device (no host sync per batch) until the end.
    totals = (
        sums
        if totals is None
        else jax.tree.map(lambda a, b: a + b, totals, sums)
    )
  totals = jax.device_get(totals)
  count = totals.pop('count')
  return {k: float(v / count) for k, v in totals.items()}
