"""Checkpoints: damaged ones are detected and skipped; which ones are kept."""

import json
import logging
import shutil

import chex
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import ae_jax
from ae_jax import train
from ae_jax.train import checkpoints
from ae_jax.train import state as state_lib


def _config(smoke_config, **overrides):
  config = smoke_config.copy_and_resolve_references()
  config.update(
      write_figures=False,
      num_train_steps=20,
      checkpoint_every_steps=5,
      log_every_steps=5,
      eval_every_steps=0,
      max_checkpoints_to_keep=3,
  )
  config.update(overrides)
  return config


def _params(workdir, step):
  with ocp.CheckpointManager(workdir / 'checkpoints') as mngr:
    return mngr.restore(step)['params']


def _truncate_array_files(step_dir):
  for f in (step_dir / 'default').rglob('*'):
    if f.is_file() and f.stat().st_size > 0 and '/d/' in str(f):
      f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _garbage_metadata(step_dir):
  (step_dir / 'default' / '_METADATA').write_text('{not json')


def _delete_arrays(step_dir):
  for f in (step_dir / 'default').rglob('manifest.ocdbt'):
    f.unlink()


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
  from experiments.configs import vae  # pylint: disable=g-import-not-at-top

  workdir = tmp_path_factory.mktemp('straight')
  train.train_and_evaluate(_config(vae.get_config('smoke')), workdir)
  return workdir


@pytest.mark.parametrize(
    'damage', [_truncate_array_files, _garbage_metadata, _delete_arrays]
)
def test_damaged_latest_checkpoint_falls_back_to_the_previous(
    smoke_config, straight, tmp_path, caplog, damage
):
  config = _config(smoke_config)
  train.train_and_evaluate(config, tmp_path)
  damage(tmp_path / 'checkpoints' / '20')

  with caplog.at_level(logging.WARNING):
    summary = train.train_and_evaluate(config, tmp_path)
  warning = ' '.join(r.getMessage() for r in caplog.records)
  assert 'Checkpoint step 20' in warning and 'unreadable' in warning, warning
  # Moved aside (kept for inspection), and step 20 trained again from 15 ...
  assert (tmp_path / 'checkpoints_corrupt' / '20').exists()
  assert summary['step'] == 20
  # ... to exactly the parameters of the undamaged run.
  chex.assert_trees_all_equal(_params(straight, 20), _params(tmp_path, 20))


def test_non_finite_checkpoint_is_treated_as_damaged(
    smoke_config, tmp_path, caplog
):
  config = _config(smoke_config)
  train.train_and_evaluate(config, tmp_path)
  with ocp.CheckpointManager(tmp_path / 'checkpoints') as mngr:
    saved = mngr.restore(20)
  # Rewrite step 20 with a NaN parameter (e.g. bit rot in a float).
  saved['params'] = jax_tree_nan_first_leaf(saved['params'])
  (tmp_path / 'checkpoints' / '20').rename(tmp_path / 'old20')
  with ocp.CheckpointManager(tmp_path / 'checkpoints') as mngr:
    mngr.save(20, args=ocp.args.StandardSave(saved))
    mngr.wait_until_finished()
  with caplog.at_level(logging.WARNING):
    loaded = ae_jax.load(tmp_path)
  assert loaded.step == 15
  assert 'non-finite values' in caplog.text


def jax_tree_nan_first_leaf(tree):
  import jax  # pylint: disable=g-import-not-at-top

  leaves, treedef = jax.tree.flatten(tree)
  leaves[0] = np.asarray(leaves[0]).copy()
  leaves[0].flat[0] = np.nan
  return jax.tree.unflatten(treedef, leaves)


def test_load_skips_a_damaged_latest_but_not_an_explicit_step(
    smoke_config, tmp_path
):
  train.train_and_evaluate(_config(smoke_config), tmp_path)
  _truncate_array_files(tmp_path / 'checkpoints' / '20')
  assert ae_jax.load(tmp_path).step == 15
  # Read-only: nothing is moved by loading.
  assert (tmp_path / 'checkpoints' / '20').exists()
  with pytest.raises(ValueError, match='step 20 .* is unreadable'):
    ae_jax.load(tmp_path, step=20)
  with pytest.raises(ValueError, match=r'saved steps: \[10, 15, 20\]'):
    ae_jax.load(tmp_path, step=7)


def test_load_names_a_checkpoints_path_that_is_a_file(straight, tmp_path):
  run = tmp_path / 'run'
  shutil.copytree(straight, run)
  shutil.rmtree(run / 'checkpoints')
  (run / 'checkpoints').write_text('')
  # A NotADirectoryError traceback before.
  with pytest.raises(ValueError, match='checkpoints is a file, not the dir'):
    ae_jax.load(run)


def test_leftover_temporary_directory_of_a_killed_save_is_ignored(
    smoke_config, straight, tmp_path
):
  config = _config(smoke_config, num_train_steps=15)
  train.train_and_evaluate(config, tmp_path)
  # What a process killed while writing step 20 leaves behind.
  tmp = tmp_path / 'checkpoints' / '20.orbax-checkpoint-tmp-1234'
  (tmp / 'default').mkdir(parents=True)
  (tmp / 'default' / '_METADATA').write_text('{"half": ')
  train.train_and_evaluate(_config(smoke_config), tmp_path)
  chex.assert_trees_all_equal(_params(straight, 20), _params(tmp_path, 20))
  assert not tmp.exists()


def test_keeps_the_latest_n_plus_the_best_by_validation_loss(tmp_path):
  manager = checkpoints.make_manager(
      tmp_path, max_to_keep=2, best_metric='loss'
  )
  losses = {1: 5.0, 2: 1.0, 3: 4.0, 4: 3.0, 5: 6.0, 6: 7.0}
  for step, loss in losses.items():
    state = state_lib.TrainState(
        step=jnp.asarray(step),
        params={'w': jnp.full((3,), float(step))},
        opt_state={},
        rng=jnp.zeros((2,), jnp.uint32),
    )
    checkpoints.save(manager, state, metrics={'loss': loss})
  manager.wait_until_finished()
  assert manager.all_steps() == [2, 5, 6]
  assert manager.best_step() == 2
  manager.close()


def test_without_validation_only_the_latest_n_are_kept(tmp_path):
  manager = checkpoints.make_manager(tmp_path, max_to_keep=2)
  for step in range(1, 6):
    state = state_lib.TrainState(
        step=jnp.asarray(step),
        params={'w': jnp.zeros(2)},
        opt_state={},
        rng=jnp.zeros((2,), jnp.uint32),
    )
    checkpoints.save(manager, state)
  manager.wait_until_finished()
  assert manager.all_steps() == [4, 5]
  manager.close()


def test_validation_split_ranks_checkpoints_and_load_best(
    smoke_config, tmp_path
):
  config = _config(
      smoke_config,
      validation_size=200,
      max_checkpoints_to_keep=1,
      num_train_steps=60,
  )
  # The wiring end to end; which steps the policy keeps when the best is an
  # old one is `test_keeps_the_latest_n_plus_the_best_by_validation_loss`.
  summary = train.train_and_evaluate(config, tmp_path)
  records = [
      json.loads(l)
      for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()
  ]
  validation = {
      r['step']: r['loss'] for r in records if r['split'] == 'validation'
  }
  assert sorted(validation) == list(range(5, 65, 5))
  best = min(validation, key=validation.get)
  assert summary['best_checkpoint']['step'] == best
  with ocp.CheckpointManager(tmp_path / 'checkpoints') as mngr:
    assert mngr.all_steps() == sorted({best, 60})
  assert ae_jax.load(tmp_path, step='best').step == best
  assert ae_jax.load(tmp_path).step == 60


def test_validation_is_held_out_of_training(smoke_config):
  from ae_jax import data  # pylint: disable=g-import-not-at-top

  dataset = data.load_dataset('digits')
  train_part, (x, y) = train.trainer.split_validation(dataset, 100)
  assert len(x) == len(y) == 100
  assert len(train_part.train_images) == len(dataset.train_images) - 100
  # A partition of the training split: every example exactly once.
  rows = lambda a: sorted(r.tobytes() for r in a)
  assert rows(np.concatenate([x, train_part.train_images])) == rows(
      dataset.train_images
  )
  with pytest.raises(ValueError, match='validation_size'):
    train.trainer.split_validation(dataset, len(dataset.train_images))


def test_load_best_without_validation_names_the_fix(smoke_config, tmp_path):
  train.train_and_evaluate(_config(smoke_config, num_train_steps=5), tmp_path)
  with pytest.raises(ValueError, match='validation_size'):
    ae_jax.load(tmp_path, step='best')


def test_when_no_checkpoint_restores_nothing_is_moved_and_the_run_stops(
    smoke_config, tmp_path
):
  # What a change of code or state structure looks like: every step fails.
  config = _config(smoke_config)
  train.train_and_evaluate(config, tmp_path)
  for step in (10, 15, 20):
    _garbage_metadata(tmp_path / 'checkpoints' / str(step))
  with pytest.raises(
      train.UnreadableCheckpointError, match='Nothing was moved'
  ):
    train.train_and_evaluate(config, tmp_path)
  with pytest.raises(train.UnreadableCheckpointError):
    ae_jax.load(tmp_path)
  with ocp.CheckpointManager(tmp_path / 'checkpoints') as mngr:
    assert mngr.all_steps() == [10, 15, 20]
  assert not (tmp_path / 'checkpoints_corrupt').exists()


# Issue 14: integrity of what a step holds, and leftovers in checkpoints/.


def _copy(straight, tmp_path):
  target = tmp_path / 'run'
  shutil.copytree(straight, target)
  return target


def test_arrays_that_changed_since_saving_fail_their_checksums(
    smoke_config, straight, tmp_path, caplog
):
  run = _copy(straight, tmp_path)
  # Valid files holding other values: what a flipped bit in a float or a
  # mixed-up copy leaves. Step 20's record still describes its own arrays.
  step20 = run / 'checkpoints' / '20' / 'default'
  shutil.rmtree(step20)
  shutil.copytree(run / 'checkpoints' / '15' / 'default', step20)
  with caplog.at_level(logging.WARNING):
    assert ae_jax.load(run).step == 15
  assert 'checksum mismatch' in caplog.text and 'params/' in caplog.text
  # The trainer quarantines it and trains step 20 again, bit-identically.
  train.train_and_evaluate(_config(smoke_config), run)
  assert (run / 'checkpoints_corrupt' / '20').exists()
  chex.assert_trees_all_equal(_params(straight, 20), _params(run, 20))


def _restore_unverified(run, step):
  with ocp.CheckpointManager(
      run / 'checkpoints', item_handlers=ocp.StandardCheckpointHandler()
  ) as mngr:
    return mngr.restore(step)


def test_single_bit_flips_never_load_silently(straight, tmp_path):
  run = _copy(straight, tmp_path)
  reference = _restore_unverified(run, 20)
  files = sorted(
      f
      for f in (run / 'checkpoints' / '20' / 'default').rglob('*')
      if f.is_file() and '/d/' in str(f)
  )
  rng = np.random.default_rng(0)
  silent = []  # Flips that orbax alone restores without an error.
  for _ in range(400):
    path = files[rng.integers(len(files))]
    data = bytearray(path.read_bytes())
    pos, bit = rng.integers(len(data)), rng.integers(8)
    data[pos] ^= 1 << bit
    path.write_bytes(bytes(data))
    try:
      restored = _restore_unverified(run, 20)
      same = all(
          np.array_equal(a, b)
          for a, b in zip(
              jax_leaves(restored['params']), jax_leaves(reference['params'])
          )
      )
      if not same:
        silent.append((path, pos, bit))
    except Exception:  # pylint: disable=broad-except
      pass
    data[pos] ^= 1 << bit
    path.write_bytes(bytes(data))
    if len(silent) == 3:
      break
  # Without checksums these load as step 20 with other weights.
  assert silent, 'no flip changed a value silently; raise the number of tries'
  for path, pos, bit in silent:
    data = bytearray(path.read_bytes())
    data[pos] ^= 1 << bit
    path.write_bytes(bytes(data))
    assert ae_jax.load(run).step == 15
    data[pos] ^= 1 << bit
    path.write_bytes(bytes(data))


def jax_leaves(tree):
  import jax  # pylint: disable=g-import-not-at-top

  return [np.asarray(l) for l in jax.tree.leaves(tree)]


def test_step_saved_before_checksums_restores_unverified(straight, tmp_path):
  run = _copy(straight, tmp_path)
  for step in (15, 20):
    path = run / 'checkpoints' / str(step) / '_CHECKPOINT_METADATA'
    metadata = json.loads(path.read_text())
    assert 'checksums' in metadata['custom_metadata']['ae_jax']
    metadata['custom_metadata'] = {}  # As earlier versions wrote it.
    path.write_text(json.dumps(metadata))
  assert ae_jax.load(run).step == 20


def test_edited_config_json_is_refused_by_load_and_by_a_resume(
    smoke_config, straight, tmp_path
):
  run = _copy(straight, tmp_path)
  saved = json.loads((run / 'config.json').read_text())
  saved['activation'] = 'tanh'  # The weights were trained with relu.
  (run / 'config.json').write_text(json.dumps(saved))
  with pytest.raises(ValueError, match="activation: 'relu' -> 'tanh'"):
    ae_jax.load(run)
  # Relaunching with tanh now agrees with config.json, not with the weights.
  with pytest.raises(
      train.IncompatibleWorkdirError, match='checkpoint of step 20'
  ):
    train.train_and_evaluate(
        _config(smoke_config, activation='tanh', num_train_steps=30), run
    )


def _empty(step_dir):
  step_dir.mkdir()


def _metadata_only(step_dir):
  step_dir.mkdir()
  shutil.copy(step_dir.parent / '20' / '_CHECKPOINT_METADATA', step_dir)


@pytest.mark.parametrize(
    'step, leftover',
    [(25, _empty), (99, _empty), (25, _metadata_only)],
    ids=['interrupted_copy', 'stray_empty', 'metadata_only'],
)
def test_leftover_step_directories_are_skipped_for_the_newest_intact(
    smoke_config, straight, tmp_path, caplog, step, leftover
):
  run = _copy(straight, tmp_path)
  leftover(run / 'checkpoints' / str(step))
  with caplog.at_level(logging.WARNING):
    assert ae_jax.load(run).step == 20  # Read-only: skipped, not moved.
  assert f'step {step}' in caplog.text
  assert (run / 'checkpoints' / str(step)).exists()
  summary = train.train_and_evaluate(_config(smoke_config), run)
  assert summary['step'] == 20
  assert (run / 'checkpoints_corrupt' / str(step)).exists()
  assert ae_jax.load(run).step == 20


def test_load_and_resume_skip_a_step_with_a_garbage_sharding_file_alike(
    smoke_config, straight, tmp_path
):
  # Before, the trainer restored it (its own state gives the shardings) and
  # ae_jax.load skipped it: the two used different steps.
  run = _copy(straight, tmp_path)
  (run / 'checkpoints' / '20' / 'default' / '_sharding').write_text('{garb')
  assert ae_jax.load(run).step == 15
  train.train_and_evaluate(_config(smoke_config), run)
  assert (run / 'checkpoints_corrupt' / '20').exists()
  chex.assert_trees_all_equal(_params(straight, 20), _params(run, 20))


def test_step_deleted_while_being_read_is_passed_over_quietly(
    straight, tmp_path, caplog, monkeypatch
):
  run = _copy(straight, tmp_path)
  restore = ocp.CheckpointManager.restore

  def retention_deletes_it_midway(self, step, *args, **kwargs):
    if step == 20:  # A run training here just deleted its oldest step.
      shutil.rmtree(run / 'checkpoints' / '20')
      raise FileNotFoundError(f'{run}/checkpoints/20/default/_METADATA')
    return restore(self, step, *args, **kwargs)

  monkeypatch.setattr(
      ocp.CheckpointManager, 'restore', retention_deletes_it_midway
  )
  with caplog.at_level(logging.WARNING):
    assert ae_jax.load(run).step == 15
  assert 'unreadable' not in caplog.text
