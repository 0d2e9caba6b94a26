#!/usr/bin/env bash
# The disentanglement study in BUILD.md ("Disentanglement"): on xy_sprites,
# 10-d codes, 3 seeds per objective, every member's nine metrics. Each
# objective is one vmapped sweep (experiments.sweep --evaluate).
# Usage: bash experiments/disentanglement_study.sh [RUNS_DIR] [POINTS]
set -euo pipefail
R=${1:-runs/disent}
P=${2:-2000}  # Observations per metric (disentanglement_lib: 10000).
S="python -m experiments.sweep"
C=experiments/configs
D=dataset=xy_sprites
EV="--evaluate=disentanglement --disentanglement_points=$P"

# VAE (beta = 1), beta-VAE with beta 4 and 16.
$S --config=$C/beta_vae.py:$D --sweep.beta=1,4,16 --sweep.seed=0,1,2 $EV \
  --workdir=$R/beta_vae
# FactorVAE, gamma 10 and 40.
$S --config=$C/factor_vae.py:$D --sweep.tc_weight=10,40 --sweep.seed=0,1,2 $EV \
  --workdir=$R/factor_vae
# Capacity-annealed beta-VAE (Burgess et al. 2018): C rises to 25 nats.
$S --config=$C/beta_vae.py:$D,capacity=25 --sweep.seed=0,1,2 $EV \
  --workdir=$R/capacity_vae
# The table: mean and spread per objective.
python -m experiments.disentanglement_study --runs=$R
