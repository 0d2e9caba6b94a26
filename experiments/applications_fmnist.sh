#!/usr/bin/env bash
# The Fashion-MNIST numbers of the applications (evaluation suite) in BUILD.md.
# Usage: bash experiments/applications_fmnist.sh [RUNS_DIR] [CLASSIC_RUNS_DIR]
# The denoising rows evaluate the denoising AEs of experiments/classic_fmnist.sh.
set -euo pipefail
R=${1:-runs/apps}
CLASSIC=${2:-runs/classic}
T="python -m experiments.train"
E="python -m experiments.evaluate"
C=experiments/configs
D=dataset=fashion_mnist

# Dimensionality reduction: MSE against PCA at code sizes 2, 10 and 30.
python -m experiments.code_sizes --config=$C/ae.py:$D --workdir=$R/code_sizes
# Every task that applies to the MLP AE (20-d code): pca, visualize, probe
# (with label efficiency), denoise, compression, generate.
$T --config=$C/ae.py:$D --workdir=$R/ae
$E --workdir=$R/ae
# Visualisation with a 2-d code, beside the 20-d AE's codes.
$T --config=$C/ae.py:$D --config.latent_dim=2 --workdir=$R/ae_2
$E --workdir=$R/ae_2 --task=visualize --baseline_workdir=$R/ae
# Denoising: PSNR and SSIM of denoising AEs against the plain AE.
for n in gaussian masking salt_and_pepper; do
  $E --workdir=$CLASSIC/dae_$n --task=denoise --baseline_workdir=$CLASSIC/dae_none
done
# Generation: VAE samples against the test images, interpolations, latents.
$T --config=$C/vae.py:$D --workdir=$R/vae
$E --workdir=$R/vae --task=generate,latent,compression
# Anomaly detection: the one-class protocol, every class.
python -m experiments.one_class --outdir=$R/one_class_ae
python -m experiments.one_class --outdir=$R/one_class_vae --score=both \
    --config=$C/vae.py:$D
