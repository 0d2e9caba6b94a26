"""Every experiment config trains end to end in its smoke variant (digits, seconds)."""

import importlib
import json
import math

import pytest

import ae_jax
from ae_jax import train

CONFIGS = [
    ('ae', ''),
    ('vae', ''),
    ('conv_vae', ''),
    ('deep_ae', ''),
    ('deep_ae', 'pretrain=rbm'),
    ('sparse_ae', ''),
    ('sparse_ae', 'sparsity=kl'),
    ('denoising_ae', 'noise=masking,level=0.5'),
    ('denoising_ae', 'noise=salt_and_pepper,level=0.2,conv'),
    ('contractive_ae', ''),
    ('conv_ae', ''),
    ('dropout_ae', 'rate=0.3'),
    ('stacked_ae', ''),
    ('lstm_ae', ''),
    ('rbm', ''),
    ('rbm', 'persistent,k=2'),
    ('rbm', 'gaussian'),
    ('aae', ''),
    ('aae', 'prior=gaussian_mixture,conditional'),
    ('aae', 'gaussian'),
    ('info_vae', ''),
    ('beta_vae', ''),
    ('beta_vae', 'capacity=5'),
    ('factor_vae', ''),
    ('papers.vae_nll', 'dataset=digits'),
    ('papers.vae_nll', 'dataset=digits,model=vampprior'),
    ('papers.vae_nll', 'dataset=digits,gated=false'),
    ('papers.deep_ae_pca', 'dataset=digits'),
    ('papers.dae_probe', 'dataset=digits'),
]


@pytest.mark.parametrize('name,arg', CONFIGS)
def test_config_trains_in_smoke_mode(name, arg, tmp_path):
  module = importlib.import_module(f'experiments.configs.{name}')
  config = module.get_config(','.join(filter(None, ['smoke', arg])))
  config.num_train_steps = 10
  config.write_figures = False
  summary = train.train_and_evaluate(config, tmp_path)
  assert summary['step'] == 10
  assert all(math.isfinite(v) for v in summary['test'].values()), summary
  saved = json.loads((tmp_path / 'final_metrics.json').read_text())
  assert saved['test'] == summary['test']
  if config.pretrain != 'none':
    assert sorted(p.name for p in (tmp_path / 'pretrain').iterdir()) == [
        f'layer_{i}'
        for i in range(len(ae_jax.load(tmp_path).model.pretrain_layer_sizes()))
    ]
