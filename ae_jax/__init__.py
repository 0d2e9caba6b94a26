"""ae_jax: the autoencoder family in JAX/Flax.

ae_jax.losses       pure loss functions (jit/grad/vmap-safe, no Flax inside)
ae_jax.penalties    sparsity and contractive penalties
ae_jax.corruptions  denoising corruptions
ae_jax.evaluation   metrics and scikit-learn baselines; ae_jax.tasks: on a work dir
ae_jax.models       flax.linen models and their objectives, by registry name
ae_jax.data         datasets by name, deterministic batching, prefetch
ae_jax.train        train state, sharded steps, checkpoints, the training loop
ae_jax.load         a trained work directory as encode/decode/reconstruct/sample
"""

from ae_jax import corruptions
from ae_jax import losses
from ae_jax import penalties
from ae_jax.trained import TrainedModel, load

__version__ = '0.1.0'
