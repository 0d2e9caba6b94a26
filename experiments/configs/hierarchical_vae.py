r"""Two-stochastic-layer VAE / IWAE with Burda et al.'s (2015) architecture: x-200-200-z1(100)-100-100-z2(50), tanh.

  python -m experiments.train --config=experiments/configs/hierarchical_vae.py:dataset=fashion_mnist \
      --workdir=runs/hvae
``samples=K`` trains the K-sample IWAE bound (Burda et al.'s IWAE-2L) instead
of the ELBO; ``--config.free_bits=F`` floors each latent unit's KL at F nats
(Kingma et al. 2016) against a collapsing top layer; ``--config.inference=ladder``
infers top-down, q(z2|x) q(z1|z2, x), as the ladder VAE (Sonderby et al.
2016) with the same networks. The one-layer model it
is compared with: ``vae.py`` with
``--config.hidden_sizes='(200, 200)' --config.latent_dim=50
--config.activation=tanh``.
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False, samples=1)
  config = common.get_base_config('hierarchical_vae')
  config.hidden_sizes = (200, 200)
  config.latent_dim = 100
  config.activation = 'tanh'
  config.iwae_samples = arg.samples
  config = common.apply_variant(config, arg)
  if arg.smoke:
    config.top_hidden_sizes = (16,)
    config.top_latent_dim = 2
  return config
