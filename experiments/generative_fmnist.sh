#!/usr/bin/env bash
# The Fashion-MNIST numbers of the generative autoencoders in BUILD.md.
# Usage: bash experiments/generative_fmnist.sh [RUNS_DIR]
set -euo pipefail
R=${1:-runs/gen}
T="python -m experiments.train"
E="python -m experiments.evaluate"
C=experiments/configs
D=dataset=fashion_mnist

# beta-VAE: reconstruction against KL over beta.
for b in 0.5 1 2 4 8; do
  $T --config=$C/beta_vae.py:$D,beta=$b --workdir=$R/beta_$b
done
# VAE against IWAE (k = 50) on dynamically binarised data; test NLL with k = 5000.
$T --config=$C/vae.py:$D --config.binarize=dynamic --workdir=$R/vae_dyn
$E --workdir=$R/vae_dyn --task=nll
$T --config=$C/vae.py:$D --config.binarize=dynamic --config.model=iwae --config.iwae_samples=50 --workdir=$R/iwae50_dyn
$E --workdir=$R/iwae50_dyn --task=nll
# Adversarial autoencoders against a plain AE with the same network.
$T --config=$C/aae.py:$D --workdir=$R/aae
$T --config=$C/ae.py:$D --workdir=$R/ae_8 --config.hidden_sizes='(1000, 1000)' --config.latent_dim=8 --config.learning_rate=2e-4
$E --workdir=$R/aae --task=prior --baseline_workdir=$R/ae_8
$T --config=$C/aae.py:$D,prior=gaussian_mixture,conditional --workdir=$R/aae_mixture
$E --workdir=$R/aae_mixture --task=prior
