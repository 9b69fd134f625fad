#!/usr/bin/env bash
# load.sh measures kubelab's page server with wrk: the catalog (anonymous and
# logged in) and a chapter page, 100 connections each. It prints requests/s
# and the p99 latency of every target.
#
#   scripts/load.sh                 build kubelab, start it on a free port with a
#                                   throw-away data dir, measure, stop it
#   scripts/load.sh http://host:port   measure a running kubelab
#
# Environment: CHAPTER (default pods), DURATION (default 15s), CONNECTIONS
# (default 100), THREADS (default 2).
set -euo pipefail

CHAPTER=${CHAPTER:-pods}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-100}
THREADS=${THREADS:-2}
BASE=${1:-}

command -v wrk >/dev/null || { echo "load.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cd "$(dirname "$0")/.."
work=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

if [[ -z $BASE ]]; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	BASE="http://127.0.0.1:$port"
	echo "building kubelab…" >&2
	go build -o "$work/kubelab" ./cmd/kubelab
	"$work/kubelab" serve --addr "127.0.0.1:$port" --data-dir "$work/data" --log-level warn >"$work/serve.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 240); do
		curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
		kill -0 "$server_pid" 2>/dev/null || { echo "load.sh: kubelab exited:" >&2; cat "$work/serve.log" >&2; exit 1; }
		sleep 0.5
	done
	curl -fsS "$BASE/readyz" >/dev/null || { echo "load.sh: kubelab not ready after 2 minutes" >&2; cat "$work/serve.log" >&2; exit 1; }
fi

# A learner account; the chapter page needs a login.
email="load-$RANDOM$RANDOM@example.com"
curl -fsS -c "$work/jar" -H 'Content-Type: application/json' -H "Origin: $BASE" \
	-d "{\"email\":\"$email\",\"password\":\"load test password\",\"name\":\"Load\"}" \
	"$BASE/api/v1/auth/signup" >/dev/null
cookie=$(awk '$6 == "kubelab_session" { print $6 "=" $7 }' "$work/jar")
[[ -n $cookie ]] || { echo "load.sh: sign-up gave no session cookie" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$BASE/chapters/$CHAPTER")
[[ $status == 200 ]] || { echo "load.sh: GET /chapters/$CHAPTER answered $status" >&2; exit 1; }

printf '%s\n' "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency against $BASE ($(nproc) cores)"
printf '%-28s %12s %10s %10s %8s\n' target req/s p50 p99 errors
run() {
	local name=$1 path=$2; shift 2
	local out
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$BASE$path")
	local rps p50 p99 errors
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { n += 1 } END { print n + 0 }' <<<"$out")
	printf '%-28s %12s %10s %10s %8s\n' "$name" "$rps" "$p50" "$p99" "$errors"
}
run "catalog (anonymous)" /
run "catalog (logged in)" / -H "Cookie: $cookie"
run "chapter $CHAPTER (logged in)" "/chapters/$CHAPTER" -H "Cookie: $cookie"
