"""ae_jax: the autoencoder family in JAX/Flax.

ae_jax.losses       pure loss functions (jit/grad/vmap-safe, no Flax inside)
ae_jax.penalties    sparsity and contractive penalties
ae_jax.corruptions  denoising corruptions
ae_jax.dae_sampling a denoising autoencoder's vector field and Markov chain
ae_jax.metrics      metrics and baselines, one module per topic; ae_jax.tasks: on a work dir
ae_jax.models       flax.linen models and their objectives, by registry name
ae_jax.data         datasets by name, deterministic batching, prefetch
ae_jax.train        train state, sharded steps, checkpoints, the training loop
ae_jax.load         a trained work directory as encode/decode/reconstruct/sample
ae_jax.estimators   scikit-learn transformer and PyOD-style outlier detector

Submodules and `load`/`TrainedModel` are imported on first use (PEP 562), so
``import ae_jax.losses`` costs jax alone, not orbax, scikit-learn or TFDS.
"""

import importlib

__version__ = '0.1.0'

_SUBMODULES = frozenset(
    {
        'anomaly',
        'compression',
        'configs',
        'corruptions',
        'dae_sampling',
        'data',
        'estimators',
        'evaluation',
        'figures',
        'likelihood',
        'losses',
        'metrics',
        'models',
        'penalties',
        'priors',
        'tasks',
        'train',
        'trained',
    }
)
_FROM_TRAINED = frozenset({'TrainedModel', 'load'})

__all__ = sorted(_SUBMODULES | _FROM_TRAINED)


def __getattr__(name: str):
  if name in _SUBMODULES:
    return importlib.import_module(f'{__name__}.{name}')
  if name in _FROM_TRAINED:
    return getattr(importlib.import_module(f'{__name__}.trained'), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
  return __all__
