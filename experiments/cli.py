"""What every experiment binary shares: start-up, logs and how user errors print.

A binary calls `run(main)` instead of ``app.run(main)``: a mistake in its
flags or config file (a missing or broken config file, a misspelt
``--config.*`` field, a field that cannot be swept) then prints one
``error:`` line naming the flag and the fix instead of a traceback, and so
does a second Ctrl-C. Inside ``main``, `exit_on_user_error` does the same for
the library's errors.
"""

from collections.abc import Callable
import difflib
import importlib.util
import logging as std_logging
import os
import signal
import sys
from typing import TypeVar

from absl import app
from absl import flags
from absl import logging

from ae_jax import data
from ae_jax import train
from ae_jax.train import checkpoints
from ae_jax.train import distributed
from ae_jax.train import memory
from ae_jax.train import sweep as sweep_lib
from ae_jax.train import workdir as workdir_lib

T = TypeVar('T')

# Errors that are the user's to fix: print the message, not a traceback.
USER_ERRORS = (
    ValueError,
    TypeError,
    FileNotFoundError,  # E.g. a --workdir with no run in it.
    data.DatasetNotFoundError,
    train.NonFiniteLossError,
    train.UnreadableCheckpointError,
    workdir_lib.DiskFullError,
    distributed.StoppedWithProcess0,
    memory.OutOfMemoryError,
)

# Config-dict flags and the fields a user may set on them, for messages.
_CONFIG_FLAGS = ('config', 'sweep')


def setup_logging() -> None:
  """INFO logs unless ``--verbosity`` says otherwise, without orbax's line
  for every file it writes, its tracebacks of a full disk (the run reports it
  in one line), or jax's note that a machine has no TPU."""
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(_keep_record)


# jax tries every backend it was built for and says at INFO which are absent
# ("Unable to initialize backend 'tpu'"): on a CPU or GPU machine that is noise.
_ABSENT_BACKEND = 'Unable to initialize backend'


def _keep_record(record: std_logging.LogRecord) -> bool:
  if record.levelno < std_logging.WARNING and record.getMessage().startswith(
      _ABSENT_BACKEND
  ):
    return False
  # asyncio logs orbax's failed writes again ("Task exception was never
  # retrieved"); the run reports the cause in one line.
  if '/orbax/' not in record.pathname and record.name != 'asyncio':
    return True
  if record.levelno < std_logging.WARNING:
    return False
  error = record.exc_info[1] if record.exc_info else None
  message = record.getMessage()
  return not (
      workdir_lib.is_disk_full(error)
      or workdir_lib.is_disk_full(Exception(message))
      or checkpoints.is_abandoned_io(error)
      or any(t in message for t in _ORBAX_SHUTDOWN_NOISE)
  )


# What orbax's background threads log when the process ends under them (an
# error, or Ctrl-C, while a save or a clean-up runs).
_ORBAX_SHUTDOWN_NOISE = (
    'cannot schedule new futures after interpreter shutdown',
    'Event loop is closed',
)


def exit_on_user_error(fn: Callable[[], T]) -> T:
  """``fn()``; a `USER_ERRORS` exception exits with ``error: <message>``, as
  does running out of disk space or device memory wherever it happens."""
  try:
    return fn()
  except USER_ERRORS as e:
    logging.debug('Traceback of the error below:', exc_info=True)
    sys.exit(f'error: {e}')
  except Exception as e:  # pylint: disable=broad-except
    logging.debug('Traceback of the error below:', exc_info=True)
    if workdir_lib.is_disk_full(e):
      where = getattr(e, 'filename', None) or 'the output directory'
      sys.exit(
          f'error: No space left on the device of {where} '
          f'({workdir_lib.format_bytes(workdir_lib.free_bytes(where))} free);'
          ' free some space and rerun the same command.'
      )
    if memory.is_out_of_memory(e):
      sys.exit(f'error: {memory.out_of_memory_message(e)}')
    raise


_quiet_io = None


def run(main: Callable[[list[str]], None]) -> None:
  """``app.run(main)``, with flag errors and a second Ctrl-C as one line.

  For the whole process, the tracebacks orbax's background threads print
  when a save or restore is abandoned (a full disk, Ctrl-C during a save, a
  damaged step) are dropped: the binary reports the cause in one line.
  """
  global _quiet_io
  _quiet_io = checkpoints.quiet_abandoned_io()  # Held until the process ends.
  _quiet_io.__enter__()
  try:
    app.run(main, flags_parser=parse_flags)
  except KeyboardInterrupt:
    print(
        'error: interrupted (Ctrl-C): stopped at once. A training run keeps '
        'its last checkpoint and resumes from it when the same command is '
        'rerun.',
        file=sys.stderr,
    )
    sys.exit(128 + signal.SIGINT)  # The shell's code for "killed by SIGINT".


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, any error printed as one ``error:`` line.

  Config files load lazily (a missing one raises only when the binary first
  reads it), so every config flag is read here, inside the same handler.
  """
  try:
    rest = flags.FLAGS(argv)
    for name in _CONFIG_FLAGS:
      if name in flags.FLAGS and flags.FLAGS[name].present:
        _ = flags.FLAGS[name].value.keys  # Raises if the file failed to load.
    return rest
  except Exception as e:  # pylint: disable=broad-except
    sys.exit(
        f'error: {flag_error(argv, e)} (--helpshort lists the flags of '
        f'{os.path.basename(argv[0])}.)'
    )


def flag_error(argv: list[str], e: Exception) -> str:
  """The message of a flag or config-file error, with its fix."""
  if isinstance(e, SyntaxError):
    return (
        f'config file {e.filename}, line {e.lineno}: {e.msg}; fix the file '
        '(it must define get_config()).'
    )
  text = str(e)
  config_arg = _flag_value(argv, 'config')
  if config_arg is not None and 'config file' in text:
    path = config_arg.split(':', 1)[0]
    if not os.path.exists(path):
      return (
          f'--config={config_arg}: config file {path} not found; the '
          f'configs are in experiments/configs/ ({_config_names()}).'
      )
  if "has no attribute 'get_config'" in text and config_arg is not None:
    return (
        f'--config={config_arg}: the file defines no get_config(); give an '
        f'experiment config ({_config_names()} in experiments/configs/).'
    )
  unknown = _unknown_field_token(argv)
  if unknown is not None and isinstance(e, (KeyError, AttributeError)):
    return _unknown_field(*unknown, argv)
  if isinstance(e, flags.Error):
    # A config file's get_config raised: its own message is the last line.
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[0] if len(lines) == 1 else f'{lines[0]} {lines[-1]}'
  return f'{type(e).__name__}: {text}'.splitlines()[0]


def refuse_unknown_override_fields(argv: list[str] | None = None) -> None:
  """Exits with one line on an unknown ``--config.X`` / ``--sweep.X``.

  For binaries whose config-dict flag has a fixed default
  (`config_flags.DEFINE_config_dict`): ml_collections applies its overrides
  when the flag is defined, at import, before `run` could catch the error.
  """
  argv = sys.argv if argv is None else argv
  unknown = _unknown_field_token(argv)
  if unknown is not None:
    sys.exit(f'error: {_unknown_field(*unknown, argv)}')


def _unknown_field_token(argv: list[str]) -> tuple[str, str, str] | None:
  """``(flag, field, token)`` of the first ``--config.X``/``--sweep.X`` whose
  field the flag does not have."""
  loaded = _config_file_config(argv)
  known = {
      'config': set(loaded) if loaded is not None else _all_config_fields(),
      'sweep': set(sweep_lib.SWEEPABLE),
  }
  for token in argv:
    for flag in _CONFIG_FLAGS:
      prefix = f'--{flag}.'
      if token.startswith(prefix):
        field = token[len(prefix) :].split('=', 1)[0].split('.', 1)[0]
        if field not in known[flag]:
          return flag, field, token
  return None


def _all_config_fields() -> set[str]:
  from ae_jax import configs  # pylint: disable=g-import-not-at-top
  from ae_jax.models import registry  # pylint: disable=g-import-not-at-top

  return set(configs.general_config()) | set(registry.field_owners())


def _config_file_config(argv: list[str]):
  """The config of ``--config=FILE[:ARG]`` (None where it does not load)."""
  value = _flag_value(argv, 'config')
  if not value:
    return None
  path, _, arg = value.partition(':')
  try:
    spec = importlib.util.spec_from_file_location('_ae_jax_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg or None)
  except Exception:  # pylint: disable=broad-except
    return None


def _flag_value(argv: list[str], name: str) -> str | None:
  for i, token in enumerate(argv):
    if token.startswith(f'--{name}='):
      return token.split('=', 1)[1]
    if token == f'--{name}' and i + 1 < len(argv):
      return argv[i + 1]
  return None


_CONFIGS_DIR = os.path.join(os.path.dirname(__file__), 'configs')


def _config_names() -> str:
  names = sorted(
      f
      for f in os.listdir(_CONFIGS_DIR)
      if f.endswith('.py') and f not in ('__init__.py', 'common.py')
  )
  return ', '.join(names)


def _unknown_field(flag: str, field: str, token: str, argv: list[str]) -> str:
  if flag == 'sweep':
    return (
        f'{token.split("=")[0]}: {field!r} cannot be swept (it changes the '
        "model's structure or is not a number); sweepable fields: "
        f'{", ".join(sweep_lib.SWEEPABLE)}. Train other values as separate '
        'runs.'
    )
  from ae_jax.models import registry  # pylint: disable=g-import-not-at-top

  loaded = _config_file_config(argv)
  owners = registry.field_owners().get(field)
  if owners and loaded is not None and loaded.get('model') not in owners:
    files = [
        f'experiments/configs/{m}.py'
        for m in owners
        if os.path.exists(os.path.join(_CONFIGS_DIR, f'{m}.py'))
    ]
    return (
        f'{token.split("=")[0]}: model {loaded.model!r} has no field '
        f'{field!r}; it is a field of {", ".join(owners)}. Start from '
        + (' or '.join(files) if files else 'a config of one of those models')
        + f' (e.g. --config={files[0] if files else "FILE"} '
        f'{token}), or drop the flag.'
    )
  known = sorted(loaded) if loaded is not None else sorted(_all_config_fields())
  hint = difflib.get_close_matches(field, known, n=1)
  return (
      f'{token.split("=")[0]}: unknown config field {field!r}'
      + (f' (did you mean {hint[0]!r}?)' if hint else '')
      + "; ae_jax/configs.py and the model's Config list the fields."
  )


def parse_distinct(
    flag: str, values: list[str], kind: type, example: str
) -> list:
  """A list flag's values as ``kind``, at least one and none twice.

  Raises:
    ValueError: naming ``--flag`` and an example of what it takes.
  """
  given = ','.join(values)
  try:
    parsed = [kind(v) for v in values]
  except ValueError:
    raise ValueError(
        f'--{flag}={given}: give comma-separated {kind.__name__} values, e.g. '
        f'--{flag}={example}.'
    ) from None
  if not parsed or len(set(parsed)) != len(parsed):
    raise ValueError(
        f'--{flag}={given}: give at least one value and none twice, e.g. '
        f'--{flag}={example}.'
    )
  return parsed


def mark_paths_nonempty(*names: str) -> None:
  """Refuses ``--NAME=`` (an unset shell variable) for path flags: an empty
  path would mean the current directory."""
  for name in names:
    flags.register_validator(
        name,
        lambda value: value is None or bool(value.strip()),
        message=(
            f'--{name} is empty; give a directory path (an unset shell '
            'variable gives an empty value).'
        ),
    )


# The flags that tune evaluation tasks: (task, its option, flag, help).
_TASK_FLAGS = (
    (
        'disentanglement',
        'points',
        'disentanglement_points',
        'Training observations per disentanglement metric (test: half); '
        "default disentanglement_lib's 10,000.",
    ),
    (
        'nll',
        'examples',
        'nll_examples',
        'Test images of the nll task (default 1,000; 0 = all of them, the '
        "papers' protocol).",
    ),
    (
        'probe',
        'cv_folds',
        'probe_cv_folds',
        "Folds of the cross-validation that chooses the probe's L2 penalty "
        'on each label subset, for every feature type (default 0: C = 1).',
    ),
    (
        'projector',
        'max_points',
        'projector_points',
        'Test examples the projector task exports (default 5,000, the first '
        'ones in the split).',
    ),
)


def define_task_options() -> dict:
  """The flags that tune evaluation tasks (binaries that run tasks define
  them once, here); `task_options` turns them into ``options``."""
  return {
      (task, option): flags.DEFINE_integer(name, None, text)
      for task, option, name, text in _TASK_FLAGS
  }


def task_options(defined: dict) -> dict:
  """``options`` for `ae_jax.tasks.evaluate` from `define_task_options`:
  ``{task: {option: value}}`` for the flags that were given."""
  options = {}
  for (task, option), holder in defined.items():
    if holder.value is not None:
      options.setdefault(task, {})[option] = holder.value
  return options
