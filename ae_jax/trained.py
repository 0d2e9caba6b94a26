"""Load a trained work directory and use the model on new arrays.

  import ae_jax
  m = ae_jax.load('runs/vae')
  z = m.encode(x)            # x: float [B, *m.input_shape] in [0, 1]
  x_hat = m.reconstruct(x)
  imgs = m.sample(16, seed=0)  # prior, or an ex-post density (`expost`)

Each call is jitted once per input shape; inputs are checked (rank, shape,
dtype, NaN) with errors that say what was expected.
"""

import logging

from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from ae_jax import configs
from ae_jax import expost
from ae_jax import models
from ae_jax.models import capabilities
from ae_jax.train import checkpoints
from ae_jax.train import run_files
from ae_jax.train import workdir as workdir_lib


def warn_if_out_of_range(
    x, value_range: tuple[float, float] | None, what: str
) -> None:
  """Warns when ``x`` lies far outside the training inputs' range.

  Far means beyond the range widened by twice its width on each side (for
  [0, 1] images: outside [-2, 3]), so noisy or slightly shifted inputs pass
  while 0-255 pixels that were not divided by 255, or overflowing values,
  are named. Not an error: anomalies may lie anywhere.
  """
  if value_range is None:
    return
  lo, hi = value_range
  margin = 2 * max(hi - lo, 1e-6)
  x_lo, x_hi = float(jnp.min(x)), float(jnp.max(x))
  if x_lo < lo - margin or x_hi > hi + margin:
    logging.warning(
        '%s spans [%.4g, %.4g], far outside the range of the training data '
        '[%.4g, %.4g] (dataset.json): scale it like the training data (e.g. '
        '/ 255 for 0-255 pixels); the model never saw such inputs.',
        what,
        x_lo,
        x_hi,
        lo,
        hi,
    )


# The ex-post density of a deterministic autoencoder, in its work directory.
EXPOST_FILE = 'expost_density.npz'


class TrainedModel:
  """A `models.Model` with the parameters of a trained work directory."""

  def __init__(
      self,
      model: models.Model,
      params,
      config: ml_collections.ConfigDict,
      step: int,
      workdir: epath.Path | None = None,
      value_range: tuple[float, float] | None = None,
      preprocessing: dict | None = None,
      is_images: bool = True,
      num_classes: int | None = None,
  ):
    self.model = model
    self.workdir = workdir
    self.params = params
    self.config = config
    self.step = step
    # [min, max] of the training inputs (dataset.json; None for runs saved
    # before it was recorded).
    self.value_range = value_range
    # How raw inputs were prepared (dataset.json; `data.Dataset`): None, a
    # unit scale or a column standardisation (csv: data).
    self.preprocessing = preprocessing
    # False for vectors that are not images (a table): image tasks refuse.
    self.is_images = is_images
    # Classes of the training data (dataset.json; None if not recorded).
    self.num_classes = num_classes
    self._encode = jax.jit(model.encode)
    self._decode = jax.jit(model.decode)
    self._reconstruct = jax.jit(model.reconstruct)
    self._sample = jax.jit(model.sample, static_argnums=2)
    self._expost = None

  @property
  def input_shape(self) -> tuple[int, ...]:
    return self.model.input_shape

  @property
  def latent_dim(self) -> int:
    return self.model.latent_dim

  def _check(self, x, shape: tuple[int, ...], what: str) -> jax.Array:
    x = np.asarray(x) if not isinstance(x, jax.Array) else x
    if not jnp.issubdtype(x.dtype, jnp.floating):
      hint = (
          'scaled like the training data, e.g. x.astype(np.float32) / 255 '
          'for 0-255 pixels'
          if what == 'x'
          else 'codes as encode() returns them'
      )
      raise TypeError(
          f'{what} must be floating point, got dtype {x.dtype}; pass {hint}.'
      )
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
      raise ValueError(
          f'{what} must have shape [batch, {", ".join(map(str, shape))}],'
          f' got {tuple(x.shape)}; this model was trained with '
          f'layout={self.config.layout!r}.'
      )
    if x.shape[0] == 0:
      raise ValueError(
          f'{what} has no rows (shape {tuple(x.shape)}); pass at least one '
          'example.'
      )
    if not bool(jnp.all(jnp.isfinite(x))):
      raise ValueError(f'{what} contains NaN or inf; clean the data first.')
    if what == 'x':
      warn_if_out_of_range(x, self.value_range, 'x')
    return jnp.asarray(x, jnp.float32)

  def preprocess(self, rows) -> np.ndarray:
    """Raw inputs as the model saw them in training, float32.

    For a run on a csv: table, ``rows`` ``[N, D]`` hold the raw values of
    the training columns (``self.preprocessing['columns']``, in that
    order), standardised with the train split's recorded mean and standard
    deviation; for 8-bit images (an npz: of uint8, an images: folder),
    0-255 values are divided by 255 (resize images: folders to
    ``config.image_size`` and lay them out as ``input_shape`` first);
    otherwise the values are returned as float32.
    """
    from ae_jax.data import user_files  # pylint: disable=g-import-not-at-top

    kind = (self.preprocessing or {}).get('kind')
    if kind == 'standardize':
      return user_files.standardize(rows, self.preprocessing)
    x = np.asarray(rows, np.float32)
    if kind == 'unit_scale':
      x = x / np.float32(self.preprocessing['divide_by'])
    return x

  def _with_lengths(self, x, lengths) -> tuple:
    """``(x,)`` or, for the LSTM sequence AE, ``(x, lengths)`` checked:
    steps ``t >= lengths[b]`` of sequence ``b`` are padding."""
    if lengths is None:
      return (x,)
    from ae_jax.models import lstm_ae  # pylint: disable=g-import-not-at-top

    if not isinstance(self.model, lstm_ae.LSTMAutoencoder):
      raise ValueError(
          f'lengths= applies to the LSTM sequence autoencoder; this run is '
          f'{self.config.model!r}. Leave it out.'
      )
    lstm_ae.check_sequences(x, lengths, self.input_shape)
    return x, jnp.asarray(lengths)

  def encode(self, x, lengths=None) -> np.ndarray:
    """Codes ``[B, latent_dim]`` (a VAE's posterior mean); ``lengths``
    ``[B]``: the valid steps of padded sequences (LSTM AE only)."""
    x = self._check(x, self.input_shape, 'x')
    return np.asarray(
        self._encode(self.params, *self._with_lengths(x, lengths))
    )

  def decode(self, z) -> np.ndarray:
    """Mean reconstructions ``[B, *input_shape]`` of codes ``z``."""
    return np.asarray(
        self._decode(self.params, self._check(z, (self.latent_dim,), 'z'))
    )

  def reconstruct(self, x, lengths=None) -> np.ndarray:
    """Mean reconstructions of ``x``; ``lengths`` as in `encode`."""
    x = self._check(x, self.input_shape, 'x')
    return np.asarray(
        self._reconstruct(self.params, *self._with_lengths(x, lengths))
    )

  def expost_density(self, train_x=None):
    """The ex-post density of this model's training codes (`ae_jax.expost`).

    A `expost.CodePrior` over the symbols of a model with discrete codes
    (`capabilities.DiscreteCodes`: the VQ-VAE), else a `expost.GaussianMixture`
    (`expost.DEFAULT_COMPONENTS` components). Fitted once, with seed 0, on
    the codes of ``train_x`` or, when that is None, of the run's training
    split, and kept in ``workdir/`` `EXPOST_FILE` together with the
    fingerprint of the parameters it describes (a file for other
    parameters, or a damaged one, is refitted over).
    """
    if self._expost is not None:
      return self._expost
    from ae_jax.train import distributed  # pylint: disable=g-import-not-at-top

    discrete = isinstance(self.model, capabilities.DiscreteCodes)
    kind = 'code_prior' if discrete else 'gaussian_mixture'
    fingerprint = distributed.params_fingerprint(self.params)
    path = self.workdir / EXPOST_FILE if self.workdir else None
    if path is not None and path.exists():
      try:
        with path.open('rb') as f:
          saved = dict(np.load(f))
        if (
            str(saved.pop('params_sha256')) == fingerprint
            and str(saved.pop('kind')) == kind
        ):
          self._expost = (
              expost.CodePrior.from_arrays(saved)
              if discrete
              else expost.GaussianMixture(**saved)
          )
          return self._expost
      except (ValueError, KeyError, TypeError, OSError) as e:
        logging.warning('Refitting the ex-post density over %s: %s', path, e)
    if train_x is None:
      if self.workdir is None:
        raise ValueError(
            f'model {self.config.model!r} has no prior; sampling needs an '
            'ex-post density of its training codes: call '
            'expost_density(train_x) with the training inputs first.'
        )
      from ae_jax.tasks import common  # pylint: disable=g-import-not-at-top

      train_x = common.load_data(self).train_images
    from ae_jax.metrics import batching  # pylint: disable=g-import-not-at-top

    encode = jax.jit(self.model.code_indices) if discrete else self._encode
    codes = batching.apply_in_batches(
        lambda x: encode(self.params, x),
        np.asarray(train_x, np.float32),
        batch_size=int(getattr(self.config, 'eval_batch_size', 500)),
    )
    if discrete:
      self._expost = expost.fit_code_prior(codes, self.model.codebook_size)
    else:
      self._expost = expost.fit_gaussian_mixture(codes)
    if path is not None:
      try:
        tmp = path.parent / f'{EXPOST_FILE}.tmp'
        with tmp.open('wb') as f:
          np.savez(
              f,
              params_sha256=fingerprint,
              kind=kind,
              **self._expost.to_arrays(),
          )
        tmp.replace(path)
      except OSError as e:  # A read-only work directory: keep it in memory.
        logging.warning('Not saving the ex-post density to %s: %s', path, e)
    return self._expost

  def expost_codes(self, num: int, *, seed: int = 0, train_x=None):
    """``num`` codes ``[num, latent_dim]`` drawn from `expost_density`."""
    density = self.expost_density(train_x)
    draws = density.sample(num, seed=seed)
    if isinstance(density, expost.CodePrior):
      return np.asarray(self.model.codes_of(self.params, draws))
    return draws

  def sample(self, num: int, *, seed: int = 0) -> np.ndarray:
    """``num`` decoded samples: from the prior of a generative model, from
    the ex-post density (`expost_density`) of any other autoencoder.

    ``num`` is a positive int, ``seed`` an int in ``[0, 2**32 - 1]`` (NumPy
    integers too); a seed gives the same images on every call.
    """
    if not self.model.reconstructs:
      raise NotImplementedError(
          f'model {self.config.model!r} has no decoder to sample with; '
          "sample() needs an autoencoder, e.g. 'vae' or 'ae'."
      )

    def is_int(value) -> bool:  # Python or NumPy, but not bool.
      return isinstance(value, (int, np.integer)) and not isinstance(
          value, (bool, np.bool_)
      )

    if not is_int(num) or num < 1:
      raise ValueError(
          f'TrainedModel.sample: num={num!r} must be a positive integer, '
          'e.g. sample(16).'
      )
    if not is_int(seed):
      raise TypeError(
          f'TrainedModel.sample: seed={seed!r} must be an int in '
          '[0, 2**32 - 1]; pass e.g. seed=0.'
      )
    # jax.random.PRNGKey keeps the low 32 bits: 2**32 would silently give
    # the images of seed 0, and -1 those of 2**32 - 1.
    if not 0 <= seed <= 2**32 - 1:
      raise ValueError(
          f'TrainedModel.sample: seed={seed} is outside [0, 2**32 - 1]; it '
          f'would repeat the images of seed {int(seed) % 2**32}. Pass a '
          'seed in that range.'
      )
    if not self.model.generative:
      return self.decode(self.expost_codes(int(num), seed=seed))
    key = jax.random.PRNGKey(int(seed))
    return np.asarray(self._sample(self.params, key, int(num)))


def _read_run_files(workdir: epath.Path) -> tuple[dict, dict]:
  """``(config.json, dataset.json)`` of a work directory, checked."""
  saved = run_files.read_config(workdir)
  if saved is None:
    raise FileNotFoundError(
        f'{workdir / "config.json"} not found: {workdir} is not a work '
        'directory written by experiments.train.'
    )
  info = run_files.read_dataset_info(workdir)
  if info is None:
    raise FileNotFoundError(
        f'{workdir / "dataset.json"} not found: it records the input shape '
        'the model was built for; restore it, or rerun the training command '
        '(it writes it again).'
    )
  return saved, info


def _check_not_diverged(workdir: epath.Path) -> None:
  """A diverged sweep member's parameters are NaN: say so, not 'damaged'."""
  final = run_files.read_final_metrics(workdir)
  if final is not None and final.get('diverged'):
    raise ValueError(
        f'{workdir} holds a model that diverged during training (its test '
        'or train loss was NaN/inf, as its final_metrics.json and the sweep '
        'table report), so its parameters are not finite and there is '
        'nothing to load. Train it again with a lower learning rate or '
        '--config.grad_clip_norm.'
    )


class _QuietReadOnlyManager(logging.Filter):
  """orbax warns on every read-only manager ("Given directory is read
  only", "setting save_interval_steps=0"): what `load` asked for."""

  def filter(self, record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (
        'read_only=True' in message or 'Given directory is read only' in message
    )


def _restore(
    ckpt_dir: epath.Path, step: int | str | None, best_metric: str = 'loss'
):
  """``(step, restored state, record)`` read from ``ckpt_dir``, as `load`
  describes."""
  quiet = _QuietReadOnlyManager()
  logging.getLogger('absl').addFilter(quiet)
  try:
    options = ocp.CheckpointManagerOptions(
        read_only=True, best_fn=lambda m: m[best_metric], best_mode='min'
    )
    manager = ocp.CheckpointManager(
        ckpt_dir,
        options=options,
        item_handlers=ocp.StandardCheckpointHandler(),
    )
  finally:
    logging.getLogger('absl').removeFilter(quiet)
  with manager:
    saved = manager.all_steps()
    if step == 'best':
      step = manager.best_step()
      if step is None:
        raise ValueError(
            f'No checkpoint in {ckpt_dir} has a validation loss; train with '
            '--config.validation_size > 0 to keep the best one, or load '
            'the latest (step=None).'
        )
    elif step is not None and step not in saved:
      raise ValueError(
          f'step={step!r} is not a checkpoint in {ckpt_dir}; saved steps: '
          f"{sorted(saved)} (or None for the latest, 'best' for the best)."
      )
    requested = step
    step, restored, record = checkpoints.restore_latest(
        manager, step=step, quarantine=False
    )
    if restored is None:
      raise FileNotFoundError(
          f'No readable checkpoint in {ckpt_dir}; train first (or '
          'wait for the first checkpoint).'
      )
    if requested is not None and step != requested:
      raise ValueError(
          f'Checkpoint step {requested} in {ckpt_dir} is unreadable or was '
          f'deleted while being read; step {step} is the newest readable one '
          'before it.'
      )
  return step, restored, record


def _check_shapes(workdir: epath.Path, template, params) -> None:
  """The checkpoint's arrays are those of the model dataset.json describes
  (an edited input_shape would fail only when the model is first called)."""
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  key = lambda p: jax.tree_util.keystr(p, simple=True, separator='/')
  saved = {key(p): np.shape(v) for p, v in flat}
  for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]:
    name = key(path)
    if saved.get(name, leaf.shape) != leaf.shape:
      raise ValueError(
          f'The checkpoint in {workdir} holds params/{name} of shape '
          f'{list(saved[name])}, but the model that config.json and '
          f'dataset.json describe needs {list(leaf.shape)}: one of those '
          'files was edited. Restore it (dataset.json: rerun the training '
          'command).'
      )


# A run training in the same directory deletes old steps as it saves new
# ones; a load that loses that race reads the directory again.
_LOAD_ATTEMPTS = 3


def load(
    workdir: str | epath.PathLike, *, step: int | str | None = None
) -> TrainedModel:
  """The model trained in ``workdir``.

  ``step``: None for the latest readable checkpoint (an unreadable latest one
  is skipped with a warning), ``'best'`` for the lowest validation loss (runs
  with ``config.validation_size > 0``), or a saved step number. The weights
  are refused when ``config.json`` no longer matches the config their
  checkpoint was trained with (an edited file), naming the fields.
  """
  workdir_lib.check_path(workdir, 'workdir')
  workdir = checkpoints.absolute(workdir)
  saved, info = _read_run_files(workdir)
  # Fields added since the run was saved take their defaults.
  config = configs.with_defaults(saved)
  _check_not_diverged(workdir)
  model = models.build_model(
      config,
      tuple(info['input_shape']),
      num_classes=info.get('num_classes'),
      num_train=info.get('num_train'),  # Absent in runs before issue 15.
  )
  ckpt_dir = workdir / 'checkpoints'
  if ckpt_dir.exists() and not ckpt_dir.is_dir():
    raise workdir_lib.DamagedFileError(
        f'{ckpt_dir} is a file, not the directory of checkpoints; move it '
        'away and restore the directory, or train again.'
    )
  for attempt in range(_LOAD_ATTEMPTS):
    before = checkpoints.step_dirs(ckpt_dir)
    try:
      found, restored, record = _restore(ckpt_dir, step, model.best_metric)
    except (FileNotFoundError, checkpoints.UnreadableCheckpointError):
      if attempt + 1 == _LOAD_ATTEMPTS or checkpoints.step_dirs(ckpt_dir) == (
          before
      ):
        raise
      logging.info('Checkpoints in %s changed while loading; again.', ckpt_dir)
      continue
    break
  recorded = record.get('config')
  if recorded is not None:
    diffs = configs.trained_differences(recorded, saved)
    if diffs:
      raise ValueError(
          f'{workdir / "config.json"} does not match the config checkpoint '
          f'step {found} was trained with ({"; ".join(diffs)}; checkpoint -> '
          'config.json): the file was edited after training. Restore the '
          "checkpoint's values in config.json, or train a new run."
      )
  # Restored leaves may be NumPy or differently structured dicts; cast to the
  # model's own tree so jit sees one consistent structure.
  template = jax.eval_shape(model.init, jax.random.PRNGKey(0))
  _check_shapes(workdir, template, restored['params'])
  params = jax.tree.map(
      lambda t, p: jnp.asarray(p, t.dtype), template, restored['params']
  )
  value_range = info.get('value_range')
  return TrainedModel(
      model,
      params,
      config,
      int(found),
      workdir,
      value_range=tuple(value_range) if value_range else None,
      preprocessing=info.get('preprocessing'),
      is_images=info.get('images', True),
      num_classes=info.get('num_classes'),
  )
