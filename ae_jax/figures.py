"""Matplotlib figures written to a work directory (PNG, Agg backend, no display).

Plain functions of NumPy arrays, so they serve the trainer, the evaluation
binaries and notebooks alike. Matplotlib is imported by the first figure
(`_pyplot`), not by importing this module: the binaries start faster.
"""

from collections.abc import Sequence
import io
import math

import functools

import numpy as np

from ae_jax.train import workdir


@functools.cache
def _pyplot():
  """``matplotlib.pyplot`` on the Agg backend (files only, no display)."""
  # pylint: disable=g-import-not-at-top
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  return plt


def image_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
  """(H, W, C) of the images behind ``input_shape``, for drawing and image
  metrics: `image_shape_or_none`'s rule with any side (a flat vector of 16
  is a 4 x 4 image here); raises for inputs that are not images."""
  shape = image_shape_or_none(input_shape, min_side=1)
  if shape is None:
    raise ValueError(
        f'Cannot draw inputs of shape {tuple(input_shape)} as images: they '
        'need [H, W, C] with 1 or 3 channels, [H, W], or a flat S*S*C '
        'vector.'
    )
  return shape


def drawable(is_images: bool, input_shape: Sequence[int]) -> bool:
  """Whether examples of ``input_shape`` can be drawn as images: image data
  (not a table's vectors) with 1 or 3 channels. ``[H, W, 4]`` arrays (RGBA,
  spectra) train as images but get no image figures or image tasks."""
  return (
      bool(is_images)
      and image_shape_or_none(input_shape, min_side=1) is not None
  )


# The smallest side of a flat vector read as a square image (sklearn's 8 x 8
# digits are the smallest images here): a table of, say, 4 or 9 columns is not
# an image.
MIN_IMAGE_SIDE = 8


def image_shape_or_none(
    input_shape: Sequence[int], *, min_side: int = MIN_IMAGE_SIDE
) -> tuple[int, int, int] | None:
  """``(H, W, C)`` of the images behind examples of ``input_shape`` (C = 1
  or 3), or None for vectors that are not images.

  ``[H, W, C]`` and ``[H, W]`` (the 'sequence' layout: rows as steps) are
  images; a flat ``[D]`` vector is one only when D = S * S * C with C = 1
  or 3 and S >= ``min_side`` (`MIN_IMAGE_SIDE`). Every "is this an image?"
  decision (sprites, the sample-quality classifier, image anomaly scores)
  goes through here, and `image_shape` (drawing) with any side.
  """
  shape = tuple(int(s) for s in input_shape)
  if len(shape) == 3:
    return shape if shape[-1] in (1, 3) else None
  if len(shape) == 2:
    return (*shape, 1)
  if len(shape) != 1:
    return None
  for channels in (1, 3):
    side = math.isqrt(shape[0] // channels)
    if side >= min_side and side * side * channels == shape[0]:
      return (side, side, channels)
  return None


def image_grid(
    images: np.ndarray, input_shape: Sequence[int], ncols: int
) -> np.ndarray:
  """Tiles ``images`` ``[N, *input_shape]`` into one ``[rows*H, ncols*W, C]`` array."""
  h, w, c = image_shape(input_shape)
  images = np.clip(np.asarray(images, np.float32).reshape(-1, h, w, c), 0, 1)
  rows = -(-len(images) // ncols)
  pad = rows * ncols - len(images)
  images = np.concatenate([images, np.ones((pad, h, w, c), np.float32)])
  grid = images.reshape(rows, ncols, h, w, c).transpose(0, 2, 1, 3, 4)
  return grid.reshape(rows * h, ncols * w, c)


def _show(ax, grid: np.ndarray) -> None:
  if grid.shape[-1] == 1:
    ax.imshow(
        grid[..., 0], cmap='gray', vmin=0, vmax=1, interpolation='nearest'
    )
  else:
    ax.imshow(grid, interpolation='nearest')
  ax.set_xticks([])
  ax.set_yticks([])


def _save(fig, path, *, tight: bool = True) -> None:
  """Writes ``fig`` as a PNG atomically (a kill leaves no truncated file)."""
  if tight:
    fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=100)
  _pyplot().close(fig)
  workdir.write_bytes(path, buffer.getvalue())


def save_image_grid(
    path,
    images: np.ndarray,
    input_shape: Sequence[int],
    *,
    title: str,
    ncols: int = 8,
) -> None:
  """A grid of images (samples, interpolations, ...)."""
  grid = image_grid(images, input_shape, ncols)
  fig, ax = _pyplot().subplots(
      figsize=(ncols, grid.shape[0] / grid.shape[1] * ncols + 0.6)
  )
  _show(ax, grid)
  ax.set_title(title)
  _save(fig, path)


def save_reconstructions(
    path,
    originals: np.ndarray,
    reconstructions: np.ndarray,
    input_shape: Sequence[int],
    *,
    title: str,
) -> None:
  """Originals (top row of each pair) above their reconstructions."""
  save_image_rows(
      path,
      {'input': originals, 'output': reconstructions},
      input_shape,
      title=title,
  )


def save_image_rows(
    path,
    rows: dict[str, np.ndarray],
    input_shape: Sequence[int],
    *,
    title: str,
) -> None:
  """One labelled row of images per entry of ``rows`` (equal lengths)."""
  n = len(next(iter(rows.values())))
  width = max(0.6 * n, 4.0) + 1.5  # Room for the row labels.
  fig, axes = _pyplot().subplots(
      len(rows),
      1,
      figsize=(width, 0.6 + len(rows) * (width - 1.5) / n),
      squeeze=False,
  )
  for ax, (label, images) in zip(axes[:, 0], rows.items()):
    _show(ax, image_grid(images, input_shape, n))
    ax.set_ylabel(label, rotation=0, ha='right', va='center', fontsize=8)
  axes[0, 0].set_title(title)
  _save(fig, path)


def project_2d(codes: np.ndarray) -> tuple[np.ndarray, str]:
  """Codes ``[N, D]`` -> ``[N, 2]``: as they are for D = 2, else PCA."""
  codes = np.asarray(codes, np.float64)
  if codes.shape[1] == 1:
    return np.concatenate([codes, np.zeros_like(codes)], axis=1), 'code'
  if codes.shape[1] == 2:
    return codes, 'code'
  from sklearn.decomposition import PCA  # pylint: disable=g-import-not-at-top

  return PCA(n_components=2, random_state=0).fit_transform(codes), 'PCA of code'


def save_latent_scatter(
    path,
    codes: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str,
) -> None:
  """2-D scatter of test codes coloured by class (PCA first if D > 2)."""
  xy, axis_name = project_2d(codes)
  fig, ax = _pyplot().subplots(figsize=(7, 6))
  _scatter_by_class(ax, xy, labels, class_names)
  ax.set_xlabel(f'{axis_name} 1')
  ax.set_ylabel(f'{axis_name} 2')
  ax.set_title(f'{title} (latent dim {codes.shape[1]})')
  ax.legend(markerscale=3, fontsize=8, loc='best', title='class')
  _save(fig, path)


def _scatter_by_class(
    ax, xy: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> None:
  """Points ``xy`` ``[N, 2]``, one colour and legend label per class id."""
  cmap = _pyplot().get_cmap('tab10' if len(class_names) <= 10 else 'tab20')
  for k, name in enumerate(class_names):
    sel = labels == k
    ax.scatter(
        xy[sel, 0],
        xy[sel, 1],
        s=4,
        alpha=0.6,
        color=cmap(k % cmap.N),
        label=str(name),
    )


def save_embeddings(
    path,
    panels: dict[str, np.ndarray],
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str,
    axis_names: dict[str, str] | None = None,
    ncols: int | None = None,
) -> None:
  """Side-by-side 2-D embeddings of the same points, coloured by class.

  Args:
    path: PNG to write.
    panels: ``panel title -> xy`` ``[N, 2]``, the same N points in each
      (e.g. codes, a t-SNE of the codes, PCA of the pixels).
    labels: integer class ids ``[N]`` in ``[0, len(class_names))``.
    class_names: legend entry of each class id (one legend for the figure).
    title: figure title.
    axis_names: ``panel title -> axis name``; the axes read ``'<name> 1'``
      and ``'<name> 2'`` (default ``'dim'``).
    ncols: panels per row; default: all of up to 3 panels in one row, else
      two rows.

  Raises:
    ValueError: on no panels, a panel that is not ``[N, 2]``, or labels that
      do not match the points or the class names.
  """
  if not panels:
    raise ValueError('save_embeddings: panels is empty; pass title -> xy')
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.dtype.kind not in 'iu':
    raise ValueError(
        f'save_embeddings: labels must be 1-D integer class ids, got shape '
        f'{labels.shape} and dtype {labels.dtype}'
    )
  if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
    raise ValueError(
        f'save_embeddings: labels span [{labels.min()}, {labels.max()}] but '
        f'there are {len(class_names)} class_names; pass a name per class'
    )
  for name, xy in panels.items():
    if np.shape(xy) != (len(labels), 2):
      raise ValueError(
          f'save_embeddings: panel {name!r} has shape {np.shape(xy)}; every '
          f'panel must be [N, 2] with N = len(labels) = {len(labels)}'
      )
  axis_names = axis_names or {}
  if ncols is None:
    ncols = len(panels) if len(panels) <= 3 else -(-len(panels) // 2)
  ncols = min(ncols, len(panels))
  nrows = -(-len(panels) // ncols)
  fig, axes = _pyplot().subplots(
      nrows, ncols, figsize=(4.6 * ncols + 1.8, 4.4 * nrows), squeeze=False
  )
  for ax, (name, xy) in zip(axes.flat, panels.items()):
    _scatter_by_class(ax, np.asarray(xy, np.float64), labels, class_names)
    axis = axis_names.get(name, 'dim')
    ax.set_xlabel(f'{axis} 1')
    ax.set_ylabel(f'{axis} 2')
    ax.set_title(name, fontsize=10)
    ax.tick_params(labelsize=7)
  for ax in axes.flat[len(panels) :]:
    ax.axis('off')
  handles, names = axes.flat[0].get_legend_handles_labels()
  fig.legend(
      handles,
      names,
      loc='center right',
      markerscale=3,
      fontsize=9,
      title='class',
  )
  fig.suptitle(title)
  fig.tight_layout(rect=(0, 0, 1 - 1.7 / fig.get_figwidth(), 1))
  _save(fig, path, tight=False)


def save_loss_curve(
    path, records: Sequence[dict], *, metric: str = 'loss', title: str
) -> None:
  """Training and test ``metric`` against step, from metrics.jsonl records."""
  fig, ax = _pyplot().subplots(figsize=(7, 4.5))
  for split, style in (('train', '-'), ('test', 'o-')):
    pts = [
        (r['step'], r[metric])
        for r in records
        if r.get('split') == split and isinstance(r.get(metric), (int, float))
    ]
    if pts:
      steps, values = zip(*pts)
      ax.plot(steps, values, style, label=split, markersize=4)
  ax.set_xlabel('training step')
  ax.set_ylabel(f'{metric} (per example)')
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend()
  _save(fig, path)


def save_sweep(
    path,
    values: Sequence[float],
    left: tuple[str, Sequence[float]],
    right: tuple[str, Sequence[float]],
    *,
    xlabel: str,
    title: str,
) -> None:
  """Two metrics against a swept hyperparameter, on a left and a right axis."""
  fig, ax = _pyplot().subplots(figsize=(7, 4.5))
  (name_l, ys_l), (name_r, ys_r) = left, right
  ax.plot(values, ys_l, 'o-', color='tab:blue', label=name_l)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(name_l, color='tab:blue')
  twin = ax.twinx()
  twin.plot(values, ys_r, 's--', color='tab:red', label=name_r)
  twin.set_ylabel(name_r, color='tab:red')
  ax.set_title(title)
  ax.grid(alpha=0.3)
  fig.legend(loc='upper center', bbox_to_anchor=(0.5, 0.9), fontsize=8)
  _save(fig, path)


def save_sweep_result(path, rows: Sequence[dict], model: str) -> None:
  """``sweep.png`` of a one-field sweep (its first key): test loss and a
  second test metric (mse, KL or negative ELBO, when logged) per value."""
  field = next(iter(rows[0]))
  xs = [r[field] for r in rows]
  loss = ('test loss', [r['test_loss'] for r in rows])
  title = f'Sweep of {model} over {field}'
  metric = next(
      (
          f'test_{m}'
          for m in ('mse', 'loss_kl', 'neg_elbo')
          if f'test_{m}' in rows[-1]
      ),
      None,
  )
  if metric:
    second = (metric.replace('_', ' '), [r[metric] for r in rows])
    save_sweep(path, xs, loss, second, xlabel=field, title=title)
  else:
    save_curves(
        path,
        {'test loss': (xs, loss[1])},
        xlabel=field,
        ylabel='test loss',
        title=title,
    )


def save_curves(
    path,
    curves: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    logx: bool = False,
    logy: bool = False,
) -> None:
  """One line with markers per ``label -> (xs, ys)``, on shared axes."""
  fig, ax = _pyplot().subplots(figsize=(7, 4.5))
  for label, (xs, ys) in curves.items():
    ax.plot(xs, ys, 'o-', label=label, markersize=4)
  if logx:
    ax.set_xscale('log')
  if logy:
    ax.set_yscale('log')
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save(fig, path)


def save_bars(
    path,
    labels: Sequence[str],
    values: dict[str, Sequence[float]],
    *,
    ylabel: str,
    title: str,
    reference: dict[str, float] | None = None,
    ylim: tuple[float, float] | None = None,
) -> None:
  """Grouped bars: one group per label, one bar per ``values`` series;
  ``reference`` draws labelled horizontal lines (e.g. a mean or a baseline)."""
  fig, ax = _pyplot().subplots(figsize=(max(7, 0.7 * len(labels)), 4.5))
  width = 0.8 / max(len(values), 1)
  xs = np.arange(len(labels))
  for i, (name, ys) in enumerate(values.items()):
    ax.bar(xs + (i - (len(values) - 1) / 2) * width, ys, width, label=name)
  for j, (name, y) in enumerate((reference or {}).items()):
    ax.axhline(y, color=f'C{len(values) + j}', linestyle='--', label=name)
  ax.set_xticks(xs)
  ax.set_xticklabels(labels, rotation=30, ha='right', fontsize=8)
  ax.set_ylabel(ylabel)
  if ylim is not None:
    ax.set_ylim(*ylim)
  ax.set_title(title)
  ax.grid(alpha=0.3, axis='y')
  ax.legend(fontsize=8)
  _save(fig, path)


def save_matrix(
    path,
    matrix: np.ndarray,
    *,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
) -> None:
  """A heat map of ``matrix`` ``[len(rows), len(columns)]``, values printed."""
  matrix = np.asarray(matrix, np.float64)
  fig, ax = _pyplot().subplots(
      figsize=(1.2 + 1.1 * len(columns), 1.0 + 0.4 * len(rows))
  )
  image = ax.imshow(matrix, cmap='viridis', aspect='auto')
  for (i, j), value in np.ndenumerate(matrix):
    ax.text(
        j,
        i,
        f'{value:.2f}',
        ha='center',
        va='center',
        fontsize=7,
        color='white' if value < 0.6 * matrix.max() else 'black',
    )
  ax.set_xticks(range(len(columns)))
  ax.set_xticklabels(columns, rotation=30, ha='right', fontsize=8)
  ax.set_yticks(range(len(rows)))
  ax.set_yticklabels(rows, fontsize=8)
  fig.colorbar(image, ax=ax)
  ax.set_title(title, fontsize=9)
  _save(fig, path)


def save_points(
    path,
    groups: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    panels: Sequence[str],
    xlabel: str,
    title: str,
) -> None:
  """One panel per metric: a point per member (x = hyperparameter), one
  colour per group (e.g. per objective). ``groups[name] = (xs, rows)``
  where each row maps the panel names to values."""
  fig, axes = _pyplot().subplots(
      1, len(panels), figsize=(3.6 * len(panels), 3.6), squeeze=False
  )
  for ax, panel in zip(axes[0], panels):
    for k, (name, (xs, rows)) in enumerate(groups.items()):
      ax.plot(
          xs,
          [r[panel] for r in rows],
          'o',
          color=f'C{k}',
          alpha=0.75,
          label=name,
      )
    ax.set_xlabel(xlabel)
    ax.set_title(panel.replace('_', ' '), fontsize=9)
    ax.grid(alpha=0.3)
  axes[0, 0].legend(fontsize=7)
  fig.suptitle(title, fontsize=10)
  _save(fig, path)


def save_vector_field(
    path,
    points: np.ndarray,
    vectors: np.ndarray,
    *,
    density: np.ndarray | None = None,
    extent: Sequence[float] | None = None,
    title: str,
) -> None:
  """Arrows of the directions of ``vectors [N, 2]`` at ``points [N, 2]``,
  coloured by their length (a colour bar; lengths span orders of magnitude,
  so drawn to scale the short ones would vanish), over an optional
  background ``density [H, W]`` (e.g. a log-density on a grid, row 0 at the
  bottom) spanning ``extent = (x0, x1, y0, y1)``."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6.6, 6))
  if density is not None:
    ax.imshow(density, origin='lower', extent=extent, cmap='Greys', alpha=0.6)
  points = np.asarray(points, np.float64)
  vectors = np.asarray(vectors, np.float64)
  length = np.linalg.norm(vectors, axis=1)
  unit = vectors / np.maximum(length, 1e-12)[:, None]
  arrows = ax.quiver(
      points[:, 0],
      points[:, 1],
      unit[:, 0],
      unit[:, 1],
      np.log10(np.maximum(length, 1e-6)),
      cmap='viridis',
      angles='xy',
      scale_units='xy',
      # Unit arrows 0.8 grid cells long on a square grid of the points.
      scale=1.0
      / (0.8 * np.ptp(points[:, 0]) / max(np.sqrt(len(points)) - 1, 1)),
      pivot='mid',
      width=0.004,
  )
  fig.colorbar(arrows, ax=ax, shrink=0.8, label='log10 length')
  ax.set_aspect('equal')
  ax.set_title(title, fontsize=9)
  _save(fig, path)


def save_point_sets(
    path,
    panels: dict[str, np.ndarray],
    *,
    background: np.ndarray | None = None,
    title: str,
) -> None:
  """One scatter panel per entry of ``panels`` (``[N, 2]`` points each),
  drawn over the grey ``background [M, 2]`` points (e.g. the data), with
  shared axes."""
  plt = _pyplot()
  fig, axes = plt.subplots(
      1,
      len(panels),
      figsize=(3.2 * len(panels), 3.5),
      squeeze=False,
      sharex=True,
      sharey=True,
  )
  for ax, (label, points) in zip(axes[0], panels.items()):
    if background is not None:
      ax.scatter(*np.asarray(background).T, s=1, c='0.75', lw=0)
    ax.scatter(*np.asarray(points).T, s=1.5, c='C0', lw=0)
    ax.set_title(label, fontsize=8)
    ax.set_aspect('equal')
  fig.suptitle(title, fontsize=10)
  _save(fig, path)
