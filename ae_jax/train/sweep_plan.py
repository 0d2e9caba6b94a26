"""What a sweep trains, checked before any work: its members and their configs.

`grid` expands ``--sweep.<field>=v1,v2`` into members, `check` validates
every member's config and that only numbers traced by the step differ,
`check_mesh` that the members and batches split over the devices, and
`check_existing` that a work directory holds no other sweep. `sweep` trains
what passes.
"""

from collections.abc import Mapping, Sequence
import dataclasses
import itertools
import json

from etils import epath
import jax

from ae_jax import configs
from ae_jax import models
from ae_jax.train import run_files
from ae_jax.train import sharding
from ae_jax.train import trainer

# Fields a sweep may vary. `MODEL_FIELDS` must be fields of the built model.
MODEL_FIELDS = models.registry.traced_fields()  # Declared `traced`.
SWEEPABLE = ('seed', 'learning_rate') + MODEL_FIELDS


def grid(values: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
  """The K members of a sweep: the Cartesian product of ``values``.

  Args:
    values: field -> the values it takes, e.g. ``{'beta': [0.5, 1, 2]}``.

  Returns:
    One dict per member, fields in the order given, the first field slowest.

  Raises:
    ValueError: for an unknown field, no values, or a repeated value.
  """
  if not values:
    raise ValueError(
        f'A sweep needs at least one field; give e.g. --sweep.beta=0.5,1,2 '
        f'(sweepable: {", ".join(SWEEPABLE)}).'
    )
  for field, vals in values.items():
    if field not in SWEEPABLE:
      raise ValueError(
          f'Cannot sweep {field!r}; sweepable fields: {", ".join(SWEEPABLE)}.'
      )
    if not vals or len(set(vals)) != len(vals):
      raise ValueError(
          f'--sweep.{field}: give distinct values, comma-separated, got '
          f'{list(vals)}.'
      )
    if field == 'seed' and any(int(v) != v or v < 0 for v in vals):
      raise ValueError(f'--sweep.seed: seeds are integers >= 0, got {vals}.')
  fields = list(values)
  return [dict(zip(fields, p)) for p in itertools.product(*values.values())]


def member_config(config, point: Mapping[str, float]):
  """``config`` with one member's values."""
  c = configs.normalize(config)
  for field, value in point.items():
    c[field] = int(value) if field == 'seed' else float(value)
  return c


def check(
    config,
    members: Sequence[Mapping[str, float]],
    input_shape,
    *,
    num_classes=None,
    num_train=None,
) -> models.Model:
  """Every member's config is valid and its fields can vary under vmap.

  Returns the model of the first member (the shared structure).
  """
  own = models.registry.traced_fields(config.model)
  for field in members[0]:
    if field in MODEL_FIELDS and field not in own:
      raise ValueError(
          f'--sweep.{field} does not apply to model {config.model!r} (it has '
          f'no {field!r}); sweep one of its fields '
          f'({", ".join(own) or "none"}) or seed/learning_rate.'
      )
  built = []
  for point in members:
    c = member_config(config, point)
    trainer.check_config(c)
    built.append(
        models.build_model(
            c, input_shape, num_classes=num_classes, num_train=num_train
        )
    )
  model = built[0]
  if 'learning_rate' in members[0] and model.param_groups() is not None:
    raise ValueError(
        f'--sweep.learning_rate: model {config.model!r} has several '
        'optimisers (param_groups); sweep its other fields instead.'
    )
  if config.pretrain != 'none':
    raise ValueError('A sweep cannot pretrain; set --config.pretrain=none.')
  if config.nonfinite != 'stop' or config.validation_size:
    raise ValueError(
        "A sweep supports neither --config.nonfinite='skip' nor "
        '--config.validation_size; leave them at their defaults (train such '
        'runs one by one with experiments.train).'
    )
  for m in built[1:]:  # Everything but the swept numbers must match.
    other = {f.name: getattr(m, f.name) for f in dataclasses.fields(m)}
    same = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
    for k in sorted(set(other) - set(members[0])):
      if other[k] != same[k]:
        path, a, b = _first_difference(k, same[k], other[k])
        raise ValueError(
            f'Sweep members differ in {path} ({a!r} vs {b!r}), which '
            'changes the model structure; sweep it with separate runs.'
        )
  return model


def _first_difference(path: str, a, b) -> tuple[str, object, object]:
  """``(dotted path, a's value, b's value)`` of the first field that differs
  inside two unequal dataclasses (e.g. flax modules, whose whole repr would
  bury the one field), or ``(path, a, b)`` themselves."""
  if type(a) is type(b) and dataclasses.is_dataclass(a):
    for f in dataclasses.fields(a):
      if f.name in ('parent', 'name'):  # flax bookkeeping, not structure.
        continue
      x, y = getattr(a, f.name), getattr(b, f.name)
      if x != y:
        return _first_difference(f'{path}.{f.name}', x, y)
  return path, a, b


def check_mesh(k: int, config, mesh: jax.sharding.Mesh) -> None:
  """The K members split evenly over 'model', each batch over 'data'.

  A `NamedSharding` needs every split axis to divide evenly; checked here so
  the user sees the fix instead of an XLA error after compiling.
  """
  if set(mesh.axis_names) != {sharding.MODEL_AXIS, sharding.DATA_AXIS}:
    raise ValueError(
        f'A sweep needs a mesh with axes {sharding.MODEL_AXIS!r} and '
        f'{sharding.DATA_AXIS!r}, got {mesh.axis_names}; build it with '
        'sharding.make_sweep_mesh.'
    )
  m = mesh.shape[sharding.MODEL_AXIS]
  d = mesh.shape[sharding.DATA_AXIS]
  if k % m:
    fits = [n for n in range(1, m + 1) if k % n == 0 and m % n == 0]
    raise ValueError(
        f'The sweep has {k} members, which do not split across the {m} '
        f'devices of the model axis; sweep a multiple of {m} members or set '
        f'--model_parallel to one of {fits}.'
    )
  if config.batch_size % d:
    raise ValueError(
        f'config.batch_size={config.batch_size} must be a multiple of the {d} '
        f'devices of the data axis; set --config.batch_size='
        f'{max(d, config.batch_size // d * d)} or a larger --model_parallel.'
    )


def member_dirs(workdir: epath.Path) -> list[epath.Path]:
  return sorted(
      (d for d in workdir.glob('member_*') if d.name[7:].isdigit()),
      key=lambda d: int(d.name[7:]),
  )


def check_existing(workdir: epath.Path, config, members) -> None:
  """A work directory that holds a sweep may only be given the same sweep.

  Another sweep written over it would leave its files disagreeing (a
  member's config.json from the new sweep beside the old one's
  checkpoint), so it is refused before any work, naming the differences.
  Members a killed sweep did not get to write count as unfinished: the same
  sweep run again writes them.
  """
  old = member_dirs(workdir)
  planned = [json.loads(member_config(config, p).to_json()) for p in members]
  problems = []
  if len(old) > len(planned):
    problems.append(f'{len(old)} members there, {len(planned)} now')
  for i, (d, new) in enumerate(zip(old, planned)):
    saved = run_files.read_config(d)
    if saved is None:
      continue  # Not written yet when a previous launch stopped.
    diffs = configs.trained_differences(saved, new) + [
        f'{k}: {saved.get(k)!r} -> {new.get(k)!r}'
        for k in ('num_train_steps', 'num_epochs')
        if saved.get(k, new[k]) != new[k]
    ]
    if diffs:
      problems.append(f'member_{i} {"; ".join(diffs)}')
  if problems:
    raise ValueError(
        f'{workdir} already holds another sweep ({", ".join(problems[:3])}'
        f'{", ..." if len(problems) > 3 else ""}); writing this one over it '
        'would mix the two. Use a new --workdir. Nothing was changed.'
    )


def check_same_data(workdir: epath.Path, described: dict) -> None:
  """The members already written were trained on the data now loaded."""
  for d in member_dirs(workdir):
    run_files.check_same_data(d, described)
