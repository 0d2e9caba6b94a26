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
$T --config=$C/iwae.py:$D,samples=50 --config.binarize=dynamic --workdir=$R/iwae50_dyn
$E --workdir=$R/iwae50_dyn --task=nll
# VampPrior (K = 500 pseudo-inputs) with the same network and protocol.
$T --config=$C/vamp_vae.py:$D --config.binarize=dynamic --workdir=$R/vampprior_dyn
$E --workdir=$R/vampprior_dyn --task=nll
# Flow posteriors with the same network and protocol: 10 planar, 10 radial,
# 4 IAF steps.
for v in flow=planar flow=radial flow=iaf,length=4; do
  n=flow_$(echo $v | tr ',=' '__')_dyn
  $T --config=$C/flow_vae.py:$D,$v --config.binarize=dynamic --workdir=$R/$n
  $E --workdir=$R/$n --task=nll
done
# Two stochastic layers against one (Burda et al.'s architectures, tanh):
# x-200-200-z1(100)-100-100-z2(50) against x-200-200-z(50), ELBO and K = 5.
O="--config.hidden_sizes=(200,200) --config.latent_dim=50 --config.activation=tanh"
for k in 1 5; do
  $T --config=$C/hierarchical_vae.py:$D,samples=$k --config.binarize=dynamic --workdir=$R/hvae_k${k}_dyn
  $E --workdir=$R/hvae_k${k}_dyn --task=nll
done
$T --config=$C/vae.py:$D $O --config.binarize=dynamic --workdir=$R/vae_burda_dyn
$E --workdir=$R/vae_burda_dyn --task=nll
$T --config=$C/iwae.py:$D,samples=5 $O --config.binarize=dynamic --workdir=$R/iwae5_burda_dyn
$E --workdir=$R/iwae5_burda_dyn --task=nll
# The same two ELBO models for 30 epochs.
$T --config=$C/hierarchical_vae.py:$D --config.binarize=dynamic --config.num_epochs=30 --workdir=$R/hvae_e30_dyn
$E --workdir=$R/hvae_e30_dyn --task=nll
$T --config=$C/vae.py:$D $O --config.binarize=dynamic --config.num_epochs=30 --workdir=$R/vae_burda_e30_dyn
$E --workdir=$R/vae_burda_e30_dyn --task=nll
# The same with a linear KL warm-up over the first 10 epochs (469 steps each).
W=--config.kl_warmup_steps=4690
$T --config=$C/hierarchical_vae.py:$D --config.binarize=dynamic --config.num_epochs=30 $W --workdir=$R/hvae_e30_warm_dyn
$E --workdir=$R/hvae_e30_warm_dyn --task=nll
$T --config=$C/vae.py:$D $O --config.binarize=dynamic --config.num_epochs=30 $W --workdir=$R/vae_burda_e30_warm_dyn
$E --workdir=$R/vae_burda_e30_warm_dyn --task=nll
$T --config=$C/hierarchical_vae.py:$D --config.binarize=dynamic --config.num_epochs=100 $W --workdir=$R/hvae_e100_warm_dyn
$E --workdir=$R/hvae_e100_warm_dyn --task=nll
$T --config=$C/vae.py:$D $O --config.binarize=dynamic --config.num_epochs=100 $W --workdir=$R/vae_burda_e100_warm_dyn
$E --workdir=$R/vae_burda_e100_warm_dyn --task=nll
# A long warm-up: 200 epochs, the KL weight rising over the first 100
# (Sonderby et al. 2016 warm up over 200), seeds 0 and 1: two layers beat one.
for s in 0 1; do
  $T --config=$C/hierarchical_vae.py:$D --config.binarize=dynamic --config.num_epochs=200 --config.kl_warmup_steps=46900 --config.seed=$s --workdir=$R/hvae_e200_warm100_dyn_seed$s
  $E --workdir=$R/hvae_e200_warm100_dyn_seed$s --task=nll
  $T --config=$C/vae.py:$D $O --config.binarize=dynamic --config.num_epochs=200 --config.kl_warmup_steps=46900 --config.seed=$s --workdir=$R/vae_burda_e200_warm100_dyn_seed$s
  $E --workdir=$R/vae_burda_e200_warm100_dyn_seed$s --task=nll
  $E --workdir=$R/hvae_e200_warm100_dyn_seed$s --task=latent --baseline_workdir=$R/vae_burda_e200_warm100_dyn_seed$s
done
# Active units per stochastic layer (Burda et al.'s statistic), and the
# IWAE bound (K = 5) at 30 epochs for both depths.
for e in 30 100; do
  $E --workdir=$R/hvae_e${e}_warm_dyn --task=latent --baseline_workdir=$R/vae_burda_e${e}_warm_dyn
done
$T --config=$C/hierarchical_vae.py:$D,samples=5 --config.binarize=dynamic --config.num_epochs=30 --workdir=$R/hvae_k5_e30_dyn
$E --workdir=$R/hvae_k5_e30_dyn --task=nll
$T --config=$C/iwae.py:$D,samples=5 $O --config.binarize=dynamic --config.num_epochs=30 --workdir=$R/iwae5_burda_e30_dyn
$E --workdir=$R/iwae5_burda_e30_dyn --task=nll
$E --workdir=$R/hvae_k5_e30_dyn --task=latent --baseline_workdir=$R/iwae5_burda_e30_dyn
# Free bits (nats per latent unit) against the collapsing top layer.
for fb in 0.05 0.2; do
  $T --config=$C/hierarchical_vae.py:$D --config.binarize=dynamic --config.num_epochs=30 --config.free_bits=$fb --workdir=$R/hvae_e30_fb${fb}_dyn
  $E --workdir=$R/hvae_e30_fb${fb}_dyn --task=nll
  $E --workdir=$R/hvae_e30_fb${fb}_dyn --task=latent
done
# Ladder inference (Sonderby et al. 2016): q(z2|x) q(z1|z2, x), with the warm-up.
$T --config=$C/hierarchical_vae.py:$D --config.binarize=dynamic --config.num_epochs=30 $W --config.inference=ladder --workdir=$R/hvae_ladder_e30_warm_dyn
$E --workdir=$R/hvae_ladder_e30_warm_dyn --task=nll
$E --workdir=$R/hvae_ladder_e30_warm_dyn --task=latent
# The bounds of Rainforth et al. (2018) with the same network and protocol and
# a budget of 16 importance samples: IWAE (1 x 16), MIWAE and PIWAE (4 x 4),
# CIWAE (beta 0.5 over 16).
for v in outer=1,samples=16 outer=4,samples=4 estimator=piwae,outer=4,samples=4 estimator=ciwae,outer=1,samples=16; do
  n=miwae_$(echo $v | tr ',=' '__')_dyn
  $T --config=$C/miwae.py:$D,$v --config.binarize=dynamic --workdir=$R/$n
  $E --workdir=$R/$n --task=nll
done
# Adversarial autoencoders against a plain AE with the same network.
$T --config=$C/aae.py:$D --workdir=$R/aae
$T --config=$C/ae.py:$D --workdir=$R/ae_8 --config.hidden_sizes='(1000, 1000)' --config.latent_dim=8 --config.learning_rate=2e-4
$E --workdir=$R/aae --task=prior --baseline_workdir=$R/ae_8
$T --config=$C/aae.py:$D,prior=gaussian_mixture,conditional --workdir=$R/aae_mixture
$E --workdir=$R/aae_mixture --task=prior
# beta-VAE with capacity annealing (Burgess et al. 2018): the test KL follows C.
for c in 5 15 25; do
  $T --config=$C/beta_vae.py:$D,capacity=$c --workdir=$R/capacity_$c
  $E --workdir=$R/capacity_$c --task=latent --baseline_workdir=$R/beta_1
done
# InfoVAE (MMD-VAE, beta 0): the aggregate posterior against N(0, I), beside the VAE.
$T --config=$C/info_vae.py:$D --workdir=$R/info_vae
$E --workdir=$R/info_vae --task=latent --baseline_workdir=$R/beta_1
# FactorVAE against a VAE with the same 10-d code: total correlation. With the
# paper's discriminator learning rate (1e-4) 5 epochs are too few for the
# discriminator (gamma 10 and 40, and beta 0.1); 1e-3 and 20 epochs work.
L=--config.discriminator_learning_rate=1e-4
$T --config=$C/factor_vae.py:$D $L --workdir=$R/factor_vae
$T --config=$C/vae.py:$D --config.latent_dim=10 --workdir=$R/vae_10
$E --workdir=$R/factor_vae --task=latent --baseline_workdir=$R/vae_10
$T --config=$C/factor_vae.py:$D,gamma=40 $L --workdir=$R/factor_vae_g40
$E --workdir=$R/factor_vae_g40 --task=latent --baseline_workdir=$R/vae_10
$T --config=$C/vae.py:$D --config.latent_dim=10 --config.beta=0.1 --workdir=$R/vae_10_b0.1
$T --config=$C/factor_vae.py:$D $L --config.beta=0.1 --workdir=$R/factor_vae_b0.1
$E --workdir=$R/factor_vae_b0.1 --task=latent --baseline_workdir=$R/vae_10_b0.1
$T --config=$C/vae.py:$D --config.latent_dim=10 --config.num_epochs=20 --workdir=$R/vae_10_e20
$T --config=$C/factor_vae.py:$D --config.num_epochs=20 --workdir=$R/factor_vae_e20
$E --workdir=$R/factor_vae_e20 --task=latent --baseline_workdir=$R/vae_10_e20
# beta-TC-VAE against the same VAE: beta 2 and 6 (stratified q(z) estimate),
# and beta 6 with the minibatch-weighted estimate.
for v in beta=2 beta=6 beta=6,estimator=mws; do
  n=beta_tc_vae_$(echo $v | tr ',=' '__')
  $T --config=$C/beta_tc_vae.py:$D,$v --config.num_epochs=20 --workdir=$R/$n
  $E --workdir=$R/$n --task=latent --baseline_workdir=$R/vae_10_e20
done
# WAE-MMD against an AE and a VAE with the same 8-d code: codes against the
# prior, samples against the test images.
$T --config=$C/wae.py:$D --workdir=$R/wae
$T --config=$C/ae.py:$D --config.latent_dim=8 --workdir=$R/ae_8_512
$T --config=$C/vae.py:$D --config.latent_dim=8 --workdir=$R/vae_8
$E --workdir=$R/wae --task=prior --baseline_workdir=$R/ae_8_512
$E --workdir=$R/wae --task=generate --baseline_workdir=$R/vae_8
# InfoVAE's MMD weight: 0 (beta 0, nothing ties q(z) to the prior) and 100.
for w in 0 100; do
  $T --config=$C/info_vae.py:$D,weight=$w --workdir=$R/info_vae_w$w
  $E --workdir=$R/info_vae_w$w --task=latent --baseline_workdir=$R/beta_1
done
# Sample quality (Frechet / kernel distance in the features of the project's
# Fashion-MNIST classifier): the same 784-512-16 network as a VAE, a plain AE,
# RAE-L2, RAE-GP, WAE-MMD, WAE-GAN and VAE-GAN; the deterministic ones sample
# an ex-post GMM. conv_vae and vae_gan:conv=true: the conv network (32-64
# channels) and a conv discriminator, the kind Larsen et al. used.
# vae_gan:margin=0.4: Larsen et al.'s equilibrium rule; pixel=1 keeps the
# pixel likelihood beside the feature error.
for m in vae ae rae:reg=l2 rae:reg=gp wae wae:penalty=gan vae_gan vae_gan:pixel=1 conv_vae vae_gan:conv=true vae_gan:margin=0.4 vae_gan:conv=true,margin=0.4 vae_gan:margin=0.4,gamma=0.01 vae_gan:conv=true,pixel=1; do
  f=${m%%:*}; a=${m#*:}; [ "$a" = "$m" ] && a= || a=,$a
  n=sq_$(echo $m | tr ':=,' '___')
  $T --config=$C/$f.py:$D$a --config.latent_dim=16 --config.hidden_sizes='(512,)' --workdir=$R/$n
  $E --workdir=$R/$n --task=generate
done
# VQ-VAE, 8 symbols of 256 codes (64 bits per image), the 784-512 network:
# codebook use with and without the EMA update and dead-code restarts; the
# AE above (16 floats) quantised to 4 bits per unit is the same 64 bits.
for v in "" ,ema ,restarts ,ema,restarts; do
  n=vq$(echo $v | tr ',' '_')
  $T --config=$C/vq_vae.py:$D$v --workdir=$R/$n
done
$E --workdir=$R/vq --task=generate
$E --workdir=$R/vq_ema --task=generate
$E --workdir=$R/sq_ae --task=compression
$E --workdir=$R/sq_vae --task=compression
