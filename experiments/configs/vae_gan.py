r"""VAE-GAN (Larsen et al. 2016): the VAE network, reconstructions judged in an image discriminator's features, three optimisers in one step.

  python -m experiments.train --config=experiments/configs/vae_gan.py:dataset=fashion_mnist \
      --workdir=runs/vae_gan
  python -m experiments.evaluate --workdir=runs/vae_gan --task=generate
``gamma=G`` weights the decoder's feature reconstruction against fooling the
discriminator; ``pixel=W`` adds W times the pixel negative log-likelihood to
the reconstruction error (0: the paper's features alone). ``conv=true``: the
paper's kind of networks, conv encoder, decoder and discriminator (the
``conv_vae.py`` network, 3x3 stride-2 convolutions of 32 and 64 channels;
images ``layout='hwc'``), to compare with ``conv_vae.py``. ``margin=M``
turns on Larsen et al.'s equilibrium rule (their code: 0.4), which pauses
whichever of discriminator and decoder wins by the margin.
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg,
      dataset='digits',
      smoke=False,
      gamma=1.0,
      pixel=0.0,
      conv=False,
      margin=0.0,
  )
  config = common.get_base_config('vae_gan')
  config.feature_weight = arg.gamma
  config.pixel_weight = arg.pixel
  config.equilibrium_margin = arg.margin
  if arg.conv:
    config.encoder = 'conv'
    config.layout = 'hwc'
    config.discriminator_network = 'conv'
  config = common.apply_variant(config, arg)
  if arg.smoke:
    config.discriminator_sizes = (16,)
  return config
