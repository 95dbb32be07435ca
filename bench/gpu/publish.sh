#!/usr/bin/env bash
# Packs what a GPU machine without .NET needs to run Canter's CLI: a self-contained publish of
# the CLI (runtime included) and OpenBLAS's library, as .build/gpu/canter-gpu.tar.xz, plus the
# PyTorch reference scripts (bench/torch, tests/torch) that travel with the repository.
#   bench/gpu/publish.sh            then on the GPU machine: bench/gpu/run.sh bench engine --device cuda
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/.build/gpu"
rm -rf "$OUT/canter" "$ROOT/src/Canter.Cli/obj/Release/net10.0/linux-x64"   # the trimmer keeps stale output otherwise
mkdir -p "$OUT"
dotnet publish "$ROOT/src/Canter.Cli/Canter.Cli.csproj" -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true -p:TreatWarningsAsErrors=false -p:JsonSerializerIsReflectionEnabledByDefault=true \
  -p:InvariantGlobalization=true -o "$OUT/canter" --nologo -v quiet
# the plotting library's native parts stay behind (13 MB): runs there write their CSV and skip the PNG plots,
# the same run resumed here redraws from the CSV; the device tool carries at most 64 MiB a call
rm -f "$OUT/canter/libSkiaSharp.so" "$OUT/canter/libHarfBuzzSharp.so"
cp -L /usr/lib/x86_64-linux-gnu/libopenblas.so.0 "$OUT/canter/libopenblas.so.0"
tar -C "$OUT" -cf - canter | xz -T0 -6 > "$OUT/canter-gpu.tar.xz"
rm -rf "$OUT/canter"
ls -la "$OUT/canter-gpu.tar.xz"
