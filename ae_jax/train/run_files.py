"""The files that describe a run, and the checks of a relaunch against them.

A work directory holds, beside its checkpoints:

* ``config.json``: the config, as `ae_jax.load` rebuilds the model from it;
* ``dataset.json``: the input shape, classes and a SHA-256 of the arrays the
  run was trained on;
* ``final_metrics.json``: the summary of a finished run (its step and the
  fingerprint of its parameters tie it to a checkpoint);
* ``metrics.jsonl``: the log (`metric_writer`).

`check_workdir` reads all of them before any data is loaded and refuses a
relaunch that would change what is trained, naming the differences; a
damaged file is named with its fix (`workdir.DamagedFileError`). Every file
is (re)written atomically, and only when its content changes.
"""

import hashlib
import json
import logging
from typing import Any

from etils import epath
import ml_collections
import numpy as np

from ae_jax import configs
from ae_jax import data
from ae_jax.train import checkpoints
from ae_jax.train import metric_writer
from ae_jax.train import workdir as workdir_lib

# Where a user finds the config each checkpoint was trained with.
_RECORDED_CONFIG = (
    'checkpoints/<step>/_CHECKPOINT_METADATA holds the config each step was '
    'trained with (custom_metadata.ae_jax.config)'
)


class IncompatibleWorkdirError(ValueError):
  """The work directory holds a run made with a different config or data."""


def read_config(workdir: epath.Path) -> dict | None:
  """``<workdir>/config.json`` as a dict (None if absent).

  Raises:
    DamagedFileError: it cannot be parsed.
    IncompatibleWorkdirError: it has fields this version does not know (it
      was written by another version of ae_jax).
  """
  path = workdir / 'config.json'
  if not path.exists():
    return None
  fix = f'restore it ({_RECORDED_CONFIG}), or use a new --workdir.'
  saved = workdir_lib.read_json(path, fix)
  if not isinstance(saved, dict):
    raise workdir_lib.DamagedFileError(
        f'{path} is damaged (not a JSON object); {fix}'
    )
  unknown = configs.unknown_fields(saved)
  if unknown:
    raise IncompatibleWorkdirError(
        f'{path} has fields this version of ae_jax does not know '
        f'({", ".join(unknown)}): it was written by another version '
        '(launches.jsonl names it). Use that version for this run, or a new '
        '--workdir. Nothing was changed.'
    )
  return saved


def read_dataset_info(workdir: epath.Path) -> dict | None:
  """``<workdir>/dataset.json`` (None if absent), checked.

  Raises:
    DamagedFileError: it cannot be parsed or has no valid input shape.
  """
  path = workdir / 'dataset.json'
  if not path.exists():
    return None
  fix = 'restore it, or rerun the training command (it writes it again).'
  info = workdir_lib.read_json(path, fix)
  shape = info.get('input_shape') if isinstance(info, dict) else None
  if not (
      isinstance(shape, list)
      and shape
      and all(isinstance(d, int) and d > 0 for d in shape)
  ):
    raise workdir_lib.DamagedFileError(
        f'{path} is damaged (input_shape={shape!r}, expected a list of '
        f'positive integers); {fix}'
    )
  return info


def read_final_metrics(workdir: epath.Path) -> dict | None:
  """``final_metrics.json`` (None if absent or unreadable: it is rewritten)."""
  try:
    summary = json.loads((workdir / 'final_metrics.json').read_text())
  except (OSError, ValueError):
    return None
  return summary if isinstance(summary, dict) else None


def check_workdir(
    workdir: epath.Path, config: ml_collections.ConfigDict
) -> None:
  """Refuses a relaunch that would change what ``workdir`` trains.

  Compares ``config`` with the config recorded in the newest checkpoint
  (`checkpoints.save`) and with ``config.json``, which must agree with that
  record (an edited file is named as such). A damaged ``config.json`` or
  ``dataset.json`` that the launch can write again does not block it: the
  checkpoint's record stands in for the first (runs saved before records
  existed are refused instead), and the second only loses its check of the
  data (`check_same_data`), with a warning. The log is parsed too, so a
  damaged one is named before any data is loaded.

  Raises:
    IncompatibleWorkdirError: a field that changes what is trained differs.
    DamagedFileError: a file of the run cannot be parsed and nothing else
      can stand in for it.
  """
  if not (workdir / 'checkpoints').exists():
    return
  current = json.loads(config.to_json())
  step, recorded = checkpoints.latest_recorded_config(workdir / 'checkpoints')
  try:
    saved = read_config(workdir)
  except workdir_lib.DamagedFileError as e:
    if recorded is None:
      raise
    logging.warning('%s It is written again from this launch.', e)
    saved = None
  if saved is not None and recorded is not None:
    edited = configs.trained_differences(recorded, saved)
    if edited:
      raise IncompatibleWorkdirError(
          f'{workdir / "config.json"} does not match the config the checkpoint '
          f'of step {step} was trained with ({"; ".join(edited)}; checkpoint '
          '-> config.json): the file was edited after training. Restore the '
          "checkpoint's values in it (or use a new --workdir). Nothing was "
          'changed.'
      )
  if recorded is not None:
    source, reference = f'the checkpoint of step {step}', recorded
  else:
    source, reference = workdir / 'config.json', saved
  diffs = configs.trained_differences(reference, current) if reference else []
  if diffs:
    raise IncompatibleWorkdirError(
        f'{workdir} holds checkpoints of a run with a different config '
        f'({"; ".join(diffs)}; from {source}). Use a new --workdir, or '
        'rerun with the saved values. Nothing was changed.'
    )
  if reference:
    _check_schedule_length(workdir, reference, current)
  metric_writer.read_metrics(workdir, quiet=True)


def _check_schedule_length(workdir, reference: dict, current: dict) -> None:
  """The cosine schedule decays over the run's length: lengthening (or
  shortening) a run would restart its decay from where the checkpoint left
  it (the learning rate jumped from 1e-5 back to 6e-4), so it is refused."""
  if current.get('lr_schedule') != 'cosine':
    return
  changed = [
      f'{k}: {reference.get(k)!r} -> {current.get(k)!r}'
      for k in ('num_train_steps', 'num_epochs')
      if reference.get(k) != current.get(k)
  ]
  if changed:
    raise IncompatibleWorkdirError(
        f'{workdir} was trained with a cosine learning-rate schedule over '
        f'its run length, and this launch changes that length '
        f'({"; ".join(changed)}): the decay would start again mid-run. Use a '
        'new --workdir, or the saved length. Nothing was changed.'
    )


def dataset_fingerprint(dataset: data.Dataset) -> str:
  """SHA-256 of a dataset's arrays as trained on (after layout, binarising)."""
  digest = hashlib.sha256()
  for array in (
      dataset.train_images,
      dataset.train_labels,
      dataset.test_images,
      dataset.test_labels,
  ):
    digest.update(f'{array.dtype.str}{array.shape}'.encode())
    digest.update(np.ascontiguousarray(array).data)
  return digest.hexdigest()


def describe_dataset(dataset: data.Dataset) -> dict[str, Any]:
  """``dataset.json``: what `ae_jax.load` rebuilds the model from."""
  return {
      'name': dataset.name,
      'input_shape': list(dataset.input_shape),
      'num_classes': dataset.num_classes,
      'class_names': list(dataset.class_names),
      'sha256': dataset_fingerprint(dataset),
      # What inputs to a trained model should look like (`ae_jax.load` warns
      # on inputs far outside it, e.g. 0-255 pixels for a [0, 1] model).
      'value_range': _value_range(dataset.train_images),
      **(
          {'preprocessing': dataset.preprocessing}
          if dataset.preprocessing
          else {}
      ),
      **({} if dataset.is_images else {'images': False}),
  }


def _value_range(images: np.ndarray) -> list[float]:
  lo, hi = float(images.min()), float(images.max())
  if images.dtype == np.uint8:  # Read as x / 255 (`data.as_unit_float`).
    lo, hi = lo / 255.0, hi / 255.0
  return [lo, hi]


def check_same_data(workdir: epath.Path, described: dict[str, Any]) -> None:
  """A resumed run must train on the data its checkpoints were trained on.

  Data files replaced under the same path (another ``idx_dir`` content, a
  rebuilt TFDS dir) would otherwise continue the run on other images. Runs
  written before the fingerprint existed are not checked.
  """
  if not (workdir / 'checkpoints').exists():
    return
  try:
    saved = read_dataset_info(workdir) or {}
  except workdir_lib.DamagedFileError as e:
    logging.warning(
        '%s It is written again from this launch; the data could not be '
        'checked against the data the run was trained on.',
        e,
    )
    return
  before = saved.get('sha256')
  if before is not None and before != described['sha256']:
    raise IncompatibleWorkdirError(
        f'The data of this launch differs from the data {workdir} was trained '
        f'on (sha256 {described["sha256"][:12]}... vs {before[:12]}... in '
        'dataset.json): the dataset files changed. Point --config.data_dir / '
        '--config.idx_dir at the original files, or use a new --workdir. '
        'Nothing was changed.'
    )


def write_run_description(
    workdir: epath.Path,
    config: ml_collections.ConfigDict,
    described: dict[str, Any],
) -> None:
  """``config.json`` and ``dataset.json``: what `ae_jax.load` rebuilds from.

  Each is replaced atomically, and only when its content changes, so a
  relaunch of the same run rewrites neither (and one deleted or damaged by
  hand is written again).
  """
  files = {
      'config.json': config.to_json(indent=2),
      'dataset.json': json.dumps(described, indent=2),
  }
  for name, text in files.items():
    path = workdir / name
    if not path.exists() or path.read_text() != text:
      workdir_lib.write_text(path, text)


def finished_summary(
    workdir: epath.Path, step: int, params_sha256: str
) -> dict[str, Any] | None:
  """The saved summary of a run finished at ``step``, if it describes these
  parameters; None otherwise (the run is then evaluated and it rewritten).

  A summary left by an earlier length of the run (killed, or out of disk,
  before its new summary was written) names another step or parameters.
  """
  summary = read_final_metrics(workdir)
  if (
      summary is None
      or summary.get('step') != step
      or summary.get('params_sha256') != params_sha256
  ):
    return None
  return summary
