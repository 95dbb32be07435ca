#!/usr/bin/env bash
# Packs what a GPU machine without .NET needs to run Canter's CLI: a self-contained publish of
# the CLI (runtime included) and OpenBLAS's library, as .build/gpu/canter-gpu.tar.xz, plus the
# PyTorch reference scripts (bench/torch, tests/torch) that travel with the repository.
#   bench/gpu/publish.sh            then on the GPU machine: bench/gpu/run.sh bench engine --device cuda
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/.build/gpu"
rm -rf "$OUT/canter"
mkdir -p "$OUT"
dotnet publish "$ROOT/src/Canter.Cli/Canter.Cli.csproj" -c Release -r linux-x64 --self-contained \
  -p:InvariantGlobalization=true -o "$OUT/canter" --nologo -v quiet
cp -L /usr/lib/x86_64-linux-gnu/libopenblas.so.0 "$OUT/canter/libopenblas.so.0"
tar -C "$OUT" -cf - canter | xz -T0 -6 > "$OUT/canter-gpu.tar.xz"
rm -rf "$OUT/canter"
ls -la "$OUT/canter-gpu.tar.xz"
