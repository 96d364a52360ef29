#!/usr/bin/env bash
# Lints the Sluice protos with buf (STANDARD + COMMENTS, see buf.yaml).
# Usage: proto/lint.sh            buf is taken from $BUF, else from PATH.
# Exits non-zero when buf reports findings or cannot run.
set -euo pipefail
cd "$(dirname "$0")"

buf="${BUF:-$(command -v buf || true)}"
if [[ -z "$buf" ]]; then
  echo "lint.sh: buf not found; set BUF or put buf on PATH (npm package @bufbuild/buf)" >&2
  exit 2
fi

# google/rpc/*.proto come from the proto-google-common-protos jar (see buf.yaml); the proto
# module's generate-sources phase unpacks them.
if [[ ! -f target/third-party-protos/google/rpc/status.proto ]]; then
  echo "lint.sh: unpacking google/rpc protos (mvn generate-sources)" >&2
  mvn -q -f pom.xml generate-sources
fi

exec "$buf" lint
