"""What a run does about NaN/inf: stop at the first one, or skip such batches.

`TrainMetrics` holds the metrics of dispatched calls until a log boundary,
fetches them in one transfer and applies ``config.nonfinite``.
"""

from collections.abc import Callable
import logging

import jax
import numpy as np

NONFINITE_MODES = ('stop', 'skip')


class NonFiniteLossError(FloatingPointError):
  """Training produced NaN/inf; the last good checkpoint is left intact."""


class TrainMetrics:
  """Metrics of dispatched calls, fetched in one transfer per log interval.

  With ``skip_nonfinite`` a step whose gradient norm is NaN/inf was not
  applied (`optax.apply_if_finite`): it is counted, logged and left out of the
  means, and only more than ``max_consecutive`` such steps in a row stop the
  run. Any other NaN/inf metric stops it.
  """

  def __init__(self, *, skip_nonfinite: bool = False, max_consecutive: int = 0):
    self.pending: list[tuple[int, dict]] = []
    self.skip_nonfinite = skip_nonfinite
    self.max_consecutive = max_consecutive
    self.consecutive = 0
    self.skipped: list[int] = []

  def add(self, done: int, metrics: dict) -> None:
    """``metrics`` of the steps ending at step ``done``, each ``[K]``."""
    self.pending.append((done, metrics))

  def fetch(
      self, last_good_step: Callable[[], int | None], ckpt_dir
  ) -> dict[str, float]:
    """Host means of the pending metrics; raises on the first NaN/inf step.

    ``last_good_step()`` (the checkpoint manager's latest step) is asked for
    the error message only.
    """
    ends = [s for s, _ in self.pending]
    values = jax.device_get([m for _, m in self.pending])
    self.pending = []
    kept = []
    skipped = []
    for done, metrics in zip(ends, values):
      k = len(metrics['loss'])
      for i in range(k):
        step = done - k + 1 + i
        bad = {n: v[i] for n, v in metrics.items() if not np.isfinite(v[i])}
        if not bad:
          self.consecutive = 0
          kept.append({n: v[i] for n, v in metrics.items()})
        elif self.skip_nonfinite and not np.isfinite(metrics['grad_norm'][i]):
          self.consecutive += 1
          skipped.append(step)
          if self.consecutive > self.max_consecutive:
            self._raise(
                step,
                *next(iter(bad.items())),
                last_good_step(),
                ckpt_dir,
                consecutive=self.consecutive,
            )
        else:
          self._raise(
              step, *next(iter(bad.items())), last_good_step(), ckpt_dir
          )
    if skipped:
      self.skipped += skipped
      logging.warning(
          'Skipped %d batch(es) with a NaN/inf gradient (steps %s); the '
          'parameters were not updated on them.',
          len(skipped),
          skipped if len(skipped) <= 10 else f'{skipped[:10]}...',
      )
    # Not every step has every metric (`grad_norm` comes with logged calls).
    names = dict.fromkeys(name for m in kept for name in m)
    means = {
        name: float(np.mean([m[name] for m in kept if name in m]))
        for name in names
    }
    if self.skip_nonfinite:
      means['skipped_batches'] = float(len(skipped))
    return means

  @staticmethod
  def _raise(step, name, value, last_good_step, ckpt_dir, consecutive=None):
    where = (
        f'the last good checkpoint is step {last_good_step} in {ckpt_dir}'
        if last_good_step is not None
        else 'no checkpoint was saved'
    )
    what = f'{name}={value} at step {step}'
    if consecutive is not None:
      what += (
          f', the last of {consecutive} non-finite batches in a row (more '
          'than config.max_consecutive_nonfinite)'
      )
    fix = (
        'or raise --config.max_consecutive_nonfinite'
        if consecutive is not None
        else "or --config.nonfinite='skip' to drop such batches"
    )
    raise NonFiniteLossError(
        f'Training stopped: {what}; {where} and nothing after it was saved. '
        'Lower --config.learning_rate, set --config.grad_clip_norm, check '
        f'the data for extreme values, {fix}.'
    )
