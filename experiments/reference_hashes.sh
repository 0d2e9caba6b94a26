#!/bin/bash
# The params_sha256 of a set of reference runs, one line each: run it on two
# revisions and diff the outputs to show a refactor trains the same models.
#   experiments/reference_hashes.sh OUT_DIR [--fashion]
# Every experiment config at :smoke on digits (seconds each), the main job
# (vae.py on digits), and with --fashion the Fashion-MNIST reference runs of
# BUILD.md for vae, deep_ae (20 epochs), denoising_ae and beta_vae (minutes).
set -u
out=${1:?usage: experiments/reference_hashes.sh OUT_DIR [--fashion]}
mkdir -p "$out"
train_hash() {  # name, then the train flags
  local name=$1; shift
  local sha
  sha=$(python -m experiments.train "$@" --workdir="$out/$name" \
      --config.write_figures=False --verbosity=-1 2>/dev/null |
      python -c 'import json, sys; print(json.load(sys.stdin)["params_sha256"])')
  echo "$name ${sha:-FAILED}"
}
for f in experiments/configs/*.py; do
  c=$(basename "$f" .py)
  case $c in common|__init__) continue ;; esac
  train_hash "$c:smoke" --config="$f:smoke"
done
train_hash vae:digits --config=experiments/configs/vae.py
if [ "${2:-}" = --fashion ]; then
  for c in vae deep_ae denoising_ae beta_vae; do
    train_hash "$c:fashion_mnist" --config="experiments/configs/$c.py:dataset=fashion_mnist"
  done
fi
