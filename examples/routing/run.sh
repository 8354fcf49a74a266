#!/usr/bin/env bash
# The routing example: three services A → B → C, a fork of B, one keyed and one plain request.
# Run from the repository after `npm ci && npm run build`, with `tidepool up` running (router on :7071)
# and TIDEPOOL_TOKEN set. Stops what it started on exit.
set -euo pipefail
cd "$(dirname "$0")"
tp() { node ../../packages/server/bin/tidepool.js "$@"; }
R=${TIDEPOOL_ROUTER_PORT:-7071}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; tp env rm demo >/dev/null' EXIT
node service.mjs c 9103 & pids+=($!)
node service.mjs b 9102 "http://c.demo.localhost:$R" & pids+=($!)
node service.mjs a 9101 "http://b.demo.localhost:$R" & pids+=($!)
TIDEPOOL_ROUTING_KEY=pr-1 node service.mjs b-fork 9112 "http://c.demo.localhost:$R" & pids+=($!)
sleep 1
tp env create demo --service a=http://127.0.0.1:9101 --service b=http://127.0.0.1:9102 --service c=http://127.0.0.1:9103
tp env fork demo b http://127.0.0.1:9112 --key pr-1
echo "plain:"; curl -s --resolve "a.demo.localhost:$R:127.0.0.1" "http://a.demo.localhost:$R/chain"; echo
echo "keyed:"; curl -s --resolve "a.demo.localhost:$R:127.0.0.1" -H 'baggage: tidepool-route=pr-1' "http://a.demo.localhost:$R/chain"; echo
