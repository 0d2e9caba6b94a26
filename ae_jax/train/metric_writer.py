"""Metrics to ``metrics.jsonl`` (one JSON object per line) and TensorBoard events.

TensorBoard event files are written by tensorboardX, which needs no
TensorFlow: ``tensorboard --logdir <workdir>/tensorboard``. Events are written
synchronously by the calling thread (tensorboardX's `EventsWriter`, not its
queued `SummaryWriter`): when the disk is full the error reaches the training
loop at once, whereas the queued writer's thread dies and the next write
blocks forever on its full queue. Only process 0 writes; other processes get
a writer that does nothing.

The log is only ever appended to, or rewritten whole under a new name and
renamed (`truncate_metrics`), so a kill at any moment loses at most the line
being written; `read_metrics` drops such an incomplete last line with a
warning and names the file when anything worse is wrong with it.
"""

import json
import logging
import math
import os
import time

from etils import epath

from ae_jax.train import workdir as workdir_lib


class MetricWriter:
  """``write(step, split, metrics)`` appends to the JSON-lines log and TensorBoard."""

  def __init__(
      self,
      workdir: epath.PathLike,
      *,
      enabled: bool = True,
      purge_after: int | None = None,
  ):
    """``purge_after``: a resumed run's start step. TensorBoard then hides
    the earlier event files' records past it (`truncate_metrics` drops them
    from the log), as tensorboardX's ``SummaryWriter(purge_step=...)``
    does: a file-version event and a session START at the next step."""
    self.enabled = enabled
    self.path = epath.Path(workdir) / 'metrics.jsonl'
    self._events = None
    if enabled:
      from tensorboardX import event_file_writer  # pylint: disable=g-import-not-at-top
      from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top

      tb_dir = epath.Path(workdir) / 'tensorboard'
      tb_dir.mkdir(parents=True, exist_ok=True)
      self._events = event_file_writer.EventsWriter(
          os.fspath(tb_dir / 'events')
      )
      if purge_after is not None:
        step = int(purge_after) + 1  # Records at the start step are kept.
        self._events.write_event(
            event_pb2.Event(step=step, file_version='brain.Event:2')
        )
        self._events.write_event(
            event_pb2.Event(
                step=step,
                session_log=event_pb2.SessionLog(
                    status=event_pb2.SessionLog.START
                ),
            )
        )

  def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
    if not self.enabled:
      return
    from tensorboardX import summary  # pylint: disable=g-import-not-at-top
    from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top

    record = {'step': int(step), 'split': split}
    record.update({k: float(v) for k, v in metrics.items()})
    # json writes NaN/inf as bare tokens, which strict readers reject.
    line = json.dumps(
        {
            k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
            for k, v in record.items()
        }
    )
    workdir_lib.append_line(self.path, line)
    now = time.time()
    for name, value in metrics.items():
      self._events.write_event(
          event_pb2.Event(
              wall_time=now,
              step=int(step),
              summary=summary.scalar(f'{split}/{name}', float(value)),
          )
      )

  def flush(self) -> None:
    """Flushes and fsyncs the events (the trainer does it at checkpoints,
    outside the timed steps: an fsync can take long on a busy disk). Between
    flushes, Python's buffer passes full blocks to the OS as they fill."""
    if self._events is not None:
      self._events.flush()

  def close(self) -> None:
    if self._events is not None:
      self._events.close()
      self._events = None


_LOG_FIX = (
    'move it aside (it is only a log; checkpoints are not affected) and '
    'rerun: the log then restarts at the resumed step.'
)


def _parse(path: epath.Path, quiet: bool = False) -> tuple[list[dict], bool]:
  """``(records, whether the last line was incomplete and dropped)``."""
  lines = path.read_bytes().decode('utf-8', 'replace').split('\n')
  complete = lines[-1] == ''  # The text ends with a newline.
  lines = lines[:-1] if complete else lines
  records = []
  dropped = False
  for number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
      if not isinstance(record, dict) or not isinstance(
          record.get('step'), int
      ):
        raise ValueError('a record without an integer "step"')
    except ValueError as e:
      if number == len(lines) and not complete and line.startswith('{'):
        dropped = True  # What a kill during an append leaves.
        break
      raise workdir_lib.DamagedFileError(
          f'{path} is damaged at line {number} ({e}); {_LOG_FIX}'
      ) from None
    records.append(record)
  if dropped and not quiet:
    logging.warning(
        'Dropped an incomplete last record of %s (a run stopped while '
        'writing it).',
        path,
    )
  return records, dropped or not complete


def read_metrics(workdir: epath.PathLike, *, quiet: bool = False) -> list[dict]:
  """All records of ``<workdir>/metrics.jsonl`` (empty if there is none).

  An incomplete last line is dropped with a warning (none with ``quiet``).

  Raises:
    DamagedFileError: a line before the last cannot be parsed or has no
      integer ``step``; the message names the file, the line and the fix.
  """
  path = epath.Path(workdir) / 'metrics.jsonl'
  if not path.exists():
    return []
  return _parse(path, quiet)[0]


def truncate_metrics(workdir: epath.PathLike, step: int) -> None:
  """Drops records after ``step``: a resumed run rewrites them from there.

  Rewrites the file (atomically) only when something must go: records past
  ``step``, or an incomplete last line that the next append would extend.
  """
  path = epath.Path(workdir) / 'metrics.jsonl'
  if not path.exists():
    return
  records, incomplete = _parse(path)
  kept = [r for r in records if r['step'] <= step]
  if len(kept) == len(records) and not incomplete:
    return
  workdir_lib.write_text(path, ''.join(json.dumps(r) + '\n' for r in kept))
