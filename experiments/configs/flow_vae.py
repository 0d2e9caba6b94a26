r"""VAE with a normalizing-flow posterior: planar or radial steps (Rezende & Mohamed 2015) or IAF (Kingma et al. 2016).

  python -m experiments.train --config=experiments/configs/flow_vae.py:dataset=fashion_mnist,flow=iaf \
      --workdir=runs/iaf
``flow=planar|radial|iaf`` and ``length=K`` (steps) choose the flow; the
network is the VAE's (784-512-20).
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg, dataset='digits', smoke=False, flow='planar', length=10
  )
  config = common.get_base_config('flow_vae')
  config.flow = arg.flow
  config.flow_length = arg.length
  config = common.apply_variant(config, arg)
  if arg.smoke:
    config.flow_length = 2
    config.flow_hidden = 16
  return config
