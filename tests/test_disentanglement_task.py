"""--task=disentanglement and a sweep that evaluates every member's metrics."""

import json
import os
import subprocess
import sys

import pytest

from ae_jax.tasks import disentanglement
from ae_jax.tasks import evaluate
from ae_jax.train import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def sweep_dir(tmp_path_factory):
  """Two beta-VAEs on xy_sprites, trained and evaluated by the binary."""
  workdir = tmp_path_factory.mktemp('study')
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.sweep',
          '--config=experiments/configs/beta_vae.py:dataset=xy_sprites,smoke',
          '--config.latent_dim=3',
          '--sweep.beta=1,8',
          '--evaluate=disentanglement',
          '--disentanglement_points=200',
          f'--workdir={workdir}',
      ],
      capture_output=True,
      text=True,
      cwd=ROOT,
      timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir, proc.stdout


def test_the_sweep_evaluates_every_member_and_draws_metric_against_beta(
    sweep_dir,
):
  workdir, stdout = sweep_dir
  rows = json.loads((workdir / 'sweep_disentanglement.json').read_text())
  assert [r['beta'] for r in rows] == [1.0, 8.0]
  for row in rows:
    for key in disentanglement.KEYS:
      assert 0.0 <= row[key] <= 1.0, (key, row[key])
    assert row['num_train_points'] == 200 and row['num_test_points'] == 100
  assert '| beta | beta_vae_score | factor_vae_score | mig |' in stdout
  assert (workdir / 'sweep_disentanglement.png').stat().st_size > 0
  for i in range(2):
    member = workdir / f'member_{i}'
    saved = json.loads((member / 'eval_disentanglement.json').read_text())
    assert saved['mig'] == rows[i]['mig']
    assert len(saved['mutual_information']) == 3  # Code units.
    assert len(saved['mutual_information'][0]) == 5  # Factors.
    assert [r['factor'] for r in saved['per_factor']] == [
        'shape',
        'scale',
        'colour',
        'position_x',
        'position_y',
    ]
    for name in ('traversals.png', 'mutual_information.png'):
      assert (member / name).stat().st_size > 0


def test_the_metrics_are_reproducible_from_the_work_directory(sweep_dir):
  workdir, _ = sweep_dir
  member = str(workdir / 'member_1')
  saved = json.loads(
      (workdir / 'member_1' / 'eval_disentanglement.json').read_text()
  )
  again = evaluate.evaluate(
      member, ['disentanglement'], options={'disentanglement': {'points': 200}}
  )['disentanglement']
  for key in disentanglement.KEYS:
    assert again[key] == saved[key], key


def test_tasks_on_a_ground_truth_dataset_say_they_measured_training_images(
    sweep_dir,
):
  # xy_sprites' test split is a draw of its training images.
  workdir, _ = sweep_dir
  evaluate.evaluate(str(workdir / 'member_0'), ['pca'])
  saved = json.loads((workdir / 'member_0' / 'eval_pca.json').read_text())
  assert saved['test_split'] == 'training images (ground-truth dataset)'


@pytest.fixture(scope='module')
def digits_dir(tmp_path_factory):
  """A VAE trained on digits, which has no factors."""
  from experiments.configs import vae  # pylint: disable=g-import-not-at-top

  config = vae.get_config('smoke')
  config.num_train_steps = 2
  config.write_figures = False
  workdir = tmp_path_factory.mktemp('digits')
  trainer.train_and_evaluate(config, workdir)
  return workdir


def test_refused_without_factors_or_with_too_few_points(digits_dir, sweep_dir):
  with pytest.raises(ValueError, match=r'ground-truth factors.*dsprites'):
    evaluate.evaluate(str(digits_dir), ['disentanglement'])
  assert not list(digits_dir.glob('eval_*.json'))
  workdir, _ = sweep_dir
  with pytest.raises(
      ValueError,
      match=r'disentanglement_points=50.*xy_sprites need at least 200',
  ):
    evaluate.evaluate(
        str(workdir / 'member_0'),
        ['disentanglement'],
        options={'disentanglement': {'points': 50}},
    )


def test_the_study_table_gives_mean_and_spread_per_objective(
    sweep_dir, tmp_path
):
  from experiments import disentanglement_study  # pylint: disable=g-import-not-at-top

  workdir, _ = sweep_dir
  rows = json.loads((workdir / 'sweep_disentanglement.json').read_text())
  (tmp_path / 'beta_vae').mkdir()
  # Two "seeds" of beta 8: the member twice, shifted.
  shifted = dict(rows[1], mig=rows[1]['mig'] + 0.1)
  (tmp_path / 'beta_vae' / 'sweep_disentanglement.json').write_text(
      json.dumps(rows + [shifted])
  )
  found = disentanglement_study.groups(tmp_path)
  assert list(found) == ['VAE', 'beta-VAE 8']
  vae, beta8 = disentanglement.summarise(found)
  assert vae['seeds'] == 1 and vae['mig_spread'] == 0.0
  assert beta8['seeds'] == 2
  assert beta8['mig_mean'] == pytest.approx(rows[1]['mig'] + 0.05)
  assert beta8['mig_spread'] == pytest.approx(0.1)
  disentanglement.save_study_figure(tmp_path / 'study.png', found)
  assert (tmp_path / 'study.png').stat().st_size > 0


def test_default_tasks_include_disentanglement_only_with_factors(
    sweep_dir, digits_dir
):
  import ae_jax  # pylint: disable=g-import-not-at-top
  from ae_jax import tasks  # pylint: disable=g-import-not-at-top

  workdir, _ = sweep_dir
  assert (
      tasks.default_tasks(ae_jax.load(workdir / 'member_0'))[-1]
      == 'disentanglement'
  )
  assert 'disentanglement' not in tasks.default_tasks(ae_jax.load(digits_dir))


def test_a_sweep_refuses_tasks_its_members_cannot_run_before_training():
  from ae_jax import tasks  # pylint: disable=g-import-not-at-top
  from experiments.configs import vae  # pylint: disable=g-import-not-at-top

  digits = vae.get_config('smoke')
  with pytest.raises(ValueError, match=r'ground-truth factors'):
    tasks.check(['disentanglement'], digits, flag='--evaluate')
  with pytest.raises(ValueError, match=r"Unknown task 'disentanglment'"):
    tasks.check(['disentanglment'], digits, flag='--evaluate')
  sprites = vae.get_config('smoke,dataset=xy_sprites')
  with pytest.raises(ValueError, match=r'at least 200'):
    tasks.check(
        ['disentanglement'],
        sprites,
        {'disentanglement': {'points': 150}},
        flag='--evaluate',
    )
  with pytest.raises(ValueError, match=r'--evaluate does not name it'):
    tasks.check(
        [], sprites, {'disentanglement': {'points': 500}}, flag='--evaluate'
    )
  tasks.check(['disentanglement'], sprites, flag='--evaluate')


def test_a_diverged_member_is_reported_not_evaluated(tmp_path, sweep_dir):
  rows = [{'seed': 0, 'beta': 4.0, 'test_loss': float('nan'), 'diverged': True}]
  out = evaluate.evaluate_members(str(tmp_path), rows, ['disentanglement'])
  assert out == [{'seed': 0, 'beta': 4.0, 'diverged': True}]
  # The sweep figure leaves it out.
  workdir, _ = sweep_dir
  evaluated = json.loads((workdir / 'sweep_disentanglement.json').read_text())
  disentanglement.save_sweep_figure(
      tmp_path / 'fig.png', out + evaluated, 'vae', fields=['beta']
  )
  assert (tmp_path / 'fig.png').stat().st_size > 0


def test_the_study_settings_leave_a_configs_own_fields(tmp_path):
  from experiments.configs import deep_ae, vq_vae, beta_vae  # pylint: disable=g-import-not-at-top

  assert beta_vae.get_config('dataset=xy_sprites').latent_dim == 10
  assert beta_vae.get_config('dataset=xy_sprites').batch_size == 64
  vq = vq_vae.get_config('dataset=xy_sprites')
  assert vq.latent_dim == vq_vae.get_config().latent_dim
  deep = deep_ae.get_config('dataset=xy_sprites')
  assert deep.num_epochs == deep_ae.get_config().num_epochs
