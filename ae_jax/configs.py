"""The config schema: every field the library reads, with its default.

Experiment configs (``experiments/configs/*.py``) start from `default_config`
and override fields; `with_defaults` completes a config saved by an older
version (a work directory's ``config.json``), so adding a field never makes
an old run unloadable.
"""

import json
import math
import numbers

import ml_collections


def default_config() -> ml_collections.ConfigDict:
  """Every field the trainer reads, with the defaults of the main job."""
  c = ml_collections.ConfigDict()
  # What is trained.
  c.model = 'vae'  # A name in ae_jax.models.MODELS.
  c.encoder = 'mlp'  # 'mlp' | 'conv' (conv needs layout='hwc').
  c.hidden_sizes = (512,)  # MLP encoder widths; the decoder mirrors them.
  c.conv_features = (32, 64)  # Conv encoder channels (stride 2 each).
  c.latent_dim = 20
  c.init = 'uniform_fan_in'  # Layer init: 'uniform_fan_in' | 'lecun_normal'.
  c.activation = 'relu'  # Hidden units: 'relu' | 'sigmoid' | 'tanh' | ...
  c.likelihood = 'bernoulli'  # 'bernoulli' (BCE on [0,1] data) | 'gaussian'.
  c.dropout_rate = 0.0  # Dropout on hidden units in training (ae, classifier).
  c.beta = 1.0  # KL weight of VAEs (1 = the ELBO).
  c.iwae_samples = 1  # K importance samples of model='iwae' (>= 2).
  c.mmd_weight = 0.0  # InfoVAE: weight of MMD(q(z), p(z)) (vae).
  c.mmd_kernel = 'imq'  # 'imq' | 'rbf'.
  c.capacity_max = 0.0  # Capacity-annealed beta-VAE: target KL in nats (vae).
  c.capacity_steps = 10000  # Steps over which the capacity rises to its max.
  c.capacity_gamma = 1000.0  # Weight of |KL - capacity|.
  c.tc_weight = 10.0  # FactorVAE: weight (gamma) of the total correlation.
  # Regularisers of the deterministic autoencoder (model='ae').
  c.code_activation = 'linear'  # 'linear' | 'sigmoid' | 'relu' | 'tanh'.
  c.noise = (
      'none'  # Denoising: 'none' | 'gaussian' | 'masking' | 'salt_and_pepper'.
  )
  c.noise_level = 0.0  # Gaussian std, or the fraction of corrupted pixels.
  c.sparsity = 'none'  # 'none' | 'l1' (activity) | 'kl' (sigmoid codes).
  c.sparsity_weight = 0.0
  c.sparsity_target = 0.05  # rho: target mean activation of a code unit (kl).
  c.contractive_weight = 0.0  # Weight of the encoder Jacobian norm.
  # RBM (model='rbm').
  c.rbm_visible = 'bernoulli'  # 'bernoulli' | 'gaussian' (unit variance).
  c.rbm_hidden = 'bernoulli'  # 'bernoulli' | 'gaussian' (unit variance).
  c.cd_steps = 1  # k of CD-k: Gibbs steps of the negative phase.
  c.persistent_chains = False  # Persistent CD (Tieleman 2008).
  # LSTM sequence autoencoder (model='lstm_ae', layout='sequence').
  c.lstm_hidden = 128
  # Adversarial autoencoder (model='aae').
  c.prior = 'standard_normal'  # 'standard_normal' | 'gaussian_mixture'.
  c.aae_encoder = 'deterministic'  # 'deterministic' | 'gaussian'.
  c.aae_conditional = False  # Label-conditioned mixture prior.
  c.adversarial_weight = 1.0  # Weight of the encoder's adversarial loss.
  c.discriminator_sizes = (512, 512)
  c.discriminator_learning_rate = 1e-3  # AAE and FactorVAE discriminators.
  # Greedy layer-wise pretraining of the hidden layers before training:
  # 'none' | 'autoencoders' (stacked AEs) | 'rbm' (stacked RBMs).
  c.pretrain = 'none'
  c.pretrain_steps = 2000  # Per layer.
  c.pretrain_learning_rate = 1e-3
  # Data.
  c.dataset = 'digits'  # 'digits' | 'fashion_mnist' | 'mnist' | a TFDS name.
  c.data_dir = ''  # TFDS data dir; '' = TFDS's default.
  c.idx_dir = ''  # Local IDX files; '' = /usr/share/datasets/<name>.
  c.layout = (
      'flat'  # 'flat' [N, H*W*C] | 'hwc' [N, H, W, C] | 'sequence' [N, H, W*C].
  )
  c.binarize = 'none'  # 'none' | 'static' | 'dynamic'.
  # Keep the train split on the devices (False: stream batches from host).
  c.data_on_device = True
  # Train examples held out as a validation split (a fixed draw, the same for
  # every seed). With it, each checkpoint records the validation loss and the
  # best checkpoint by it is kept besides the most recent ones.
  c.validation_size = 0
  # Optimisation.
  c.seed = 0
  c.batch_size = 128  # Global batch; must divide across devices.
  c.num_train_steps = 2400  # Run length, unless num_epochs > 0.
  c.num_epochs = -1
  c.optimizer = 'adam'  # 'adam' | 'adamw' | 'sgd'.
  c.learning_rate = 1e-3
  c.lr_schedule = 'constant'  # 'constant' | 'cosine'.
  c.warmup_steps = 0
  c.weight_decay = 0.0
  c.steps_per_call = 10  # Steps fused per call (lax.scan); at most this many.
  c.grad_clip_norm = 0.0  # 0 = no clipping.
  # A batch with a NaN/inf loss or gradient: 'stop' (raise, naming the step
  # and the last good checkpoint) or 'skip' (optax.apply_if_finite: no update;
  # stop after more than max_consecutive_nonfinite such batches in a row).
  c.nonfinite = 'stop'
  c.max_consecutive_nonfinite = 10
  # Layer compute dtype: 'float32' | 'bfloat16' (mixed precision for GPU/TPU:
  # float32 parameters, optimiser state and losses; not for RBMs).
  c.compute_dtype = 'float32'
  # Evaluation, checkpoints, logs.
  c.eval_batch_size = 500
  c.eval_every_steps = 500  # 0 = only at the end.
  c.checkpoint_every_steps = 500
  c.max_checkpoints_to_keep = 3
  c.log_every_steps = 50
  c.progress_bar = True
  c.write_figures = True
  return c


def with_defaults(saved: dict) -> ml_collections.ConfigDict:
  """``saved`` (e.g. a loaded config.json) over `default_config`."""
  config = default_config()
  config.update(json.loads(json.dumps(saved)))
  return config


def _kind(value) -> str:
  """The schema type of a default value: what a config may hold there."""
  if isinstance(value, bool):
    return 'bool'
  if isinstance(value, numbers.Integral):
    return 'int'
  if isinstance(value, numbers.Real):
    return 'float'
  if isinstance(value, (tuple, list)):
    return 'ints'
  return 'str'


def _fits(kind: str, value) -> bool:
  is_bool = isinstance(value, bool)
  if kind == 'bool':
    return is_bool
  if kind == 'int':  # True is an int to Python, but surely a mistake here.
    return isinstance(value, numbers.Integral) and not is_bool
  if kind == 'float':
    return (
        isinstance(value, numbers.Real) and not is_bool and math.isfinite(value)
    )
  if kind == 'ints':
    return isinstance(value, (tuple, list)) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool)
        for v in value
    )
  return isinstance(value, str)


_KIND_TEXT = {
    'bool': 'True or False',
    'int': 'an integer',
    'float': 'a finite number',
    'ints': 'a tuple of integers, e.g. "(512,)"',
    'str': 'a string',
}


def check_values(config) -> None:
  """Every schema field holds a value of its type; numbers are finite.

  The range checks of each field live with the code that reads it
  (`models.check_model_config`, `train.state.check_optimizer_config`, ...);
  this catches what they would let through: ``inf`` or NaN in a float field
  (``beta=inf`` would train to NaN), ``True`` in an int field, and a seed
  outside ``[0, 2**32 - 1]`` (NumPy's generators refuse a negative one only
  once data is drawn; `jax.random.PRNGKey` keeps the low 32 bits of a
  larger one, so ``2**32`` would silently repeat seed 0).

  Raises:
    TypeError: a field holds a value of the wrong type.
    ValueError: a float field is NaN or inf, or the seed is out of range.
  """
  for field, default in default_config().items():
    if field not in config:
      continue
    value, kind = config[field], _kind(default)
    if not _fits(kind, value):
      wrong_number = kind == 'float' and not isinstance(value, bool)
      error = (
          ValueError
          if wrong_number and isinstance(value, numbers.Real)
          else TypeError
      )
      raise error(
          f'config.{field}={value!r} must be {_KIND_TEXT[kind]} (default '
          f'{default!r}); set --config.{field} to one.'
      )
  seed = config.get('seed', 0)
  if not 0 <= seed <= 2**32 - 1:
    raise ValueError(
        f'config.seed={seed} must be in [0, 2**32 - 1] (NumPy seeds the data '
        'order and binarisation with it, and jax.random.PRNGKey keeps only '
        f'its low 32 bits: it would repeat seed {seed % 2**32}); set '
        '--config.seed to a value in that range.'
    )


# Fields that may change between launches on one work directory: they control
# the run (its length, logging, where data is read from), not what is trained.
RUN_CONTROL_FIELDS = frozenset(
    {
        'num_train_steps',
        'num_epochs',
        'log_every_steps',
        'eval_every_steps',
        'checkpoint_every_steps',
        'max_checkpoints_to_keep',
        'progress_bar',
        'write_figures',
        'data_on_device',
        'steps_per_call',
        'data_dir',
        'idx_dir',
        'eval_batch_size',
        'max_consecutive_nonfinite',
    }
)


def unknown_fields(saved: dict) -> list[str]:
  """Fields of a saved config that this version does not have."""
  return sorted(set(saved) - set(default_config()))


def trained_differences(saved: dict, current: dict) -> list[str]:
  """``'field: saved -> current'`` for each field that changes what is
  trained (`RUN_CONTROL_FIELDS` aside); fields added since ``saved`` was
  written count as their defaults."""
  saved = json.loads(with_defaults(saved).to_json())
  current = json.loads(with_defaults(current).to_json())
  return [
      f'{k}: {saved.get(k)!r} -> {current.get(k)!r}'
      for k in sorted(set(saved) | set(current))
      if k not in RUN_CONTROL_FIELDS and saved.get(k) != current.get(k)
  ]
