"""Relaunches must leave a run's files agreeing; damaged ones are named.

Most tests copy one finished 20-step run (trained once per test process)
and relaunch or load it after changing something, as a user, a crash or a
full disk would.
"""

import dataclasses
import errno
import json
import os
import shutil

import numpy as np
import pytest

import ae_jax
from ae_jax import anomaly
from ae_jax import data
from ae_jax import train
from ae_jax.train import trainer
from ae_jax.train import workdir as workdir_lib


def _quiet(config, **overrides):
  config = config.copy_and_resolve_references()
  config.write_figures = False
  config.update(overrides)
  return config


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  from experiments.configs import vae  # pylint: disable=g-import-not-at-top

  workdir = tmp_path_factory.mktemp('finished') / 'run'
  summary = train.train_and_evaluate(_quiet(vae.get_config('smoke')), workdir)
  return workdir, summary


@pytest.fixture
def run(finished, tmp_path):
  """A copy of the finished run, to change."""
  shutil.copytree(finished[0], tmp_path / 'run')
  return tmp_path / 'run'


def _files(workdir):
  """Every file of a work directory and its bytes."""
  return {
      str(p.relative_to(workdir)): p.read_bytes()
      for p in sorted(workdir.rglob('*'))
      if p.is_file()
  }


def test_relaunching_a_finished_run_changes_nothing(
    smoke_config, finished, run
):
  before = _files(run)
  # The same length: its summary, unchanged (the measured steps/s included).
  again = train.train_and_evaluate(_quiet(smoke_config), run)
  assert again == json.loads(json.dumps(finished[1]))
  assert 'train_steps_per_second' in again
  # Shorter: refused, naming the step reached; nothing rewritten.
  with pytest.raises(ValueError, match='already trained to step 20, past'):
    train.train_and_evaluate(_quiet(smoke_config, num_train_steps=10), run)
  assert _files(run) == before


def test_a_stale_summary_is_not_returned_for_a_later_step(smoke_config, run):
  stale = (run / 'final_metrics.json').read_text()
  longer = train.train_and_evaluate(
      _quiet(smoke_config, num_train_steps=30), run
  )
  # As if the step-30 summary had not been written (a kill, a full disk).
  (run / 'final_metrics.json').write_text(stale)
  again = train.train_and_evaluate(
      _quiet(smoke_config, num_train_steps=30), run
  )
  assert again['step'] == 30
  assert again['params_sha256'] == longer['params_sha256']
  assert json.loads((run / 'final_metrics.json').read_text())['step'] == 30


def test_resuming_on_other_data_is_refused(smoke_config, run):
  dataset = data.load_dataset('digits')
  # The same names and shapes, other images: as if the IDX files changed.
  other = dataclasses.replace(
      dataset, train_images=np.ascontiguousarray(dataset.train_images[::-1])
  )
  before = _files(run)
  with pytest.raises(train.IncompatibleWorkdirError, match='data .* differs'):
    train.train_and_evaluate(
        _quiet(smoke_config, num_train_steps=30), run, dataset=other
    )
  assert _files(run) == before


def test_resume_drops_an_incomplete_last_log_record(smoke_config, run, caplog):
  log = run / 'metrics.jsonl'
  with log.open('a') as f:
    f.write('{"step": 23, "split": "tra')  # A kill during an append.
  with caplog.at_level('WARNING'):
    train.train_and_evaluate(_quiet(smoke_config, num_train_steps=30), run)
  assert 'incomplete last record' in caplog.text
  steps = [json.loads(l)['step'] for l in log.read_text().splitlines()]
  assert steps[-1] == 30 and 23 not in steps


@pytest.mark.parametrize(
    'name, text, match',
    [
        (
            'config.json',
            '{"model": "vae", "new_field": 1}',
            r'does not know \(new_field\)',
        ),
        (
            'metrics.jsonl',
            'x\n{"step": 5}\n',
            'metrics.jsonl is damaged at line 1',
        ),
    ],
    ids=['config_other_version', 'metrics'],
)
def test_damaged_run_files_are_named_before_any_change(
    smoke_config, run, name, text, match
):
  (run / name).write_text(text)
  before = _files(run)
  with pytest.raises(ValueError, match=match):
    train.train_and_evaluate(_quiet(smoke_config, num_train_steps=30), run)
  assert _files(run) == before


@pytest.mark.parametrize('name', ['config.json', 'dataset.json'])
def test_damaged_description_is_named_by_load_and_rewritten_by_a_rerun(
    smoke_config, run, caplog, name
):
  config = _quiet(smoke_config)
  good = (run / name).read_text()
  (run / name).write_text('{"model": "va')
  with pytest.raises(ValueError, match=f'{name} is damaged'):
    ae_jax.load(run)
  # The checkpoint records the config; dataset.json only describes the data.
  with caplog.at_level('WARNING'):
    train.train_and_evaluate(config, run)
  assert f'{name} is damaged' in caplog.text
  assert (run / name).read_text() == good
  (run / name).unlink()  # Deleted: written again too.
  train.train_and_evaluate(config, run)
  assert ae_jax.load(run).step == 20


def test_relaunch_on_a_full_disk_changes_nothing(
    smoke_config, run, monkeypatch
):
  # As tests/test_faults.py does on a real full tmpfs (which skips where
  # mounting is not allowed).
  before = _files(run)
  monkeypatch.setattr(workdir_lib, 'free_bytes', lambda path: 4096)
  with pytest.raises(OSError, match=r'No space left .* Nothing was changed'):
    train.train_and_evaluate(_quiet(smoke_config, num_train_steps=30), run)
  assert _files(run) == before
  # A finished run writes nothing, so it still returns its summary.
  assert train.train_and_evaluate(_quiet(smoke_config), run)['step'] == 20


def test_a_full_disk_in_the_event_writer_stops_the_run(
    smoke_config, tmp_path, monkeypatch
):
  from tensorboardX import event_file_writer  # pylint: disable=g-import-not-at-top

  def no_space(self, event):
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(event_file_writer.EventsWriter, 'write_event', no_space)
  # tensorboardX's queued writer hung here forever: its thread died, and the
  # next write waited on its full queue.
  with pytest.raises(OSError, match='No space left on the device of'):
    train.train_and_evaluate(
        _quiet(smoke_config, num_train_steps=200, log_every_steps=1), tmp_path
    )


def _events(path):
  """The Event protos of a TFRecord file (length, crc, data, crc)."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top

  data_, out, i = path.read_bytes(), [], 0
  while i < len(data_):
    n = int.from_bytes(data_[i : i + 8], 'little')
    out.append(event_pb2.Event.FromString(data_[i + 12 : i + 12 + n]))
    i += 12 + n + 4
  return out


def test_a_resumed_run_has_tensorboard_purge_what_it_rewrites(tmp_path):
  from ae_jax.train import metric_writer  # pylint: disable=g-import-not-at-top

  first = metric_writer.MetricWriter(tmp_path)
  first.write(20, 'train', {'loss': 1.0})
  first.close()
  # Resumed from step 10: steps after it are written again. TensorBoard
  # showed both copies (20 values against 10) before; a session START at
  # step 11 makes it purge the earlier files' records from 11 on, as
  # tensorboardX's SummaryWriter(purge_step=11) does.
  (tmp_path / 'tensorboard' / os.listdir(tmp_path / 'tensorboard')[0]).rename(
      tmp_path / 'tensorboard' / 'events.out.tfevents.0.old'
  )
  resumed = metric_writer.MetricWriter(tmp_path, purge_after=10)
  resumed.write(15, 'train', {'loss': 2.0})
  resumed.close()
  (new,) = [
      p
      for p in (tmp_path / 'tensorboard').iterdir()
      if not p.name.endswith('.old')
  ]
  events = [e for e in _events(new) if not e.HasField('summary')]
  starts = [e.step for e in events if e.HasField('session_log')]
  assert starts == [11] and events[-1].session_log.status == 1  # START.


def test_read_only_run_file_is_refused_before_loading_data(
    smoke_config, run, monkeypatch
):
  real_access = os.access
  monkeypatch.setattr(
      os,
      'access',
      lambda p, mode: not str(p).endswith('metrics.jsonl')
      and real_access(p, mode),
  )
  monkeypatch.setattr(
      trainer, 'load_dataset', lambda c: pytest.fail('data was loaded')
  )
  with pytest.raises(ValueError, match='metrics.jsonl is read-only'):
    train.train_and_evaluate(_quiet(smoke_config, num_train_steps=30), run)


def test_load_warns_about_inputs_far_outside_the_training_range(run, caplog):
  m = ae_jax.load(run)
  assert m.value_range == (0.0, 1.0)
  x = data.load_dataset('digits').test_images[:4]
  with caplog.at_level('WARNING'):
    m.reconstruct(x)
    assert not caplog.text
    m.reconstruct(x * 255)  # Forgot to scale: silently saturated before.
  assert 'far outside the range of the training data [0, 1]' in caplog.text
  caplog.clear()
  detector = anomaly.AnomalyDetector.from_trained(m).fit(x)
  with caplog.at_level('WARNING'):
    detector.predict(x * 255)
  assert 'AnomalyDetector.predict: x spans' in caplog.text


def test_load_refuses_a_dataset_json_that_does_not_fit_the_weights(run):
  info = json.loads((run / 'dataset.json').read_text())
  info['input_shape'] = [65]
  (run / 'dataset.json').write_text(json.dumps(info))
  with pytest.raises(ValueError, match='one of those files was edited'):
    ae_jax.load(run)
