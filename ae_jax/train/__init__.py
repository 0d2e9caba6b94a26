"""Training: state, steps, sharding, checkpoints, logs and the loop.

`trainer.train_and_evaluate(config, workdir)` is what the binaries call.
"""

from ae_jax.train.checkpoints import UnreadableCheckpointError
from ae_jax.train.preemption import Preempted
from ae_jax.train.state import TrainState, make_optimizer
from ae_jax.train.trainer import (
    IncompatibleWorkdirError,
    NonFiniteLossError,
    check_config,
    train_and_evaluate,
)
