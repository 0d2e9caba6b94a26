r"""Every model family's step against the machine's matmul peak, and PyTorch.

  pip install -e ".[bench]"   # torch, for the peer comparison only
  python -m benchmarks.suite  # about 5-10 minutes on 2 CPU cores
  python -m benchmarks.suite --models=vae --batch_sizes=128 \
      --sections=peak,peers --torch_compile=false   # a minute
  python -m benchmarks.suite --models=conv_vae --batch_sizes=1024 \
      --sections=peak,families --compute_dtype=bfloat16   # GPU/TPU
  python -m benchmarks.suite --models=conv_vae,conv_ae,lstm_ae \
      --sections=family_peers   # about 10 minutes on 2 CPU cores
  python -m benchmarks.suite --models=conv_vae --batch_sizes=1024 \
      --sections=peak,families,family_peers \
      --compute_dtype=bfloat16  # GPU: PyTorch on the same GPU, autocast

Four sections, in one process so that ratios are not skewed by other load
on a shared machine (the load average is printed before and after):

  * peak: the FLOP/s of a large float32 `jnp.dot` (best of a few sizes and
    repeats), the machine's measured matmul peak;
  * families: for each entry of `FAMILIES` and batch size, the bare jitted
    train step (one step per call on a device-resident batch, state donated:
    the ceiling the training loop approaches, see `benchmarks.throughput`
    for the loop against it): compile seconds (lower + compile), steps/s,
    examples/s, GFLOP per step (XLA's `cost_analysis()` of the compiled
    step), memory (XLA's `memory_analysis()` of the compiled step:
    arguments + outputs + temporaries - donated aliases, i.e. what the step
    holds at its peak; on GPU/TPU the device's own high-water mark
    `memory_stats()['peak_bytes_in_use']` is printed too) and the fraction
    of the matmul peak the step reaches (GFLOP per step x steps/s / peak);
  * peers: the MLP VAE 784-512-20, batch 128, Adam 1e-3, in a plain PyTorch
    loop (`benchmarks.pytorch_vae.time_training`): eager with foreach and
    fused Adam, and `torch.compile` with fused Adam, each with and without
    `torch.set_flush_denormal(True)`; against ae_jax's full training loop
    (`train.train_and_evaluate`, as `benchmarks.throughput` times it) and its
    bare step, with the ratios to the best PyTorch configuration and to the
    matmul-peak ceiling (peak FLOP/s / FLOPs per step). Aims: loop >= 1.3x
    the best PyTorch, >= 60% of the ceiling (issue 16). Every contender is timed once
    per round (`--repeats` rounds) and keeps its best round. The bare step
    computes the gradient-norm metric every step; the loop only in the calls
    whose metrics it logs (`ae_jax.train.step.make_train_step`);
  * family_peers: the conv VAE, conv AE and LSTM AE against their PyTorch
    twins (`benchmarks.pytorch_peers`), same rounds.

PyTorch runs on the kind of device JAX runs on (`torch_device`: the CPU, or
the CUDA GPU beside JAX's), with the training set on it; with
``--compute_dtype=bfloat16`` its forward pass runs under `torch.autocast`,
the same policy as ours (layers in bfloat16, parameters and Adam float32).

XLA counts the FLOPs of a `while` loop's body once, whatever its trip count:
for steps that contain one (lstm_ae's time scan, the RBM's Gibbs loop) the
GFLOP/step and peak fraction are lower bounds, marked ``>=``. `--json_out`
writes every number printed.
"""

import functools
import itertools
import json
import math
import os
import re
import time

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp

from ae_jax import data
from ae_jax.models import networks
from benchmarks import harness
from experiments.configs import common

# Config overrides on top of `harness.mlp_config`'s MLP 784-512-20: one
# model per family, sized as the family's config in experiments/configs.
FAMILIES = {
    'ae': dict(model='ae'),
    'vae': dict(model='vae'),
    'conv_ae': dict(
        model='ae',
        encoder='conv',
        layout='hwc',
        latent_dim=32,
        conv_features=(16, 32),
    ),
    'conv_vae': dict(model='vae', encoder='conv', layout='hwc'),
    'info_vae': dict(model='vae', beta=0.0, mmd_weight=10.0),
    'iwae': dict(model='iwae', iwae_samples=50),
    'factor_vae': dict(model='factor_vae', tc_weight=10.0),
    'aae': dict(model='aae'),
    'rbm': dict(model='rbm', latent_dim=500),
    'lstm_ae': dict(
        model='lstm_ae', layout='sequence', lstm_hidden=256, latent_dim=32
    ),
}
SECTIONS = ('peak', 'families', 'peers', 'family_peers')
CONV_FAMILIES = ('conv_vae', 'conv_ae')

_SECTIONS = flags.DEFINE_list(
    'sections', list(SECTIONS), f'Any of {", ".join(SECTIONS)}.'
)
_MODELS = flags.DEFINE_list(
    'models', list(FAMILIES), f'Entries of FAMILIES: {", ".join(FAMILIES)}.'
)
_BATCH_SIZES = flags.DEFINE_list(
    'batch_sizes', ['128', '1024'], 'Batch sizes of the families table.'
)
_DATASET = flags.DEFINE_string(
    'dataset',
    'fashion_mnist',
    'fashion_mnist, mnist or digits (fashion_mnist falls back to digits when '
    'it is not installed).',
)
_MIN_SECONDS = flags.DEFINE_float(
    'min_seconds', 2.0, 'Seconds of timed steps per family measurement.'
)
_PEAK_SIZES = flags.DEFINE_list(
    'peak_sizes', ['1024', '2048', '3072'], 'Square matmul sizes for the peak.'
)
_PEAK_REPEATS = flags.DEFINE_integer(
    'peak_repeats', 5, 'Timed matmuls per size (best kept).'
)
_PEER_STEPS = flags.DEFINE_integer(
    'peer_steps', 1000, 'Timed PyTorch steps per configuration.'
)
_LOOP_EXAMPLES = flags.DEFINE_integer(
    'loop_examples',
    256_000,
    'Examples the ae_jax training loop trains on in the peer comparison '
    '(steps = this / 128, rounded down to a multiple of the log interval).',
)
_REPEATS = flags.DEFINE_integer(
    'repeats',
    2,
    'Rounds of the peer comparison, each timing our loop, our bare step and '
    'every PyTorch configuration once; each keeps its best round.',
)
_TORCH_COMPILE = flags.DEFINE_bool(
    'torch_compile', True, 'Include the torch.compile configurations.'
)
_CONV_IMPLS = flags.DEFINE_list(
    'conv_impls',
    ['auto'],
    'config.conv_impl values the conv families are timed with, each a row '
    '(auto, flax, matmul: `ae_jax.models.networks.CONV_IMPLS`).',
)
_PEER_SECONDS = flags.DEFINE_float(
    'peer_seconds',
    5.0,
    'Seconds each contender of the family_peers section trains per round.',
)
_COMPUTE_DTYPE = flags.DEFINE_enum(
    'compute_dtype',
    'float32',
    ['float32', 'bfloat16'],
    'Layer compute dtype (parameters stay float32, `config.compute_dtype`); '
    'the matmul peak is measured in it too, and the PyTorch peers run their '
    'forward pass under torch.autocast to it. For GPUs and TPUs: on a CPU '
    'bfloat16 brings no speed-up. rbm is float32 only and skipped.',
)
_JSON_OUT = flags.DEFINE_string('json_out', None, 'Writes results as JSON.')


def check_flags() -> None:
  """Raises ValueError naming the flag and the fix, before any work."""
  bad = [s for s in _SECTIONS.value if s not in SECTIONS]
  if bad or not _SECTIONS.value:
    raise ValueError(
        f'--sections: unknown {bad}; choose from {", ".join(SECTIONS)}.'
    )
  bad = [m for m in _MODELS.value if m not in FAMILIES]
  if bad:
    raise ValueError(
        f'--models: unknown {bad}; choose from {", ".join(FAMILIES)}.'
    )
  for name, values in (
      ('batch_sizes', _BATCH_SIZES.value),
      ('peak_sizes', _PEAK_SIZES.value),
  ):
    if not values or not all(v.isdigit() and int(v) > 0 for v in values):
      raise ValueError(
          f'--{name}={",".join(values)} must be positive integers, '
          'e.g. 128,1024.'
      )
  if not _MIN_SECONDS.value > 0:
    raise ValueError(f'--min_seconds={_MIN_SECONDS.value} must be > 0.')
  if not _PEER_SECONDS.value > 0:
    raise ValueError(f'--peer_seconds={_PEER_SECONDS.value} must be > 0.')
  bad = [i for i in _CONV_IMPLS.value if i not in networks.CONV_IMPLS]
  if bad or not _CONV_IMPLS.value:
    raise ValueError(
        f'--conv_impls: unknown {bad}; choose from '
        f'{", ".join(networks.CONV_IMPLS)}.'
    )
  if 'family_peers' in _SECTIONS.value and not set(TORCH_MODES) & set(
      _MODELS.value
  ):
    raise ValueError(
        '--sections=family_peers times the families with a PyTorch twin: '
        f'add one of {", ".join(TORCH_MODES)} to --models.'
    )
  for name, value in (
      ('peak_repeats', _PEAK_REPEATS.value),
      ('peer_steps', _PEER_STEPS.value),
      ('loop_examples', _LOOP_EXAMPLES.value),
      ('repeats', _REPEATS.value),
  ):
    if value < 1:
      raise ValueError(f'--{name}={value} must be a positive integer.')
  if _DATASET.value not in ('fashion_mnist', 'mnist', 'digits'):
    raise ValueError(
        f'--dataset={_DATASET.value!r}: use fashion_mnist, mnist or digits.'
    )


def matmul_peak(sizes, repeats: int, dtype=jnp.float32) -> dict:
  """Best FLOP/s of a jitted n x n `jnp.dot` in ``dtype`` over ``sizes``."""
  per_size = {}
  for n in sizes:
    ka, kb = jax.random.split(jax.random.PRNGKey(n))
    a = jax.random.normal(ka, (n, n), dtype)
    b = jax.random.normal(kb, (n, n), dtype)
    dot = jax.jit(jnp.dot).lower(a, b).compile()
    dot(a, b).block_until_ready()
    best = math.inf
    for _ in range(repeats):
      t0 = time.perf_counter()
      dot(a, b).block_until_ready()
      best = min(best, time.perf_counter() - t0)
    per_size[n] = 2 * n**3 / best
  n = max(per_size, key=per_size.get)
  return {'flops_per_s': per_size[n], 'size': n, 'per_size': per_size}


def family_config(
    name: str,
    batch_size: int,
    dataset_name: str,
    compute_dtype='float32',
    conv_impl='auto',
):
  overrides = dict(FAMILIES[name])
  model = overrides.pop('model')
  config = harness.mlp_config(batch_size, dataset_name, 100)
  config.model = model
  config.compute_dtype = compute_dtype
  config.conv_impl = conv_impl
  config.update(overrides)
  return config


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):  # Older jax: one dict per computation.
    cost = cost[0] if cost else {}
  return float((cost or {}).get('flops', float('nan')))


def _has_loop(compiled) -> bool:
  """Whether a `while` body of the step runs a dot or a convolution.

  XLA's cost analysis counts such a body once, so the step's FLOPs are then
  undercounted. Loops without matrix work (random bits) do not matter.
  """
  computations, name = {}, None
  for line in compiled.as_text().splitlines():
    m = re.match(r'^(?:ENTRY )?%?([\w.\-]+) ', line)
    if m and line.rstrip().endswith('{'):
      name = m.group(1)
      computations[name] = []
    elif name is not None:
      computations[name].append(line)
  calls = re.compile(
      r'(?:calls|to_apply|body|condition|branch_computations)='
      r'\{?%?([\w.\-]+)'
  )
  bodies = [
      b
      for lines in computations.values()
      for l in lines
      for b in re.findall(r'body=%?([\w.\-]+)', l)
  ]
  seen = set()
  while bodies:
    c = bodies.pop()
    if c in seen or c not in computations:
      continue
    seen.add(c)
    for l in computations[c]:
      if re.search(r' (dot|convolution)\(', l):
        return True
      bodies.extend(calls.findall(l))
  return False


def _xla_bytes(compiled) -> float:
  m = compiled.memory_analysis()
  if m is None:
    return float('nan')
  return float(
      m.argument_size_in_bytes
      + m.output_size_in_bytes
      - m.alias_size_in_bytes
      + m.temp_size_in_bytes
  )


def device_peak_bytes() -> float | None:
  """The device's high-water mark (GPU/TPU), None where jax has no stats."""
  stats = jax.devices()[0].memory_stats()
  if not stats or 'peak_bytes_in_use' not in stats:
    return None
  return float(stats['peak_bytes_in_use'])


def _compiled_step(config, dataset):
  """``(compiled step, state, batch, compile seconds)``."""
  jitted, state, batch = harness.bare_step_setup(
      config, dataset, config.num_train_steps
  )
  t0 = time.perf_counter()
  compiled = jitted.lower(state, batch).compile()
  return compiled, state, batch, time.perf_counter() - t0


def model_flops(config, dataset, executed: float) -> float:
  """FLOPs of the model's arithmetic per step: ``executed`` (XLA's count of
  the compiled step), except for conv networks, whose matrix-product forms
  (`config.conv_impl='matmul'`) also multiply the zeros they insert; those
  count the FLOPs of the same step with flax's convolutions."""
  if config.encoder != 'conv' or config.conv_impl == 'flax':
    return executed
  config = config.copy_and_resolve_references()
  config.conv_impl = 'flax'
  return _flops(_compiled_step(config, dataset)[0])


def measure_step(config, dataset, min_seconds: float) -> dict:
  """Compile time, steps/s, FLOPs and memory of the bare jitted train step.

  ``flops_per_step`` is the model's arithmetic (`model_flops`),
  ``executed_flops_per_step`` XLA's count of what the compiled step runs.
  """
  compiled, state, batch, compile_s = _compiled_step(config, dataset)
  # Warm-up, and a first estimate of the rate that sizes the timed run.
  state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  t0 = time.perf_counter()
  for _ in range(2):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  per_step = (time.perf_counter() - t0) / 2
  steps = max(3, int(min_seconds / max(per_step, 1e-6)))
  t0 = time.perf_counter()
  for _ in range(steps):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  steps_per_s = steps / (time.perf_counter() - t0)
  executed = _flops(compiled)
  return {
      'compile_s': compile_s,
      'steps_per_second': steps_per_s,
      'examples_per_second': steps_per_s * config.batch_size,
      'flops_per_step': model_flops(config, dataset, executed),
      'executed_flops_per_step': executed,
      'flops_lower_bound': _has_loop(compiled),
      'xla_bytes': _xla_bytes(compiled),
      'device_peak_bytes': device_peak_bytes(),
      'timed_steps': steps,
  }


def _time_torch_round(run: dict, train_images, **kwargs) -> None:
  """One round of a PyTorch configuration (`pytorch_vae.time_training` with
  ``kwargs``): ``run`` keeps its best round, or the error that stops it
  (``torch.compile`` needs a C++ compiler and may fail offline: say why)."""
  from benchmarks import pytorch_vae  # pylint: disable=g-import-not-at-top

  if 'error' in run:
    return
  try:
    timed = pytorch_vae.time_training(train_images, **kwargs)
  except Exception as e:  # pylint: disable=broad-except
    run['error'] = f'{type(e).__name__}: {str(e)[:300]}'
    return
  if timed['steps_per_second'] > run.get('steps_per_second', 0.0):
    run.update(timed)


def peer_comparison(dataset, loop_steps: int) -> dict:
  """PyTorch configurations against our loop and bare step, MLP VAE, 128.

  ``--repeats`` rounds, each timing every contender once in the same order;
  each keeps its best round, so a slow spell of this shared machine costs
  every contender alike.
  """
  config = family_config('vae', 128, dataset.name, _COMPUTE_DTYPE.value)
  config.num_train_steps = loop_steps
  config.checkpoint_every_steps = loop_steps
  result = {'loop_steps': loop_steps, 'loop': 0.0, 'bare': 0.0}
  torch, error, device = _torch_or_error()
  if error:
    result['torch_error'] = error
  modes = [('eager', False, False), ('eager', False, True)]
  if _TORCH_COMPILE.value:
    modes.append(('compile', True, True))
  torch_runs = [
      {
          'mode': label,
          'adam': 'fused' if fused else 'foreach',
          'flush_denormal': flush,
          'compile': compile_,
          'fused': fused,
      }
      for label, compile_, fused in modes
      for flush in (False, True)
  ]
  for _ in range(_REPEATS.value):
    bare = measure_step(config, dataset, loop_steps / 250)
    result['bare'] = max(result['bare'], bare['steps_per_second'])
    result['flops_per_step'] = bare['flops_per_step']
    result['loop'] = max(result['loop'], harness.loop(config))
    if torch is None:
      continue
    for run in torch_runs:
      _time_torch_round(
          run,
          dataset.train_images,
          steps=_PEER_STEPS.value,
          compile=run['compile'],
          fused=run['fused'],
          flush_denormal=run['flush_denormal'],
          **_torch_options(device),
      )
  if torch is None:
    return result
  result['torch_version'] = torch.__version__
  result['torch_device'] = device
  result['torch_threads'] = torch.get_num_threads()
  for run in torch_runs:
    del run['compile'], run['fused']
  result['torch'] = torch_runs
  ok = [r for r in torch_runs if 'steps_per_second' in r]
  if ok:
    best = max(ok, key=lambda r: r['steps_per_second'])
    result['torch_best'] = best['steps_per_second']
    result['loop_over_torch_best'] = result['loop'] / best['steps_per_second']
    result['bare_over_torch_best'] = result['bare'] / best['steps_per_second']
  return result


def torch_device(platform: str, cuda_available: bool) -> tuple[str, str]:
  """``(device, error)``: where the PyTorch peers run beside JAX's
  ``platform``, the same kind of device; ``error`` (else ``''``) says why
  there is none."""
  if platform == 'cpu':
    return 'cpu', ''
  if platform in ('gpu', 'cuda'):
    if cuda_available:
      return 'cuda', ''
    return '', (
        'JAX runs on a GPU but torch.cuda.is_available() is False: install a '
        'CUDA build of torch (pip install -e ".[bench]" on the GPU machine).'
    )
  return '', (
      f'the PyTorch peers run on a CPU or a CUDA GPU, JAX runs on {platform}: '
      'use --sections=peak,families here.'
  )


def _torch_or_error():
  """``(torch module or None, error text or None, device)``: the device of
  `torch_device` for JAX's default backend."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    return None, f'{e} (pip install -e ".[bench]")', ''
  device, error = torch_device(jax.default_backend(), torch.cuda.is_available())
  if error:
    return None, error, ''
  return torch, None, device


def _torch_options(device: str) -> dict:
  """`pytorch_vae.time_training`'s device and precision for this run."""
  dtype = _COMPUTE_DTYPE.value
  return {'device': device, 'autocast': None if dtype == 'float32' else dtype}


# PyTorch configurations of the family peer comparison, by family: (label,
# options of its `benchmarks.pytorch_peers` network, torch.compile); Adam's
# fused kernel in each.
_CONV_MODES = (
    ('eager NCHW', {'channels_last': False}, False),
    ('eager channels-last', {'channels_last': True}, False),
    ('compile channels-last', {'channels_last': True}, True),
)
TORCH_MODES = {
    'conv_vae': _CONV_MODES,
    'conv_ae': _CONV_MODES,
    'lstm_ae': (('eager', {}, False), ('compile', {}, True)),
}


def family_peer_comparison(name: str, batch_size: int, dataset) -> dict:
  """A family of `TORCH_MODES` against its PyTorch twin, at one batch size.

  ``--repeats`` rounds, each timing our bare step, our training loop and
  every PyTorch mode for about ``--peer_seconds``; each keeps its best round.
  """
  from benchmarks import pytorch_peers  # pylint: disable=g-import-not-at-top

  seconds = _PEER_SECONDS.value
  config = family_config(name, batch_size, dataset.name, _COMPUTE_DTYPE.value)
  result = {'model': name, 'batch_size': batch_size, 'loop': 0.0, 'bare': 0.0}
  torch, error, device = _torch_or_error()
  if error:
    result['torch_error'] = error
  modes = [m for m in TORCH_MODES[name] if _TORCH_COMPILE.value or not m[2]]
  runs = [{'mode': label} for label, _, _ in modes]
  for _ in range(_REPEATS.value):
    bare = measure_step(config, dataset, seconds)
    result['bare'] = max(result['bare'], bare['steps_per_second'])
    result['flops_per_step'] = bare['flops_per_step']
    result['flops_lower_bound'] = bare['flops_lower_bound']
    k = config.steps_per_call
    steps = max(3 * k, int(bare['steps_per_second'] * seconds) // k * k)
    loop_config = config.copy_and_resolve_references()
    loop_config.update(
        num_train_steps=steps,
        log_every_steps=steps,
        checkpoint_every_steps=steps,
    )
    result['loop'] = max(result['loop'], harness.loop(loop_config))
    if torch is None:
      continue
    for run, (_, options, compile_) in zip(runs, modes):
      _time_torch_round(
          run,
          dataset.train_images,
          steps=3,
          seconds=seconds,
          batch_size=batch_size,
          compile=compile_,
          fused=True,
          network=functools.partial(getattr(pytorch_peers, name), **options),
          **_torch_options(device),
      )
  if torch is None:
    return result
  result['torch_version'] = torch.__version__
  result['torch_device'] = device
  result['torch'] = runs
  ok = [r['steps_per_second'] for r in runs if 'steps_per_second' in r]
  if ok:
    result['torch_best'] = max(ok)
    result['loop_over_torch_best'] = result['loop'] / max(ok)
    result['bare_over_torch_best'] = result['bare'] / max(ok)
  return result


def _torch_label(p: dict) -> str:
  """Where the PyTorch rows of ``p`` ran, and in which precision."""
  dtype = _COMPUTE_DTYPE.value
  return p['torch_device'] + (
      '' if dtype == 'float32' else f', {dtype} autocast'
  )


def _print_family_peers(p: dict, peak: dict) -> None:
  head = f'{p["model"]:9} {p["batch_size"]:>5}'
  for r in p.get('torch', []):
    if 'error' in r:
      print(f'{head} pytorch {r["mode"]:22} failed: {r["error"]}')
    else:
      print(
          f'{head} pytorch {r["mode"]:22} {r["steps_per_second"]:>8.2f} '
          f'(warm-up {r["compile_s"]:.1f} s, {_torch_label(p)})'
      )
  best = p.get('torch_best')
  p['ceiling'] = peak['flops_per_s'] / p['flops_per_step']
  # XLA counts a while body (the LSTM's time scan) once: a ceiling from
  # those FLOPs would be too high, and fractions of it too low.
  of = lambda rate: (
      'no ceiling: XLA counts the time loop once'
      if p['flops_lower_bound']
      else f'{rate / p["ceiling"]:.1%} of the matmul-peak ceiling'
  )
  for label in ('bare', 'loop'):
    vs = f' = {p[label] / best:.2f}x best PyTorch' if best else ''
    print(
        f'{head} ae_jax {label + (" step" if label == "bare" else ""):23} '
        f'{p[label]:>8.2f}{vs}, {of(p[label])}'
    )
  if not p['flops_lower_bound']:
    print(
        f'{head} matmul-peak ceiling            {p["ceiling"]:>8.2f} '
        f'({p["flops_per_step"] / 1e9:.3f} GFLOP/step)'
        + (f'; best PyTorch {best / p["ceiling"]:.1%}' if best else ''),
        flush=True,
    )


def _load(name: str, layout: str):
  try:
    return data.load_dataset(name, layout=layout)
  except data.DatasetNotFoundError:
    if name != 'fashion_mnist':
      raise
    return data.load_dataset('digits', layout=layout)


def _mib(x) -> str:
  return 'n/a' if x is None or math.isnan(x) else f'{x / 2**20:.1f}'


def main(argv):
  del argv
  check_flags()
  logging.set_verbosity(logging.WARNING)  # Not the loop's checkpoint logs.
  sections = _SECTIONS.value
  results = {'load_average_start': os.getloadavg()}
  print(
      f'{jax.device_count()} {jax.devices()[0].platform} device(s) '
      f'({jax.devices()[0].device_kind}), {os.cpu_count()} CPU(s), '
      'load average %.2f %.2f %.2f' % results['load_average_start'],
      flush=True,
  )
  peak = None
  if sections:  # Every section reports against the peak.
    peak = matmul_peak(
        map(int, _PEAK_SIZES.value),
        _PEAK_REPEATS.value,
        jnp.dtype(_COMPUTE_DTYPE.value),
    )
    peak['dtype'] = _COMPUTE_DTYPE.value
    results['peak'] = peak
    sizes = ', '.join(
        f'{n}: {f / 1e9:.1f}' for n, f in peak['per_size'].items()
    )
    print(
        f'matmul peak ({_COMPUTE_DTYPE.value} jnp.dot, n x n, GFLOP/s by n: '
        f'{sizes}): '
        f'{peak["flops_per_s"] / 1e9:.1f} GFLOP/s at n = {peak["size"]}',
        flush=True,
    )
  layouts = {'flat'}
  if {'families', 'family_peers'} & set(sections):
    layouts |= {FAMILIES[m].get('layout', 'flat') for m in _MODELS.value}
  datasets = {l: _load(_DATASET.value, l) for l in sorted(layouts)}
  dataset = datasets['flat']
  print(
      f'dataset {dataset.name} ({len(dataset.train_images)} train); MLP '
      f'{dataset.input_shape[-1]}-512-20 unless the family config says '
      'otherwise (conv_ae 16-32 -> 32, conv_vae 32-64 -> 20, rbm 500 hidden, '
      'lstm_ae 256 -> 32)',
      flush=True,
  )
  if 'families' in sections:
    has_device_stats = device_peak_bytes() is not None
    print(
        '\nbare jitted train step (one step per call, batch on the device, '
        "state donated); GFLOP/step = the model's arithmetic by XLA "
        'cost_analysis (conv rows: of the step with flax convolutions, '
        'whatever conv_impl runs); mem = XLA '
        'memory_analysis (args + outputs - donated + temps)'
        + ('; dev MiB = device peak_bytes_in_use' if has_device_stats else '')
    )
    print(
        f'{"model":15} {"batch":>6} {"compile s":>10} {"steps/s":>9} '
        f'{"examples/s":>11} {"GFLOP/step":>11} {"mem MiB":>9} '
        f'{"of peak":>8}' + (f' {"dev MiB":>9}' if has_device_stats else ''),
        flush=True,
    )
    rows = []
    for name in _MODELS.value:
      if name == 'rbm' and _COMPUTE_DTYPE.value != 'float32':
        print(f'{name:15} float32 only: skipped', flush=True)
        continue
      impls = _CONV_IMPLS.value if name in CONV_FAMILIES else ['-']
      for batch_size, impl in itertools.product(
          map(int, _BATCH_SIZES.value), impls
      ):
        config = family_config(
            name,
            batch_size,
            dataset.name,
            _COMPUTE_DTYPE.value,
            'auto' if impl == '-' else impl,
        )
        r = measure_step(config, datasets[config.layout], _MIN_SECONDS.value)
        r['fraction_of_peak'] = (
            r['flops_per_step'] * r['steps_per_second'] / peak['flops_per_s']
        )
        r.update(model=name, batch_size=batch_size, conv_impl=impl)
        rows.append(r)
        ge = '>=' if r['flops_lower_bound'] else ''
        label = name if impl == '-' else f'{name}:{impl}'
        print(
            f'{label:15} {batch_size:>6} {r["compile_s"]:>10.2f} '
            f'{r["steps_per_second"]:>9.1f} {r["examples_per_second"]:>11.0f} '
            f'{ge + format(r["flops_per_step"] / 1e9, ".3f"):>11} '
            f'{_mib(r["xla_bytes"]):>9} '
            f'{ge + format(r["fraction_of_peak"], ".1%"):>8}'
            + (
                f' {_mib(r["device_peak_bytes"]):>9}'
                if has_device_stats
                else ''
            ),
            flush=True,
        )
    results['families'] = rows
  if 'peers' in sections:
    block = common.get_base_config().log_every_steps
    loop_steps = max(_LOOP_EXAMPLES.value // 128 // block, 1) * block
    print(
        f'\npeers: MLP VAE {dataset.input_shape[-1]}-512-20, batch 128, '
        f'Adam 1e-3; ae_jax loop {loop_steps} steps',
        flush=True,
    )
    p = peer_comparison(dataset, loop_steps)
    results['peers'] = p
    if 'torch_error' in p:
      print(f'PyTorch unavailable: {p["torch_error"]}')
    else:
      print(
          f'PyTorch {p["torch_version"]} on {_torch_label(p)}, '
          f'{p["torch_threads"]} threads, '
          f'{_PEER_STEPS.value} timed steps each (warm-up and compile '
          f'excluded); every row is the best of {_REPEATS.value} rounds, '
          'each round timing every row once'
      )
      for r in p['torch']:
        label = (
            f'pytorch {r["mode"]:7} adam {r["adam"]:7} flush_denormal '
            f'{"on " if r["flush_denormal"] else "off"}'
        )
        if 'error' in r:
          print(f'  {label}: failed: {r["error"]}')
        else:
          print(
              f'  {label} {r["steps_per_second"]:>8.1f} steps/s '
              f'(warm-up {r["compile_s"]:.1f} s)'
          )
    ceiling = peak['flops_per_s'] / p['flops_per_step']
    p['ceiling'] = ceiling
    p['loop_of_ceiling'] = p['loop'] / ceiling
    p['bare_of_ceiling'] = p['bare'] / ceiling
    best = p.get('torch_best')
    vs = lambda ours: f' = {ours / best:.2f}x best PyTorch' if best else ''
    print(
        f'  ae_jax bare jitted step       {p["bare"]:>8.1f} steps/s{vs(p["bare"])}'
    )
    print(
        f'  ae_jax training loop          {p["loop"]:>8.1f} steps/s'
        f'{vs(p["loop"])} (aim >= 1.3x)'
    )
    print(
        f'  matmul-peak ceiling           {ceiling:>8.1f} steps/s '
        f'({p["flops_per_step"] / 1e9:.3f} GFLOP/step at '
        f'{peak["flops_per_s"] / 1e9:.1f} GFLOP/s): loop reaches '
        f'{p["loop_of_ceiling"]:.1%} (aim >= 60%), bare step '
        f'{p["bare_of_ceiling"]:.1%}'
        + (f', best PyTorch {best / ceiling:.1%}' if best else ''),
        flush=True,
    )
  if 'family_peers' in sections:
    print(
        f'\nfamily peers: steps/s, best of {_REPEATS.value} rounds of about '
        f'{_PEER_SECONDS.value:g} s each (warm-up and compile excluded); '
        f'PyTorch with fused Adam, {_COMPUTE_DTYPE.value}',
        flush=True,
    )
    rows = []
    for name in [m for m in _MODELS.value if m in TORCH_MODES]:
      layout = FAMILIES[name].get('layout', 'flat')
      for batch_size in map(int, _BATCH_SIZES.value):
        p = family_peer_comparison(name, batch_size, datasets[layout])
        if 'torch_error' in p:
          print(f'PyTorch unavailable: {p["torch_error"]}')
        _print_family_peers(p, peak)
        rows.append(p)
    results['family_peers'] = rows
  results['load_average_end'] = os.getloadavg()
  print('load average at the end %.2f %.2f %.2f' % results['load_average_end'])
  if _JSON_OUT.value:
    with open(_JSON_OUT.value, 'w') as f:
      json.dump(results, f, indent=1, default=str)


if __name__ == '__main__':
  app.run(main)
