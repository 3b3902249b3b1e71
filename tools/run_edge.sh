#!/usr/bin/env bash
# `make run-edge`: the plan's stream path on one machine, every part real but Event Hubs' REST endpoint (which cannot
# run off Azure: devhost/hub stands in for it, checking what the documented API requires):
#
#   widget ──POST /api/events──► edge Worker (workerd, EDGE_PORT) ──REST send, SAS──► Event Hubs stand-in (HUB_PORT)
#        ──produce──► tansu broker (KAFKA_PORT) ──Kafka fetch──► analytics-processor (make run, PORT) ──► hourly stats
#
# The processor runs every 5 minutes, as in the cloud; POST http://127.0.0.1:$PORT/analytics-processor runs it now.
# Stopped with Ctrl-C (every part goes with it). The broker keeps its records in memory: a restart starts empty, and
# the processor, whose offsets are in the database, reads the new partitions from their start.
set -euo pipefail
cd "$(dirname "$0")/.."

EDGE_PORT=${EDGE_PORT:-8787}
HUB_PORT=${HUB_PORT:-8788}
KAFKA_PORT=${KAFKA_PORT:-9092}
PORT=${PORT:-8080}
HUB=widget-events
# A key for this machine only: the stand-in and the Worker share it, nothing else accepts it.
CONNECTION="Endpoint=sb://local.servicebus.windows.net/;SharedAccessKeyName=edge-send;SharedAccessKey=local-only-key;EntityPath=$HUB"

wait_for() {
  local name=$1 port=$2
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "run-edge: $name did not start on port $port" >&2
  exit 1
}

# wrangler runs in a session of its own (its Node child and workerd with it), so that it can be ended as a group.
wrangler_group=
stop() {
  trap - EXIT INT TERM
  [[ -n $wrangler_group ]] && kill -- "-$wrangler_group" 2>/dev/null
  kill $(jobs -p) 2>/dev/null
  wait 2>/dev/null
}
trap stop EXIT INT TERM

"$(bash tools/tansu.sh path)" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/ &
wait_for "the tansu broker" "$KAFKA_PORT"

cargo build --quiet -p codecapsule-hub-standin -p codecapsule-devhost
EVENTHUBS_CONNECTION_STRING="$CONNECTION" HUB_PORT=$HUB_PORT HUB_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT" \
  target/debug/eventhubs-standin &
wait_for "the Event Hubs stand-in" "$HUB_PORT"

EVENTHUBS_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT" EVENTHUBS_KAFKA_SECURITY=plaintext EVENTHUBS_TOPIC=$HUB PORT=$PORT \
  target/debug/codecapsule-dev &
wait_for "the functions (make run)" "$PORT"

# The Worker, served from a configuration of its own under .data/edge (its Durable Objects' state and settings too).
dir=.data/edge
bash tools/edge_toolchain.sh serve-config "$dir"
cat > "$dir/.dev.vars" <<VARS
EVENTHUBS_CONNECTION_STRING="$CONNECTION"
EVENTHUBS_REST_ENDPOINT="http://127.0.0.1:$HUB_PORT"
CORS_ALLOWED_ORIGINS="http://127.0.0.1:$EDGE_PORT,http://localhost:$EDGE_PORT"
VARS
setsid "$(bash tools/edge_toolchain.sh wrangler)" dev --config "$dir/wrangler.toml" --ip 127.0.0.1 \
  --port "$EDGE_PORT" --persist-to "$dir/state" --show-interactive-dev-session=false &
wrangler_group=$!
wait_for "the edge Worker" "$EDGE_PORT"

cat <<READY

The stream path is up:
  edge Worker           http://127.0.0.1:$EDGE_PORT/api/events   (GET /api/health)
  Event Hubs stand-in   http://127.0.0.1:$HUB_PORT/$HUB/messages
  tansu broker          127.0.0.1:$KAFKA_PORT (topic $HUB)
  functions             http://127.0.0.1:$PORT   (POST /analytics-processor runs the processor now)
READY
wait -n
