#!/usr/bin/env bash
# A local safesift cluster backend for development: nats-server (Debian package) with JetStream
# on file storage, and s3rver (a loopback S3 server) with a `safesift` bucket. Both bind to
# 127.0.0.1 only. Ctrl-C stops both.
#
#   infra/dev-stack.sh                 # NATS on 4222, S3 on 4568, data under .cache/dev-stack
#   NATS_PORT=5222 S3_PORT=5568 DEV_STACK_DIR=/tmp/stack infra/dev-stack.sh
#
# Then, in another terminal, point safesift at it:
#   eval "$(infra/dev-stack.sh --env)"
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_PORT="${NATS_PORT:-4222}"
S3_PORT="${S3_PORT:-4568}"
BUCKET="${BUCKET:-safesift}"
DIR="${DEV_STACK_DIR:-.cache/dev-stack}"

if [ "${1:-}" = "--env" ]; then
  cat <<ENV
export NATS_URL=nats://127.0.0.1:${NATS_PORT}
export AWS_ENDPOINT_URL=http://127.0.0.1:${S3_PORT}
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=S3RVER
export AWS_SECRET_ACCESS_KEY=S3RVER
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
ENV
  exit 0
fi

NATS_BIN="$(command -v nats-server || echo /usr/sbin/nats-server)"
if [ ! -x "$NATS_BIN" ]; then
  echo "nats-server not found: sudo apt-get install -y nats-server" >&2
  exit 1
fi
S3RVER="node_modules/s3rver/bin/s3rver.js"
if [ ! -f "$S3RVER" ]; then
  echo "s3rver not found: run npm ci first" >&2
  exit 1
fi

mkdir -p "$DIR/jetstream" "$DIR/s3"
# max_payload can only be raised in a config file; 8 MB leaves room for large records.
cat > "$DIR/nats.conf" <<CONF
listen: 127.0.0.1:${NATS_PORT}
max_payload: 8MB
jetstream { store_dir: "${DIR}/jetstream" }
CONF

"$NATS_BIN" -c "$DIR/nats.conf" &
NATS_PID=$!
# s3rver needs the legacy OpenSSL provider on Node 17+, or list paging fails.
node --openssl-legacy-provider "$S3RVER" -d "$DIR/s3" -a 127.0.0.1 -p "$S3_PORT" --silent --configure-bucket "$BUCKET" &
S3_PID=$!
trap 'kill $NATS_PID $S3_PID 2>/dev/null; wait' INT TERM EXIT

echo "NATS JetStream on nats://127.0.0.1:${NATS_PORT}, S3 on http://127.0.0.1:${S3_PORT} (bucket ${BUCKET}), data in ${DIR}"
echo "environment for safesift: eval \"\$($0 --env)\""
wait
