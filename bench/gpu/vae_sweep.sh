#!/usr/bin/env bash
# Quality against token count for the video autoencoder: short runs of each variant on the GPU machine,
# each ending with its validation PSNR. Usage (on the GPU machine): bench/gpu/vae_sweep.sh STEPS OUTDIR
set -euo pipefail
STEPS="${1:-600}"
OUT="${2:-/tmp/vae-sweep}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
for variant in "8 8" "8 16" "16 32" "16 64"; do
  set -- $variant
  name="s$1-z$2"
  "$ROOT/bench/gpu/run.sh" train vae --modality video --spatial-ratio "$1" --latent-channels "$2" --steps "$STEPS" \
    --batch 8 --log-every 100 --checkpoint-every 100000 --device cuda --out "$OUT/$name" > "$OUT-$name.log" 2>&1 || true
  echo "$name: $(grep -o 'validation: [0-9.]*' "$OUT-$name.log" | cut -d' ' -f2) dB ($(grep -o '[0-9.]* s/step' "$OUT-$name.log" | tail -1))"
done
