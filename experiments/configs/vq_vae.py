r"""VQ-VAE (van den Oord et al. 2017): the encoder's output snapped to a learned codebook, straight-through gradients.

  python -m experiments.train --config=experiments/configs/vq_vae.py:dataset=fashion_mnist \
      --workdir=runs/vq_vae
The default codes an image with latent_dim / code_dim = 32 / 4 = 8 symbols
of K = 256 codes: 64 bits. ``codes=K``, ``symbols=S`` and ``beta=B`` (the
commitment weight, the paper's 0.25) change it; ``ema`` updates the codebook
as moving averages, ``restarts`` restarts dead codes.
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg,
      dataset='digits',
      smoke=False,
      codes=256,
      symbols=8,
      beta=0.25,
      ema=False,
      restarts=False,
  )
  config = common.get_base_config('vq_vae')
  config.codebook_size = arg.codes
  config.latent_dim = arg.symbols * config.code_dim
  config.commitment_weight = arg.beta
  config.codebook_update = 'ema' if arg.ema else 'loss'
  config.restart_dead_codes = arg.restarts
  config = common.apply_variant(config, arg)
  if arg.smoke:  # In place of apply_variant's 2-d code: two symbols.
    config.latent_dim = 2 * config.code_dim
  return config
