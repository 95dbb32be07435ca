#!/usr/bin/env bash
# On a GPU machine with no .NET: unpacks .build/gpu/canter-gpu.tar.xz (made by publish.sh) once
# into /tmp/canter-gpu and runs the CLI with the given arguments from the repository root.
#   bench/gpu/run.sh bench device --device cuda     every GPU kernel against the CPU backend
#   bench/gpu/run.sh bench engine --device cuda     GEMM vs cuBLAS, DiT stack vs PyTorch with CUDA
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST=/tmp/canter-gpu
if [ ! -x "$DEST/canter/canter" ]; then
  mkdir -p "$DEST"
  python3 -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$ROOT/.build/gpu/canter-gpu.tar.xz" "$DEST"
fi
# cuBLAS: the CUDA toolkit's, or the one PyTorch's wheels bring
if [ -z "${CANTER_CUBLAS:-}" ]; then
  for c in /usr/local/cuda/lib64/libcublas.so* $(python3 -c "import nvidia.cublas, os; print(os.path.join(os.path.dirname(nvidia.cublas.__file__), 'lib'))" 2>/dev/null)/libcublas.so*; do
    [ -e "$c" ] && export CANTER_CUBLAS="$c" && break
  done
fi
export CANTER_PYTHON="${CANTER_PYTHON:-$(command -v python3)}"
cd "$ROOT"
exec "$DEST/canter/canter" "$@"
