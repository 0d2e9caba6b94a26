"""Evaluation tasks and the evaluate / dropout-sweep binaries on smoke runs."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import ae_jax
from ae_jax import trained as trained_lib
from ae_jax import tasks
from ae_jax import train
from ae_jax.train import distributed
from ae_jax.tasks import evaluate
from ae_jax.tasks import markdown
from experiments.configs import aae as aae_config
from experiments.configs import denoising_ae
from experiments.configs import sparse_ae
from experiments.configs import stacked_ae
from experiments.configs import vae as vae_config
from tests import fitting


def _train(module, arg, workdir):
  config = module.get_config(arg)
  config.num_train_steps = 30
  config.write_figures = False
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('runs')
  return {
      'dae': _train(denoising_ae, 'smoke,level=0.5', root / 'dae'),
      'plain': _train(denoising_ae, 'smoke,noise=none,level=0', root / 'plain'),
      'kl': _train(sparse_ae, 'smoke,sparsity=kl', root / 'kl'),
      'stacked': _train(stacked_ae, 'smoke', root / 'stacked'),
  }


def test_every_task_writes_json_and_prints_a_table(runs):
  results = evaluate.evaluate(
      str(runs['dae']),
      ['pca', 'denoise', 'jacobian', 'probe'],
      baseline_workdir=str(runs['plain']),
  )
  pca = results['pca']
  assert pca['ae_over_pca'] == pytest.approx(pca['ae_mse'] / pca['pca_mse'])
  assert pca['ae_squared_error_per_image'] == pytest.approx(
      64 * pca['ae_mse']  # The 8 x 8 pixels of a digits image.
  )
  rows = results['denoise']['rows']
  assert {r['noise'] for r in rows} == {
      'gaussian',
      'masking',
      'salt_and_pepper',
  }
  assert all(np.isfinite(r['psnr_noisy']) for r in rows)
  assert all('psnr_baseline' in r for r in rows)
  assert (runs['dae'] / 'denoise.png').stat().st_size > 0
  jac = results['jacobian']
  assert jac['ratio'] == pytest.approx(
      jac['jacobian_norm'] / jac['baseline_jacobian_norm']
  )
  probe = results['probe']
  assert 0.85 < probe['raw_pixels'] <= 1.0  # Logistic regression on digits.
  trained = ae_jax.load(runs['dae'])
  for name, result in results.items():
    saved = json.loads((runs['dae'] / f'eval_{name}.json').read_text())
    # The numbers, and which parameters they describe (issue 14: a file
    # from an earlier step looked like one of the final model).
    assert saved.pop('step') == trained.step
    assert saved.pop('params_sha256') == distributed.params_fingerprint(
        trained.params
    )
    assert saved.pop('baseline')['step'] == ae_jax.load(runs['plain']).step
    assert saved == json.loads(json.dumps(result))
    table = markdown.task_tables(name, result)
    assert table.count('\n') >= 3 and '|---|' in table


def test_sparsity_task_reports_the_target_deviation(runs):
  result = evaluate.evaluate(str(runs['kl']), ['sparsity'])['sparsity']
  assert result['target'] == 0.05
  assert result['max_deviation_from_target'] >= 0
  assert (
      result['min_unit_activation']
      <= result['mean_activation']
      <= result['max_unit_activation']
  )


def test_probe_reports_a_classifier_own_accuracy(runs):
  result = evaluate.evaluate(str(runs['stacked']), ['probe'])['probe']
  assert 0.0 <= result['model_accuracy'] <= 1.0


def test_latent_and_generate_tasks_on_a_vae(tmp_path):
  config = vae_config.get_config('smoke')
  config.num_train_steps = 30
  config.write_figures = False
  train.train_and_evaluate(config, tmp_path / 'vae')
  results = evaluate.evaluate(
      str(tmp_path / 'vae'),
      ['latent', 'generate'],
      baseline_workdir=str(tmp_path / 'vae'),
  )
  result = results['latent']
  assert len(result['kl_per_dimension']) == result['latent_dim'] == 2
  assert 0 <= result['active_units'] <= 2
  assert result['total_kl'] == pytest.approx(sum(result['kl_per_dimension']))
  assert result['active_units'] == sum(
      a > 0.01 for a in result['activity_per_dimension']
  )
  assert result['total_correlation'] >= 0 and result['mmd_to_prior'] > -0.1
  # The model as its own baseline reproduces its own scalars.
  assert result['baseline_total_correlation'] == result['total_correlation']
  assert result['baseline_active_units'] == result['active_units']
  generated = results['generate']
  assert generated['generative'] and np.isfinite(generated['sample_mmd'])
  # Barely trained samples are further from the test images than real ones.
  assert generated['sample_mmd'] > generated['reference_mmd_train_to_test']
  assert generated['baseline_sample_mmd'] == generated['sample_mmd']
  # In the dataset classifier's features, the samples and reconstructions
  # of a barely trained VAE are far from test images; held-out test images
  # are close.
  assert generated['feature_classifier_test_accuracy'] > 0.9
  floor = generated['reference_frechet_distance']
  assert generated['frechet_distance'] > 5 * floor > 0
  assert generated['reconstruction_frechet_distance'] > 5 * floor
  assert generated['kernel_distance'] > generated['reference_kernel_distance']
  assert generated['baseline_frechet_distance'] == generated['frechet_distance']
  assert generated['sampler'] == 'prior'
  assert generated['expost_frechet_distance'] > 0
  for name in ('interpolations.png', 'generated_samples.png'):
    assert (tmp_path / 'vae' / name).stat().st_size > 0


def test_default_tasks_follow_the_model(runs):
  load = lambda name: ae_jax.load(runs[name])
  assert tasks.default_tasks(load('stacked')) == ['probe']
  assert 'sparsity' in tasks.default_tasks(load('kl'))
  plain = tasks.default_tasks(load('plain'))
  assert {'pca', 'probe', 'denoise', 'generate'} <= set(plain)
  assert not {'sparsity', 'jacobian', 'prior', 'latent', 'nll'} & set(plain)


def test_evaluate_without_task_runs_the_default_tasks(runs):
  results = evaluate.evaluate(str(runs['plain']))
  assert list(results) == tasks.default_tasks(ae_jax.load(runs['plain']))
  for name in results:
    assert (runs['plain'] / f'eval_{name}.json').exists()
  generated = results['generate']
  # A deterministic AE samples from an ex-post GMM on its training codes.
  assert not generated['generative'] and generated['sampler'] == 'expost_gmm'
  assert generated['sample_mmd'] > 0 and 'expost_frechet_distance' not in (
      generated
  )
  assert generated['frechet_distance'] > generated['reference_frechet_distance']
  assert (runs['plain'] / trained_lib.EXPOST_FILE).exists()
  assert (runs['plain'] / 'interpolations.png').stat().st_size > 0


def test_generative_tasks_refuse_models_without_what_they_need(runs):
  with pytest.raises(ValueError, match='Gaussian posterior'):
    evaluate.evaluate(str(runs['dae']), ['latent'])
  with pytest.raises(ValueError, match='importance weights'):
    evaluate.evaluate(str(runs['dae']), ['nll'])
  with pytest.raises(
      ValueError,
      match=r'Task prior needs a model whose codes are pushed to a prior.*aae, wae',
  ):
    evaluate.evaluate(str(runs['dae']), ['prior'])


def test_prior_task_compares_an_aae_with_a_baseline(runs, tmp_path):
  config = aae_config.get_config('smoke')
  config.num_train_steps = 30
  config.write_figures = False
  train.train_and_evaluate(config, tmp_path / 'aae')
  result = evaluate.evaluate(
      str(tmp_path / 'aae'), ['prior'], baseline_workdir=str(runs['plain'])
  )['prior']
  assert result['examples'] == 300
  assert abs(result['mmd_prior_to_prior']) < result['baseline_mmd']
  assert np.isfinite(result['mmd'])


def test_unknown_task_fails_before_loading(tmp_path):
  with pytest.raises(ValueError, match="Unknown task 'psnr'"):
    evaluate.evaluate(str(tmp_path / 'missing'), ['psnr'])


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sweep(*args):
  # A subprocess: each binary defines its own absl flags.
  return subprocess.run(
      [sys.executable, '-m', 'experiments.dropout_sweep', '--smoke', *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      env=dict(os.environ, JAX_PLATFORMS='cpu'),
  )


def test_dropout_sweep_writes_table_json_and_figure(tmp_path):
  proc = _sweep(f'--workdir={tmp_path}', '--rates=0,0.5')
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = json.loads((tmp_path / 'sweep.json').read_text())
  assert [r['dropout_rate'] for r in rows] == [0.0, 0.5]
  assert all(0 <= r['probe_accuracy'] <= 1 for r in rows)
  assert (tmp_path / 'sweep.png').stat().st_size > 0
  assert '| 0.5 |' in proc.stdout


def test_dropout_sweep_rejects_a_bad_rate_before_training(tmp_path):
  proc = _sweep(f'--workdir={tmp_path}', '--rates=0.1,1.0')
  assert proc.returncode == 1
  assert 'dropout rate' in proc.stderr
  assert not list(tmp_path.iterdir())
  # An unknown dataset names this binary's flag, not the config field.
  proc = _sweep(f'--workdir={tmp_path}', '--dataset=bogus', '--rates=0.1')
  assert proc.returncode == 1
  assert "Unknown dataset 'bogus' (--dataset): set --dataset" in proc.stderr


def _evaluate_binary(*args):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.evaluate', *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
      env=dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT),
  )


def test_evaluate_on_a_directory_without_a_run_prints_the_error(tmp_path):
  result = _evaluate_binary(f'--workdir={tmp_path / "nothing_here"}')
  assert result.returncode != 0
  assert 'error: ' in result.stderr and 'config.json not found' in result.stderr
  assert 'Traceback' not in result.stderr, result.stderr[-2000:]
  # --task= (an unset shell variable) ran every default task.
  result = _evaluate_binary(f'--workdir={tmp_path}', '--task=')
  assert result.returncode != 0
  assert 'error: --task is empty' in result.stderr


def test_a_baseline_of_other_inputs_is_refused_before_any_task(runs, tmp_path):
  config = vae_config.get_config('smoke')
  config.update(layout='hwc', num_train_steps=5, write_figures=False)
  train.train_and_evaluate(config, tmp_path / 'hwc')
  # Before: a shape error deep inside the denoise task, after the work.
  with pytest.raises(ValueError, match=r'inputs of shape \[8, 8, 1\]'):
    evaluate.evaluate(
        str(runs['plain']), ['denoise'], baseline_workdir=str(tmp_path / 'hwc')
    )


def test_nll_on_all_test_images_and_its_option_checked(tmp_path, monkeypatch):
  from ae_jax.tasks import generative  # pylint: disable=g-import-not-at-top

  monkeypatch.setattr(generative, 'NLL_SAMPLES', 10)
  config = vae_config.get_config('smoke')
  config.write_figures = False
  train.train_and_evaluate(config, tmp_path / 'vae')
  default, every = (
      evaluate.evaluate(
          str(tmp_path / 'vae'), ['nll'], options={'nll': {'examples': n}}
      )['nll']
      for n in (100, 0)
  )
  assert default['examples'] == 100 and every['examples'] == 300
  assert every['seconds'] > 0 and np.isfinite(every['nll'])
  with pytest.raises(ValueError, match='nll_examples=-1 must be an integer'):
    evaluate.evaluate(
        str(tmp_path / 'vae'), ['nll'], options={'nll': {'examples': -1}}
    )


@pytest.mark.parametrize(
    'overrides',
    [
        dict(model='vampprior', num_pseudo_inputs=20),
        dict(model='flow_vae', flow='planar', flow_length=2),
    ],
    ids=['vampprior', 'flow_vae'],
)
def test_task_latent_measures_the_models_own_prior_and_posterior(overrides):
  # It took the closed-form KL to N(0, I) of the encoder's Gaussian: 14.3
  # nats for a VampPrior whose own KL was 2.2, and the flow's codes before
  # the flow.
  config = fitting.config(latent_dim=4, **overrides)
  model, params, _ = fitting.fit(config, steps=300)
  x = fitting.digits().test_images
  trained = trained_lib.TrainedModel(model, params, config, step=300)
  stats = tasks.run('latent', trained, fitting.digits())
  assert 'kl_per_dimension' not in stats and stats['latent_dim'] == 4
  # The model's own one-sample KL, averaged over many draws.
  one = jax.jit(
      lambda k: model.per_example_losses(params, x, k, train=False)['loss_kl']
  )
  want = np.mean([one(jax.random.PRNGKey(i)).mean() for i in range(20)])
  np.testing.assert_allclose(stats['total_kl'], want, rtol=0.05)
