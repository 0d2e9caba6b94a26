r"""One-class anomaly detection: an autoencoder per normal class, AUROC each.

  python -m experiments.one_class --outdir=runs/one_class_ae
  python -m experiments.one_class --outdir=runs/one_class_vae --score=both \
      --config=experiments/configs/vae.py:dataset=fashion_mnist
  python -m experiments.one_class --outdir=/tmp/oc --classes=0,1,2 --epochs=2 \
      --config=experiments/configs/ae.py:smoke
  python -m experiments.one_class --outdir=runs/one_class_ae --baselines

The protocol (`ae_jax.tasks.one_class`): for each class, a model trained on
that class's training images scores the whole test set; AUROC per class and
its mean, and the threshold form ``mean + k * std`` of the training scores.
Results: BUILD.md, "Applications on Fashion-MNIST" and "Reproducing the
papers".
"""

import os

from absl import app
from absl import flags
from ml_collections import config_flags

from ae_jax.tasks import one_class
from experiments import cli

DEFAULT_CONFIG = (
    os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs', 'ae.py')
    + ':dataset=fashion_mnist'
)

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    DEFAULT_CONFIG,
    'Model config file (experiments/configs/*.py[:args]); default: the MLP '
    'autoencoder on Fashion-MNIST.',
    lock_config=True,
)
_OUTDIR = flags.DEFINE_string(
    'outdir', None, 'Directory for one_class.json and one_class_auroc.png.'
)
_CLASSES = flags.DEFINE_list(
    'classes',
    None,
    'Normal classes, one model each, e.g. 0,1,2 (default: every class).',
)
_EPOCHS = flags.DEFINE_integer(
    'epochs',
    one_class.DEFAULT_EPOCHS,
    "Training epochs over each class's training images.",
)
_SCORE = flags.DEFINE_string(
    'score',
    'mse',
    "Anomaly scores, comma-separated: 'mse' (reconstruction error), "
    "'mse_over_tv' (the same over the image's total variation), 'neg_elbo' "
    "(VAE family); 'both' = mse,neg_elbo.",
)
_K = flags.DEFINE_float(
    'k', 3.0, 'Threshold = mean + k * std of the training scores.'
)
_BASELINES = flags.DEFINE_bool(
    'baselines',
    False,
    'Also score each class with raw-pixel PCA (the code size; its error '
    'alone and over the total variation) and an RBF OC-SVM, fitted on the '
    'same training images (one_class.BASELINES).',
)
flags.mark_flags_as_required(['outdir'])
cli.mark_paths_nonempty('outdir')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  result = cli.exit_on_user_error(
      lambda: one_class.run(
          _CONFIG.value,
          _OUTDIR.value,
          classes=one_class.parse_classes(_CLASSES.value),
          epochs=_EPOCHS.value,
          score=_SCORE.value,
          k=_K.value,
          baselines=_BASELINES.value,
      )
  )
  print(one_class.markdown(result))
  means = ', '.join(
      f'{kind} {100 * v:.1f}'
      for kind, v in {
          **result['mean_auroc'],
          **result['mean_auroc_baselines'],
      }.items()
  )
  print(
      f'\nMean AUROC (%): {means}; {len(result["rows"])} classes, '
      f'{result["epochs"]} epochs ({result["steps_per_class"]} steps) per '
      f'class; total {result["total_seconds"]:.0f} s; training compiled '
      f'{result["train_compiles"]} time(s).'
  )


if __name__ == '__main__':
  cli.run(main)
