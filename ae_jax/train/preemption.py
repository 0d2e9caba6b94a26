"""SIGTERM / SIGINT become "checkpoint now, then stop" requests.

Preemptible TPU VMs and cloud GPUs get SIGTERM some seconds before they are
killed, and Ctrl-C sends SIGINT. While `catch_signals` is active, the first
such signal only sets a flag; the training loop checks it between jitted calls
(`StopRequest.pending`), saves a checkpoint of the step it reached and raises
`Preempted`, so rerunning the same command resumes there. A second SIGINT
interrupts at once (KeyboardInterrupt), for a user who does not want to wait.

In a multi-process run a signal may reach only some processes, and saving is
collective, so there the loop also asks `orbax`'s preemption sync point
(`CheckpointManager.reached_preemption`), which JAX's coordination service
answers the same for every process.
"""

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
  """Training stopped on a signal after saving a checkpoint at ``step``."""

  def __init__(self, signum: int, step: int, checkpoint_dir):
    self.signum = signum
    self.step = step
    name = signal.Signals(signum).name
    super().__init__(
        f'{name} received: saved a checkpoint at step {step} in '
        f'{checkpoint_dir} and stopped. Rerun the same command to resume '
        'from it.'
    )


class StopRequest:
  """The signal received since `catch_signals` began, if any."""

  def __init__(self):
    self.signum: int | None = None

  @property
  def pending(self) -> bool:
    return self.signum is not None

  def _handle(self, signum, frame):
    del frame
    if self.signum is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt  # Second Ctrl-C: stop without waiting.
    self.signum = signum
    logging.warning(
        '%s received: training stops after the current step and saves a '
        'checkpoint (Ctrl-C again to stop at once, without saving).',
        signal.Signals(signum).name,
    )


@contextlib.contextmanager
def catch_signals(enabled: bool = True) -> Iterator[StopRequest]:
  """Installs the handlers for the ``with`` block; restores the old ones.

  Python runs signal handlers only in the main thread; elsewhere (or with
  ``enabled=False``) nothing is installed and the request never becomes
  pending.
  """
  request = StopRequest()
  if not enabled or threading.current_thread() is not threading.main_thread():
    yield request
    return
  previous = {s: signal.signal(s, request._handle) for s in SIGNALS}
  try:
    yield request
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
