"""Deprecated path: the metrics moved to `ae_jax.metrics` (one module per topic).

Kept so that code written against earlier versions keeps importing; new code
imports ``ae_jax.metrics`` (e.g. ``metrics.psnr``, ``metrics.pca_codes``).
"""

# pylint: disable=unused-import
from ae_jax.metrics.batching import apply_in_batches
from ae_jax.metrics.code_stats import fraction_near_zero
from ae_jax.metrics.code_stats import gaussian_total_correlation
from ae_jax.metrics.code_stats import mean_encoder_jacobian_norm
from ae_jax.metrics.code_stats import mean_unit_activation
from ae_jax.metrics.embeddings import embedding_scores
from ae_jax.metrics.image_quality import psnr
from ae_jax.metrics.image_quality import ssim
from ae_jax.metrics.pca import pca_codes
from ae_jax.metrics.pca import pca_reconstruction_mse
from ae_jax.metrics.probes import label_efficiency
from ae_jax.metrics.probes import linear_probe_accuracy
from ae_jax.metrics.probes import stratified_subset
