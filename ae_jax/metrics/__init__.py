"""Metrics on NumPy arrays of images, codes and reconstructions, one module per topic.

  pca              PCA baselines (the optimal linear autoencoder)
  probes           linear probe, stratified label subsets, label efficiency
  embeddings       k-NN accuracy and silhouette of 2-D embeddings
  clustering       clustering accuracy (Hungarian matching), k-means scores
  image_quality    PSNR and SSIM
  code_stats       code statistics: sparsity, unit activation, total
                   correlation, encoder Jacobian norm (contractive AE)
  likelihood       importance-sampled log p(x), streamed
  rate_distortion  quantised codes: bits per image against distortion
  sample_quality   Frechet and kernel distances between feature sets
                   (the statistics of FID and KID)
  score_alignment  score of a Gaussian KDE, mean cosine of two vector fields
  anomaly_scores   AUROC and mean + k * std thresholds of anomaly scores
  disentanglement  BetaVAE and FactorVAE scores, MIG, DCI, SAP, modularity
                   and explicitness (disentanglement_lib's protocol)
  batching         fixed-shape padded batches (one compile per function)
  checks           input checks that name the function, argument and fix

Conventions: arrays come first and hyperparameters are keyword-only. Inputs
are checked on the host before any work is done (`checks`) and a
`ValueError` / `TypeError` names the function, the argument and the fix.
Summary numbers are returned as Python floats; per-image and per-unit numbers
as NumPy arrays.

Anomaly scores of a trained model and the detector live in `ae_jax.anomaly`
(an estimator API, which re-exports `anomaly_scores`); `ae_jax.tasks` runs
these metrics on work directories.
Every public function is importable from here (``metrics.psnr``) or from its
module; modules load on first use, so importing one does not import
scikit-learn unless it needs it. The one exception is
``rate_distortion.rate_distortion``: the function shares its module's name,
which ``metrics.rate_distortion`` names.
"""

import importlib

_WHERE = {
    'MAX_BITS': 'rate_distortion',
    'Quantizer': 'rate_distortion',
    'apply_in_batches': 'batching',
    'auroc': 'anomaly_scores',
    'clustering_accuracy': 'clustering',
    'batch_and_chunk': 'likelihood',
    'dataset_log_likelihood': 'likelihood',
    'embedding_scores': 'embeddings',
    'entropy_rate': 'rate_distortion',
    'fit_pca': 'pca',
    'fit_quantizer': 'rate_distortion',
    'fit_threshold': 'anomaly_scores',
    'fraction_near_zero': 'code_stats',
    'frechet_distance': 'sample_quality',
    'gaussian_total_correlation': 'code_stats',
    'importance_sampled_log_likelihood': 'likelihood',
    'kmeans_scores': 'clustering',
    'kernel_distance': 'sample_quality',
    'label_efficiency': 'probes',
    'label_subsets': 'probes',
    'linear_probe_accuracy': 'probes',
    'mean_encoder_jacobian_norm': 'code_stats',
    'mean_unit_activation': 'code_stats',
    'padded_batches': 'batching',
    'pca_codes': 'pca',
    'pca_rate_distortion': 'rate_distortion',
    'pca_reconstruction_mse': 'pca',
    'psnr': 'image_quality',
    'ssim': 'image_quality',
    'stratified_subset': 'probes',
    'threshold_metrics': 'anomaly_scores',
    'beta_vae_score': 'disentanglement',
    'factor_vae_score': 'disentanglement',
    'mig': 'disentanglement',
    'dci': 'disentanglement',
    'sap': 'disentanglement',
    'modularity': 'disentanglement',
    'explicitness': 'disentanglement',
    'mutual_information_matrix': 'disentanglement',
    'mutual_information_gaps': 'disentanglement',
    'dci_from_importance': 'disentanglement',
    'factor_entropy': 'disentanglement',
    'histogram_discretize': 'disentanglement',
    'sample_codes': 'disentanglement',
    'gaussian_kde_log_density': 'score_alignment',
    'gaussian_kde_score': 'score_alignment',
    'mean_cosine': 'score_alignment',
}
_MODULES = frozenset(_WHERE.values()) | {'batching', 'checks'}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
  if name in _MODULES:
    return importlib.import_module(f'{__name__}.{name}')
  if name in _WHERE:
    module = importlib.import_module(f'{__name__}.{_WHERE[name]}')
    return getattr(module, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
  return sorted(set(__all__) | _MODULES)
