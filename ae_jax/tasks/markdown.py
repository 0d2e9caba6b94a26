"""Markdown tables of result rows: what every binary prints."""

from collections.abc import Mapping, Sequence
from typing import Any


def cell(value: Any, digits: int = 4) -> str:
  """A table cell: floats to ``digits`` significant digits, flags as yes/no."""
  if isinstance(value, bool):
    return 'yes' if value else 'no'
  if isinstance(value, float):
    return f'{value:.{digits}g}'
  return str(value)


def table(
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str] | None = None,
    *,
    digits: int = 4,
) -> str:
  """``rows`` as a Markdown table; columns ``keys`` (default: the first
  row's scalar entries, in order). Lists and dicts stay out of the table."""
  if keys is None:
    keys = [k for k, v in rows[0].items() if not isinstance(v, (list, dict))]
  lines = ['| ' + ' | '.join(keys) + ' |', '|' + '---|' * len(keys)]
  lines += [
      '| ' + ' | '.join(cell(r.get(k), digits) for k in keys) + ' |'
      for r in rows
  ]
  return '\n'.join(lines)


def _is_rows(value) -> bool:
  return (
      isinstance(value, list)
      and bool(value)
      and all(isinstance(r, dict) for r in value)
  )


def task_tables(task: str, result: Mapping[str, Any]) -> str:
  """An evaluation task's result: its 'rows' (or its scalars) as one table,
  and each other list of row dicts (e.g. probe's 'label_efficiency') as
  another. Per-unit lists and nested dicts stay in the JSON file."""
  tables = {task: result['rows'] if 'rows' in result else [result]}
  tables.update(
      {
          f'{task} {k}': v
          for k, v in result.items()
          if k != 'rows' and _is_rows(v)
      }
  )
  return '\n'.join(f'{name}:\n{table(rows)}' for name, rows in tables.items())
