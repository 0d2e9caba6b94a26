r"""Prints disentanglement_lib's own metric values on the fixed inputs of
``tests/test_disentanglement_metrics.py`` (its ``DLIB_VALUES``).

disentanglement_lib is TF1 and not installable here; its metric files need
only NumPy, scikit-learn, absl and (for configuration) gin, which this script
stubs. Regenerate the values with:

  git clone https://github.com/google-research/disentanglement_lib /tmp/dlib
  python tests/disentanglement_reference.py /tmp/dlib
"""

import json
import os
import sys
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disentanglement_inputs  # pylint: disable=g-import-not-at-top,wrong-import-position


def _stub_modules():
  """gin (decorators as no-ops) and six.moves (range) for the metric files."""
  gin = types.ModuleType('gin')
  gin.REQUIRED = object()

  def configurable(*args, **kwargs):
    del kwargs
    if args and callable(args[0]):
      return args[0]
    return lambda fn: fn

  gin.configurable = configurable
  gin.tf = gin
  sys.modules.setdefault('gin', gin)
  sys.modules.setdefault('gin.tf', gin)
  six = types.ModuleType('six')
  six.moves = types.SimpleNamespace(range=range)
  sys.modules.setdefault('six', six)
  sys.modules.setdefault('six.moves', six.moves)


def main(dlib_root):
  _stub_modules()
  sys.path.insert(0, dlib_root)
  # pylint: disable=g-import-not-at-top
  from disentanglement_lib.evaluation.metrics import beta_vae
  from disentanglement_lib.evaluation.metrics import dci
  from disentanglement_lib.evaluation.metrics import factor_vae
  from disentanglement_lib.evaluation.metrics import mig
  from disentanglement_lib.evaluation.metrics import modularity_explicitness
  from disentanglement_lib.evaluation.metrics import sap_score
  from disentanglement_lib.evaluation.metrics import utils
  # pylint: enable=g-import-not-at-top

  utils.make_discretizer = lambda target: utils._histogram_discretize(  # pylint: disable=protected-access
      target, disentanglement_inputs.NUM_BINS
  )
  factor_vae._prune_dims = lambda v: np.sqrt(v) >= 0.05  # pylint: disable=protected-access
  data = disentanglement_inputs.data()
  fn = disentanglement_inputs.representation
  n = disentanglement_inputs.SIZES
  rs = np.random.RandomState
  codes, factors, codes_t, factors_t = (
      disentanglement_inputs.codes_and_factors()
  )
  out = {
      'beta_vae': beta_vae.compute_beta_vae_sklearn(
          data,
          fn,
          rs(0),
          batch_size=n['group'],
          num_train=n['train'],
          num_eval=n['test'],
      )['eval_accuracy'],
      'factor_vae': factor_vae.compute_factor_vae(
          data,
          fn,
          rs(0),
          batch_size=n['group'],
          num_train=n['train'],
          num_eval=n['test'],
          num_variance_estimate=n['train'],
      )['eval_accuracy'],
      'mig': mig._compute_mig(codes.T, factors.T)['discrete_mig'],  # pylint: disable=protected-access
      'sap': sap_score._compute_sap(codes.T, factors.T, codes_t.T, factors_t.T, False)['SAP_score'],  # pylint: disable=protected-access
  }
  # Its boosted trees are unseeded (DCI moves by ~0.003 between runs on
  # these inputs), so DCI is compared on a fixed importance matrix.
  importance = disentanglement_inputs.importance_matrix()
  out.update(
      dci_disentanglement=dci.disentanglement(importance),
      dci_completeness=dci.completeness(importance),
  )
  mi = utils.discrete_mutual_info(utils.make_discretizer(codes.T), factors.T)
  out['modularity'] = modularity_explicitness.modularity(mi)
  train_n, mean, std = utils.normalize_data(codes.T)
  test_n, _, _ = utils.normalize_data(codes_t.T, mean, std)
  out['explicitness'] = float(
      np.mean(
          [
              modularity_explicitness.explicitness_per_factor(
                  train_n, factors.T[i], test_n, factors_t.T[i]
              )[1]
              for i in range(factors.shape[1])
          ]
      )
  )
  print(json.dumps({k: float(v) for k, v in out.items()}, indent=2))


if __name__ == '__main__':
  main(sys.argv[1])
