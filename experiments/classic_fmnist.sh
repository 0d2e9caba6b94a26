#!/usr/bin/env bash
# Every Fashion-MNIST number of the "Classic autoencoders" section of BUILD.md.
# Usage: bash experiments/classic_fmnist.sh [RUNS_DIR]   (about 1.5 h on 2 CPU cores)
# Each step resumes if its work directory is complete, so a rerun is cheap.
set -euo pipefail
R=${1:-runs/classic}
T="python -m experiments.train"
E="python -m experiments.evaluate"
C=experiments/configs
D=dataset=fashion_mnist

# Deep AE 784-1000-500-250-30 against PCA-30.
$T --config=$C/deep_ae.py:$D --workdir=$R/deep_ae
$E --workdir=$R/deep_ae --task=pca
# Sparse AE: L1 on ReLU codes at several weights; KL sparsity towards rho = 0.05.
for w in 0 0.3 1 3; do
  $T --config=$C/sparse_ae.py:$D,weight=$w --workdir=$R/sparse_l1_$w
  $E --workdir=$R/sparse_l1_$w --task=sparsity
done
$T --config=$C/sparse_ae.py:$D,sparsity=kl --workdir=$R/sparse_kl
$E --workdir=$R/sparse_kl --task=sparsity
# Denoising AEs (three corruptions) against the same AE trained on clean input.
$T --config=$C/denoising_ae.py:$D,noise=none,level=0 --workdir=$R/dae_none
for n in gaussian:0.3 masking:0.5 salt_and_pepper:0.3; do
  $T --config=$C/denoising_ae.py:$D,noise=${n%:*},level=${n#*:} --workdir=$R/dae_${n%:*}
  $E --workdir=$R/dae_${n%:*} --task=denoise --baseline_workdir=$R/dae_none
done
# Contractive AE against the same sigmoid AE without the penalty.
$T --config=$C/contractive_ae.py:$D --workdir=$R/cae
$T --config=$C/contractive_ae.py:$D,weight=0 --workdir=$R/cae_off
$E --workdir=$R/cae --task=jacobian --baseline_workdir=$R/cae_off
# Convolutional AE.
$T --config=$C/conv_ae.py:$D --workdir=$R/conv_ae
$E --workdir=$R/conv_ae --task=pca
# Dropout AE over rates 0 to 0.5.
python -m experiments.dropout_sweep --dataset=fashion_mnist --workdir=$R/dropout_sweep
# Stacked denoising AE + fine-tuned classifier, against no pretraining and raw-pixel LR.
$T --config=$C/stacked_ae.py:$D --workdir=$R/stacked_ae
$T --config=$C/stacked_ae.py:$D,pretrain=none --workdir=$R/stacked_scratch
$E --workdir=$R/stacked_ae --task=probe
# LSTM sequence AE (rows as time steps).
$T --config=$C/lstm_ae.py:$D --workdir=$R/lstm_ae
# RBMs (CD-1, PCD) and the RBM-pretrained deep AE against random initialisation.
$T --config=$C/rbm.py:$D --workdir=$R/rbm_cd1
$T --config=$C/rbm.py:$D,persistent --workdir=$R/rbm_pcd
$T --config=$C/deep_ae.py:$D,pretrain=rbm --workdir=$R/deep_ae_rbm
$T --config=$C/deep_ae.py:$D,pretrain=none --workdir=$R/deep_ae_sigmoid
