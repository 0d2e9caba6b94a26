"""Metrics to ``metrics.jsonl`` (one JSON object per line) and TensorBoard events.

TensorBoard event files are written by tensorboardX, which needs no
TensorFlow: ``tensorboard --logdir <workdir>/tensorboard``. Only process 0
writes; other processes get a writer that does nothing.
"""

import json
import math
import os

from etils import epath


class MetricWriter:
  """``write(step, split, metrics)`` appends to the JSON-lines log and TensorBoard."""

  def __init__(self, workdir: epath.PathLike, *, enabled: bool = True):
    self.enabled = enabled
    self.path = epath.Path(workdir) / 'metrics.jsonl'
    self._tb = None
    if enabled:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top

      self.path.parent.mkdir(parents=True, exist_ok=True)
      self._tb = SummaryWriter(os.fspath(epath.Path(workdir) / 'tensorboard'))

  def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
    if not self.enabled:
      return
    record = {'step': int(step), 'split': split}
    record.update({k: float(v) for k, v in metrics.items()})
    # json writes NaN/inf as bare tokens, which strict readers reject.
    line = json.dumps(
        {
            k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
            for k, v in record.items()
        }
    )
    with self.path.open('a') as f:
      f.write(line + '\n')
    for name, value in metrics.items():
      self._tb.add_scalar(f'{split}/{name}', float(value), int(step))

  def flush(self) -> None:
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def read_metrics(workdir: epath.PathLike) -> list[dict]:
  """All records of ``<workdir>/metrics.jsonl`` (empty if there is none)."""
  path = epath.Path(workdir) / 'metrics.jsonl'
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line]


def truncate_metrics(workdir: epath.PathLike, step: int) -> None:
  """Drops records after ``step``: a resumed run rewrites them from there."""
  path = epath.Path(workdir) / 'metrics.jsonl'
  if not path.exists():
    return
  kept = [json.dumps(r) for r in read_metrics(workdir) if r['step'] <= step]
  path.write_text(''.join(line + '\n' for line in kept))
