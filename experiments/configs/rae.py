r"""RAE (Ghosh et al. 2020): a deterministic AE with a regularised decoder, sampled through an ex-post Gaussian mixture.

  python -m experiments.train --config=experiments/configs/rae.py:dataset=fashion_mnist \
      --workdir=runs/rae
  python -m experiments.evaluate --workdir=runs/rae --task=generate
``reg=l2`` (default; RAE-L2), ``reg=gp`` (RAE-GP: the decoder Jacobian's
norm) or ``reg=none`` (the paper's plain RAE: only the code-norm term).
"""

from experiments.configs import common

# lambda per regulariser (pythae's defaults).
REGULARIZERS = {'l2': 1e-5, 'gp': 1e-7, 'none': 0.0}


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False, reg='l2')
  if arg.reg not in REGULARIZERS:
    raise ValueError(
        f'Unknown config argument reg={arg.reg!r}; use one of '
        f'{sorted(REGULARIZERS)}.'
    )
  config = common.get_base_config('rae')
  config.decoder_l2_weight = REGULARIZERS[arg.reg] if arg.reg == 'l2' else 0.0
  config.gradient_penalty_weight = (
      REGULARIZERS['gp'] if arg.reg == 'gp' else 0.0
  )
  return common.apply_variant(config, arg)
