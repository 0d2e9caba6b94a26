"""What every experiment binary shares: log set-up and how user errors print."""

from collections.abc import Callable
import logging as std_logging
import sys
from typing import TypeVar

from absl import logging

from ae_jax import data
from ae_jax import train

T = TypeVar('T')

# Errors that are the user's to fix: print the message, not a traceback.
USER_ERRORS = (
    ValueError,
    TypeError,
    FileNotFoundError,  # E.g. a --workdir with no run in it.
    data.DatasetNotFoundError,
    train.NonFiniteLossError,
    train.UnreadableCheckpointError,
)


def setup_logging() -> None:
  """INFO logs, without orbax's line for every file it writes."""
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(
      lambda r: '/orbax/' not in r.pathname or r.levelno >= std_logging.WARNING
  )


def exit_on_user_error(fn: Callable[[], T]) -> T:
  """``fn()``; a `USER_ERRORS` exception exits with ``error: <message>``."""
  try:
    return fn()
  except USER_ERRORS as e:
    logging.debug('Traceback of the error below:', exc_info=True)
    sys.exit(f'error: {e}')
