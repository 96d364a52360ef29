#!/usr/bin/env bash
# Generates the Python stubs of the Sluice API (messages and gRPC stubs) from proto/.
#
# Usage: examples/python/generate_stubs.sh [OUTPUT_DIR]   (default: examples/python/generated)
#   PYTHON  the interpreter whose grpc_tools to try first (default: python3 on PATH)
#
# The protos use proto3 `optional`, which needs protoc 3.15 or newer. Two generators qualify:
#   - grpc_tools from PyPI (pip install grpcio-tools), i.e. `python3 -m grpc_tools.protoc`;
#   - Debian/Ubuntu packages: protobuf-compiler (protoc) + protobuf-compiler-grpc
#     (grpc_python_plugin). Debian 12's python3-grpc-tools bundles protoc 3.5 and cannot be used.
# The first one found is used. google/rpc (to decode error details) is generated too when the
# proto module has been built (it unpacks those files into proto/target/third-party-protos), and
# protoc then finds google/protobuf/*.proto in proto/target/well-known-protos; without a build,
# in libprotobuf-dev's /usr/include or a grpc_tools installation.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/generated}"
python="${PYTHON:-python3}"

protos=()
while IFS= read -r proto; do protos+=("$proto"); done \
  < <(cd "$root/proto/src/main/proto" && find sluice -name '*.proto' | sort)
includes=(-I "$root/proto/src/main/proto")
third_party="$root/proto/target/third-party-protos"
if [[ -f "$third_party/google/rpc/status.proto" ]]; then
  includes+=(-I "$third_party")
  protos+=(google/rpc/status.proto google/rpc/error_details.proto google/rpc/code.proto)
fi

# protoc 3.15 or newer?
recent_enough() {
  local version major minor
  version="$("$@" --version 2>/dev/null | awk '{print $2}')" || return 1
  IFS=. read -r major minor _ <<<"$version"
  [[ -n "$major" ]] && { (( major > 3 )) || (( major == 3 && minor >= 15 )); }
}

mkdir -p "$out"
if "$python" -c 'import grpc_tools.protoc' 2>/dev/null \
    && recent_enough "$python" -m grpc_tools.protoc; then
  "$python" -m grpc_tools.protoc "${includes[@]}" \
    --python_out="$out" --grpc_python_out="$out" "${protos[@]}"
elif command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null \
    && recent_enough protoc; then
  # google/protobuf/*.proto: from the proto module's build, else libprotobuf-dev, else any
  # grpc_tools installation.
  if [[ -f "$root/proto/target/well-known-protos/google/protobuf/struct.proto" ]]; then
    includes+=(-I "$root/proto/target/well-known-protos")
  elif [[ ! -f /usr/include/google/protobuf/struct.proto ]]; then
    wkt="$("$python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))' 2>/dev/null || true)"
    if [[ -n "$wkt" && -f "$wkt/google/protobuf/struct.proto" ]]; then
      includes+=(-I "$wkt")
    fi
  fi
  protoc "${includes[@]}" --python_out="$out" \
    --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" --grpc_python_out="$out" \
    "${protos[@]}"
else
  echo "generate_stubs.sh: no protoc >= 3.15 for Python found." >&2
  echo "  Debian/Ubuntu: apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio" >&2
  echo "  elsewhere:     pip install grpcio grpcio-tools" >&2
  exit 2
fi
echo "generated Python stubs in $out" >&2
