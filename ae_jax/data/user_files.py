"""The user's own data, named on the command line as ``<kind>:<path>``.

``--config.dataset=``

  ``npz:/path/file.npz``  arrays ``x_train`` and ``x_test`` (images
                          ``[N, H, W]`` / ``[N, H, W, C]`` or vectors
                          ``[N, D]``; uint8 read as ``x / 255``, floats as
                          they are), optional integer ``y_train`` and
                          ``y_test`` (both or neither);
  ``images:/path/dir``    PNG/JPEG/BMP/GIF files, one sub-folder per class
                          (the folder names, sorted, are the classes; files
                          directly in the folder make one class). Read as
                          grey levels when every file is grey, else RGB, in
                          [0, 1] (8-bit files; hidden files and folders are
                          skipped); resized to ``image_size`` x ``image_size``
                          when that is > 0, else all files must have one
                          size. Split into train and test by
                          ``test_fraction``, stratified by class;
  ``csv:/path/file.csv``  a table (UTF-8, a byte-order mark allowed) with a
                          header row: every column numeric
                          except ``label_column`` (optional; its values,
                          numbers or names, are the classes). Split by
                          ``test_fraction``; each column is standardised with
                          the mean and standard deviation of the train split,
                          recorded in `Dataset.preprocessing` (the work
                          directory's ``dataset.json``, which
                          ``ae_jax.load(dir).preprocess`` applies to new
                          rows).

Splits are drawn with a fixed seed (`SPLIT_SEED`), not the run's seed, so
runs that differ only in their seed see the same split. Data without labels
gets label 0 for every example (one class). Every refusal names the file and
the fix, before anything is trained.
"""

from __future__ import annotations

import csv
import math
import zipfile

from etils import epath
import numpy as np

__all__ = [
    'KINDS',
    'SPLIT_SEED',
    'load_user_data',
    'parse_source',
    'standardize',
]

KINDS = ('npz', 'images', 'csv')
SPLIT_SEED = 0
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.gif')
# Fewer than this many rows in a split cannot be trained or evaluated on.
_MIN_ROWS = 2


class UserDataError(ValueError):
  """A user's data file or folder cannot be used; the message says why."""


def parse_source(name: str) -> tuple[str, str] | None:
  """``(kind, path)`` of ``'npz:/p'``, ``'images:/p'`` or ``'csv:/p'``;
  None for a dataset name."""
  kind, sep, path = name.partition(':')
  if not sep or kind not in KINDS:
    return None
  if not path:
    raise UserDataError(
        f'config.dataset={name!r} names no path; write '
        f'--config.dataset={kind}:/path/to/{_EXAMPLE[kind]}.'
    )
  return kind, path


_EXAMPLE = {'npz': 'file.npz', 'images': 'folder', 'csv': 'file.csv'}


def load_user_data(
    name: str,
    *,
    image_size: int = 0,
    test_fraction: float = 0.2,
    label_column: str = '',
) -> dict:
  """The splits of a ``<kind>:<path>`` source, before layout and checks.

  Returns:
    ``{'splits': {'train': (x, y), 'test': (x, y)}, 'num_classes',
    'class_names', 'images': bool, 'preprocessing': dict | None}`` with x
    float32 (``[N, H, W, C]`` for images, ``[N, D]`` for vectors) and y
    int32.

  Raises:
    UserDataError: naming the file and the fix.
  """
  kind, path = parse_source(name)
  path = epath.Path(path).expanduser()
  if kind != 'images' and image_size:
    raise UserDataError(
        f'config.image_size={image_size} applies to images: folders only; '
        f'{path} is read at its own size. Set --config.image_size=0.'
    )
  if kind != 'npz':
    _check_fraction(test_fraction)
  if kind == 'csv':
    out = _load_csv(path, test_fraction, label_column)
  elif label_column:
    raise UserDataError(
        f'config.label_column={label_column!r} applies to csv: data only; '
        f'{kind}: data takes its labels from '
        + ('y_train/y_test' if kind == 'npz' else 'its sub-folders')
        + '. Set --config.label_column=.'
    )
  elif kind == 'npz':
    out = _load_npz(path)
  else:
    out = _load_image_folder(path, image_size, test_fraction)
  for split, (x, _) in out['splits'].items():
    bad = np.size(x) - np.count_nonzero(np.isfinite(x))
    if bad:
      raise UserDataError(
          f'{path}: {split} split has {bad} NaN or inf values; drop or '
          'impute those rows before training.'
      )
    if len(x) < _MIN_ROWS:
      raise UserDataError(
          f'{path}: the {split} split has {len(x)} example(s); at least '
          f'{_MIN_ROWS} are needed'
          + ('' if kind == 'npz' else ' (add rows or change test_fraction)')
          + '.'
      )
  return out


def _check_fraction(test_fraction) -> None:
  if not (isinstance(test_fraction, float) and 0 < test_fraction < 1):
    raise UserDataError(
        f'config.test_fraction={test_fraction!r} must be a float in (0, 1) '
        '(the share of examples held out as the test split); set '
        '--config.test_fraction=0.2, say.'
    )


def _missing(path: epath.Path, what: str) -> UserDataError:
  return UserDataError(
      f'{path} does not exist or is not {what}; check the path in '
      '--config.dataset.'
  )


# ---------------------------------------------------------------------------
# npz
# ---------------------------------------------------------------------------


def _load_npz(path: epath.Path) -> dict:
  if not path.is_file():
    raise _missing(path, 'a file')
  try:
    with np.load(path, allow_pickle=False) as f:
      arrays = {key: f[key] for key in f.files}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise UserDataError(
        f'{path} is not a readable .npz file ({type(e).__name__}: {e}); '
        'write it with np.savez(path, x_train=..., x_test=..., '
        'y_train=..., y_test=...).'
    ) from e
  missing = [k for k in ('x_train', 'x_test') if k not in arrays]
  if missing:
    raise UserDataError(
        f'{path} has no array {" or ".join(missing)} (it holds '
        f'{sorted(arrays) or "nothing"}); save x_train and x_test (and '
        'optionally y_train, y_test) with np.savez.'
    )
  has_y = [k in arrays for k in ('y_train', 'y_test')]
  if any(has_y) and not all(has_y):
    raise UserDataError(
        f'{path} has only one of y_train and y_test; save both or neither.'
    )
  xs = {s: _npz_values(path, s, arrays[f'x_{s}']) for s in ('train', 'test')}
  if xs['train'].shape[1:] != xs['test'].shape[1:]:
    raise UserDataError(
        f'{path}: x_train examples have shape {xs["train"].shape[1:]} but '
        f'x_test examples {xs["test"].shape[1:]}; give both one shape.'
    )
  if all(has_y):
    ys = {s: _npz_labels(path, s, arrays[f'y_{s}'], len(xs[s])) for s in xs}
    num_classes = int(max(y.max() for y in ys.values())) + 1
  else:
    ys = {s: np.zeros(len(x), np.int32) for s, x in xs.items()}
    num_classes = 1
  images = xs['train'].ndim == 4
  return {
      'splits': {s: (xs[s], ys[s]) for s in xs},
      'num_classes': num_classes,
      'class_names': tuple(str(i) for i in range(num_classes)),
      'images': images,
      'preprocessing': (
          {'kind': 'unit_scale', 'divide_by': 255.0}
          if arrays['x_train'].dtype == np.uint8
          else None
      ),
  }


def _npz_values(path, split: str, x: np.ndarray) -> np.ndarray:
  key = f'x_{split}'
  if x.dtype == np.uint8:
    x = x.astype(np.float32) / np.float32(255)
  elif x.dtype.kind == 'f' or x.dtype == bool:
    if x.dtype.kind == 'f' and x.dtype.itemsize > 4:
      # Finite float64 values beyond float32 would read as inf below.
      big = np.isfinite(x) & (np.abs(x) > np.finfo(np.float32).max)
      if big.any():
        raise UserDataError(
            f'{path}: {key} has {int(big.sum())} finite values beyond '
            f'float32 (largest {float(np.abs(x[big]).max()):g}); the models '
            'compute in float32: rescale the values.'
        )
    x = x.astype(np.float32)
  else:
    raise UserDataError(
        f'{path}: {key} has dtype {x.dtype}; store uint8 pixels (read as '
        'x / 255) or floating-point values (x.astype(np.float32)).'
    )
  if x.ndim == 3:  # Grey images [N, H, W].
    x = x[..., None]
  if x.ndim not in (2, 4) or 0 in x.shape:
    raise UserDataError(
        f'{path}: {key} has shape {x.shape}; store vectors [N, D] or images '
        '[N, H, W] / [N, H, W, C], with N >= 1.'
    )
  return x


def _npz_labels(path, split: str, y: np.ndarray, n: int) -> np.ndarray:
  key = f'y_{split}'
  if y.dtype.kind not in 'iu' or y.shape != (n,) or y.min() < 0:
    raise UserDataError(
        f'{path}: {key} must hold one non-negative integer class id per '
        f'example, shape ({n},), got dtype {y.dtype} and shape {y.shape}; '
        'map the labels to 0..K-1 (np.unique(y, return_inverse=True)).'
    )
  return y.astype(np.int32)


# ---------------------------------------------------------------------------
# A folder of images
# ---------------------------------------------------------------------------


def _load_image_folder(
    root: epath.Path, image_size: int, test_fraction: float
) -> dict:
  if not (isinstance(image_size, int) and image_size >= 0):
    raise UserDataError(
        f'config.image_size={image_size!r} must be an integer >= 0 (0 = the '
        "files' own size); set --config.image_size=32, say."
    )
  if not root.is_dir():
    raise _missing(root, 'a folder')
  folders = sorted(
      p
      for p in root.iterdir()
      if p.is_dir() and not p.name.startswith(('.', '__'))  # __MACOSX
  )
  groups = [(p.name, _image_files(p)) for p in folders]
  groups = [(name, files) for name, files in groups if files]
  if not groups:
    files = _image_files(root)
    groups = [(root.name, files)] if files else []
  if not groups:
    raise UserDataError(
        f'{root} holds no image files ({", ".join(IMAGE_SUFFIXES)}) in it '
        'or in its sub-folders; put one sub-folder of images per class there.'
    )
  from PIL import Image  # pylint: disable=g-import-not-at-top

  opened, labels = [], []
  for label, (_, files) in enumerate(groups):
    for file in files:
      try:
        with Image.open(file) as image:
          image.load()
          opened.append((file, image.copy()))
      except (OSError, ValueError, SyntaxError) as e:
        raise UserDataError(
            f'{file} is not a readable image ({e}); repair or remove it.'
        ) from e
      labels.append(label)
  for file, im in opened:
    if im.mode in ('I', 'I;16', 'I;16B', 'F'):
      raise UserDataError(
          f'{file} has {im.mode} pixels (16-bit or float); save 8-bit PNG or '
          'JPEG images (0-255), which are read as x / 255.'
      )
  grey = all(im.mode in ('1', 'L', 'LA') for _, im in opened)
  mode = 'L' if grey else 'RGB'
  if not image_size:
    sizes = {im.size for _, im in opened}
    if len(sizes) > 1:
      first = {}
      for file, im in opened:
        first.setdefault(im.size, file)
      (a, fa), (b, fb) = list(first.items())[:2]
      raise UserDataError(
          f'{root}: images have different sizes ({fa.name} is {a[0]}x{a[1]}, '
          f'{fb.name} is {b[0]}x{b[1]}); set --config.image_size=N to resize '
          'every image to N x N.'
      )
  arrays = []
  for _, im in opened:
    im = im.convert(mode)
    if image_size and im.size != (image_size, image_size):
      im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
    a = np.asarray(im, np.float32) / np.float32(255)
    arrays.append(a[..., None] if a.ndim == 2 else a)
  x = np.stack(arrays)
  y = np.asarray(labels, np.int32)
  train, test = _split_rows(y, test_fraction, root)
  return {
      'splits': {'train': (x[train], y[train]), 'test': (x[test], y[test])},
      'num_classes': len(groups),
      'class_names': tuple(name for name, _ in groups),
      'images': True,
      # 8-bit pixels / 255 (after the resize to image_size, if any).
      'preprocessing': {'kind': 'unit_scale', 'divide_by': 255.0},
  }


def _image_files(folder: epath.Path) -> list[epath.Path]:
  """Image files, without hidden ones (``.x.png``, macOS's ``._x.png``)."""
  return sorted(
      p
      for p in folder.iterdir()
      if p.is_file()
      and p.suffix.lower() in IMAGE_SUFFIXES
      and not p.name.startswith('.')
  )


def _split_rows(y: np.ndarray, test_fraction: float, where) -> tuple:
  """Train and test row indices: a seeded split, stratified by class where
  every class has at least 2 examples."""
  n = len(y)
  num_test = math.ceil(n * test_fraction)
  if num_test < _MIN_ROWS or n - num_test < _MIN_ROWS:
    raise UserDataError(
        f'{where}: {n} example(s) cannot be split into train and test of at '
        f'least {_MIN_ROWS} each at test_fraction={test_fraction}; add '
        'examples or change --config.test_fraction.'
    )
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top

  counts = np.bincount(y)
  stratify = y if counts[counts > 0].min() >= 2 else None
  try:
    train, test = model_selection.train_test_split(
        np.arange(n),
        test_size=num_test,
        random_state=SPLIT_SEED,
        stratify=stratify,
    )
  except ValueError:  # Too few examples per class to stratify this split.
    train, test = model_selection.train_test_split(
        np.arange(n), test_size=num_test, random_state=SPLIT_SEED
    )
  return np.sort(train), np.sort(test)


# ---------------------------------------------------------------------------
# csv
# ---------------------------------------------------------------------------


def _load_csv(path: epath.Path, test_fraction: float, label_column: str):
  if not path.is_file():
    raise _missing(path, 'a file')
  try:
    with open(path, newline='', encoding='utf-8-sig') as f:
      rows = [row for row in csv.reader(f) if any(c.strip() for c in row)]
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise UserDataError(
        f'{path} is not a readable CSV text file ({e}); save it as UTF-8 '
        'comma-separated values with a header row.'
    ) from e
  if len(rows) < 2:
    raise UserDataError(
        f'{path} has {max(len(rows) - 1, 0)} data rows; it needs a header '
        'row and enough data rows for a train and a test split.'
    )
  header = [c.strip() for c in rows[0]]
  if _all_numbers(header):
    raise UserDataError(
        f'{path}: the first row ({", ".join(header[:4])}...) is numbers; add '
        'a header row naming the columns.'
    )
  repeated = sorted({c for c in header if header.count(c) > 1})
  if repeated:
    # Columns are looked up by name: the first would be read twice.
    raise UserDataError(
        f'{path}: the header names column(s) {", ".join(map(repr, repeated))} '
        'more than once; give every column its own name.'
    )
  body = rows[1:]
  for i, row in enumerate(body):
    if len(row) != len(header):
      raise UserDataError(
          f'{path}, line {i + 2}: {len(row)} cells, but the header has '
          f'{len(header)}; every row needs one cell per column.'
      )
  if label_column and label_column not in header:
    raise UserDataError(
        f'config.label_column={label_column!r} is not a column of {path} '
        f'(columns: {", ".join(header)}); set --config.label_column to one '
        'of them, or to nothing for data without labels.'
    )
  features = [c for c in header if c != label_column]
  if not features:
    raise UserDataError(f'{path} has no feature column besides the label.')
  columns = []
  for name in features:
    j = header.index(name)
    values = np.empty(len(body), np.float64)
    for i, row in enumerate(body):
      cell = row[j].strip()
      try:
        values[i] = float(cell) if cell else math.nan
      except ValueError:
        raise UserDataError(
            f'{path}, line {i + 2}, column {name!r}: {cell!r} is not a '
            'number; drop the column, encode it as numbers, or name it '
            'with --config.label_column if it is the label.'
        ) from None
    bad = ~np.isfinite(values)
    if bad.any():
      raise UserDataError(
          f'{path}, column {name!r}: {int(bad.sum())} empty, NaN or inf '
          f'cells (first on line {int(np.argmax(bad)) + 2}); drop or impute '
          'those rows before training.'
      )
    columns.append(values)
  x = np.stack(columns, axis=1)
  if label_column:
    cells = [row[header.index(label_column)].strip() for row in body]
    if '' in cells:
      raise UserDataError(
          f'{path}, line {cells.index("") + 2}: the label column '
          f'{label_column!r} is empty ({cells.count("")} rows); label every '
          'row or drop the unlabelled ones.'
      )
    class_names, y = _label_ids(cells)
  else:
    class_names, y = ('0',), np.zeros(len(body), np.int32)
  train, test = _split_rows(y, test_fraction, path)
  mean = x[train].mean(axis=0)
  std = x[train].std(axis=0)
  constant = [name for name, s in zip(features, std) if not s > 0]
  if constant:
    raise UserDataError(
        f'{path}: column(s) {", ".join(map(repr, constant))} hold one value '
        'in the train split: they carry no information, and a learned '
        'per-feature variance of one would shrink without bound. Drop them.'
    )
  preprocessing = {
      'kind': 'standardize',
      'columns': features,
      'mean': mean.tolist(),
      'std': std.tolist(),
  }
  x = standardize(x, preprocessing)
  return {
      'splits': {'train': (x[train], y[train]), 'test': (x[test], y[test])},
      'num_classes': len(class_names),
      'class_names': class_names,
      'images': False,
      'preprocessing': preprocessing,
  }


def _all_numbers(cells) -> bool:
  try:
    [float(c) for c in cells]
  except ValueError:
    return False
  return True


def _label_ids(cells: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
  """Class names (sorted; numerically when every label is a number) and
  each row's class id."""
  names = sorted(set(cells))
  if _all_numbers(names):
    names = sorted(names, key=float)
  ids = {name: i for i, name in enumerate(names)}
  return tuple(names), np.asarray([ids[c] for c in cells], np.int32)


def standardize(rows, preprocessing: dict) -> np.ndarray:
  """``rows`` ``[N, D]`` (raw feature values, in the recorded column
  order) as the model saw them: ``(rows - mean) / std``, float32."""
  x = np.asarray(rows, np.float64)
  mean = np.asarray(preprocessing['mean'])
  if x.ndim != 2 or x.shape[1] != len(mean):
    raise ValueError(
        f'rows have shape {x.shape}; give [N, {len(mean)}] raw values of '
        f'the columns {", ".join(preprocessing["columns"])}, in that order.'
    )
  std = np.asarray(preprocessing['std'])
  columns = preprocessing['columns']
  overflow = [
      c
      for c, m, v in zip(columns, mean, std)
      if not (np.isfinite(m) and np.isfinite(v))
  ]
  if overflow:
    raise ValueError(
        f'column(s) {", ".join(map(repr, overflow))}: their mean or standard '
        'deviation overflows float64 (values of about 1e154 or more), so '
        'every standardised value would be 0; rescale those columns (e.g. '
        'divide by a power of 10) and train again.'
    )
  with np.errstate(over='ignore', invalid='ignore'):
    out = (x - mean) / std
  # Beyond float32 a value would become inf and stop every later step.
  beyond = ~(np.abs(out) <= np.finfo(np.float32).max)
  if beyond.any():
    i, j = np.argwhere(beyond)[0]
    raise ValueError(
        f'row {i}, column {columns[j]!r}: {float(x[i, j]):g} lies '
        f'{float(out[i, j]):.3g} '
        'standard deviations from the training mean, beyond float32 '
        f'({int(beyond.sum())} such cells); clip or drop such rows first.'
    )
  return out.astype(np.float32)
