# Functions for bench/run: HTTP load with wrk, the PostGraphile peer, the pgbench SQL limit.
# Source it from bash (works under `set -euo pipefail`); every function returns non-zero on
# failure, and every run is bounded in time. Loopback only: the servers listen on 127.0.0.1 and the clients are pointed there.
#
#   load NAME URL BODY_FILE [TOKEN]     wrk against a GraphQL endpoint, one result row
#   postgraphile_start DB_URL PORT      PostGraphile 5 over DB_URL's public schema
#   postgraphile_stop
#   pgbench_limit DB_URL SQL_FILE [TENANT]   the same page as one SQL statement, one result row
#
# Result rows look like `| NAME | rps | p50 ms | p99 ms | errors |` and are appended to the
# file $RESULTS when it is set.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POSTGRAPHILE_DIR="$BENCH_DIR/postgraphile"
POSTGRAPHILE_NODE="$POSTGRAPHILE_DIR/node_modules/.bin/node"
POSTGRAPHILE_PID=""

bench_fail() {
  echo "bench: $*" >&2
  return 1
}

# Seconds in a wrk duration such as 20s, 2m or 20.
bench_seconds() {
  local d="$1"
  case "$d" in
    *s) echo "${d%s}" ;;
    *m) echo $(("${d%m}" * 60)) ;;
    *h) echo $(("${d%h}" * 3600)) ;;
    *) echo "$d" ;;
  esac
}

bench_row() {
  local row="| $1 | $2 | $3 | $4 | $5 |"
  echo "$row"
  if [ -n "${RESULTS:-}" ]; then
    echo "$row" >>"$RESULTS"
  fi
}

# load NAME URL BODY_FILE [TOKEN]
# An "@TENANT_ID@" in the body is replaced by $TENANT_ID (the peer has no token to scope it).
load() {
  local name="$1" url="$2" body="$3" token="${4:-}"
  [ -f "$body" ] || bench_fail "load $name: no body file $body" || return 1
  command -v wrk >/dev/null || bench_fail "load $name: wrk is not installed (apt-get install -y wrk)" || return 1
  local duration="${DURATION:-20s}" connections="${CONNECTIONS:-32}"
  local bound=$(($(bench_seconds "$duration") + 30))
  local work
  work="$(mktemp -d)" || return 1
  if grep -q '@TENANT_ID@' "$body"; then
    [ -n "${TENANT_ID:-}" ] || bench_fail "load $name: $body needs TENANT_ID" || { rm -rf "$work"; return 1; }
    sed "s/@TENANT_ID@/$TENANT_ID/g" "$body" >"$work/body.json"
    body="$work/body.json"
  fi
  local status=0
  BODY_FILE="$body" TOKEN="$token" timeout "$bound" \
    wrk -t2 -c"$connections" -d"$duration" --latency -s "$BENCH_DIR/wrk/graphql.lua" "$url" \
    >"$work/wrk.out" 2>&1 || status=$?
  local result
  result="$(grep '^RESULT ' "$work/wrk.out" || true)"
  if [ "$status" -ne 0 ] || [ -z "$result" ]; then
    cat "$work/wrk.out" >&2
    rm -rf "$work"
    bench_fail "load $name: wrk failed (exit $status)"
    return 1
  fi
  local requests errors rps p50 p99
  requests="$(bench_field requests "$result")"
  errors="$(bench_field errors "$result")"
  rps="$(bench_field rps "$result")"
  p50="$(bench_field p50_ms "$result")"
  p99="$(bench_field p99_ms "$result")"
  if [ "$errors" != 0 ] || [ "$requests" = 0 ]; then
    cat "$work/wrk.out" >&2
    rm -rf "$work"
    bench_fail "load $name: $errors errors in $requests requests"
    return 1
  fi
  rm -rf "$work"
  bench_row "$name" "$rps" "$p50" "$p99" "$errors"
}

# The value of KEY in a line of key=value pairs.
bench_field() {
  echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# postgraphile_start DB_URL PORT
# PostGraphile connects as the user of DB_URL, the postgres superuser in the benchmark, so
# row-level security does not apply to it (the request filters by tenant itself), and it
# returns contacts as the stored ciphertext, undecrypted.
postgraphile_start() {
  local db_url="$1" port="$2"
  [ -n "$db_url" ] && [ -n "$port" ] || bench_fail "usage: postgraphile_start DB_URL PORT" || return 1
  postgraphile_install || return 1
  local log="${TMPDIR:-/tmp}/dossier-bench-postgraphile-$port.log"
  # Node 22 from the npm package `node`: PostGraphile 5 needs it, the system one is older.
  (
    cd "$POSTGRAPHILE_DIR" &&
      BENCH_PG_DATABASE_URL="$db_url" BENCH_PG_PORT="$port" GRAPHILE_ENV=production \
        exec "$POSTGRAPHILE_NODE" node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs
  ) >"$log" 2>&1 &
  POSTGRAPHILE_PID=$!
  local url="http://127.0.0.1:$port/graphql" i
  for i in $(seq 1 120); do
    if curl -sf --max-time 2 -H 'Content-Type: application/json' \
      --data '{"query":"{ __typename }"}' "$url" 2>/dev/null | grep -q '"__typename":"Query"'; then
      echo "PostGraphile $(postgraphile_version) on Node $("$POSTGRAPHILE_NODE" --version) at $url"
      return 0
    fi
    if ! kill -0 "$POSTGRAPHILE_PID" 2>/dev/null; then
      cat "$log" >&2
      POSTGRAPHILE_PID=""
      bench_fail "PostGraphile exited before answering (log: $log)"
      return 1
    fi
    sleep 0.5
  done
  cat "$log" >&2
  postgraphile_stop
  bench_fail "PostGraphile did not answer at $url within 60 s (log: $log)"
}

postgraphile_stop() {
  [ -n "$POSTGRAPHILE_PID" ] || return 0
  kill "$POSTGRAPHILE_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 20); do
    kill -0 "$POSTGRAPHILE_PID" 2>/dev/null || break
    sleep 0.5
  done
  kill -9 "$POSTGRAPHILE_PID" 2>/dev/null || true
  wait "$POSTGRAPHILE_PID" 2>/dev/null || true
  POSTGRAPHILE_PID=""
  return 0
}

# Installs the locked PostGraphile and Node into bench/postgraphile/node_modules, once.
postgraphile_install() {
  if [ -x "$POSTGRAPHILE_NODE" ] && [ -f "$POSTGRAPHILE_DIR/node_modules/postgraphile/package.json" ]; then
    return 0
  fi
  command -v npm >/dev/null || bench_fail "npm is needed to install PostGraphile" || return 1
  echo "installing PostGraphile into $POSTGRAPHILE_DIR/node_modules" >&2
  (cd "$POSTGRAPHILE_DIR" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) >&2 ||
    bench_fail "npm ci in $POSTGRAPHILE_DIR failed" || return 1
  local major
  major="$("$POSTGRAPHILE_NODE" --version | sed 's/^v\([0-9]*\).*/\1/')"
  [ "${major:-0}" -ge 22 ] || bench_fail "PostGraphile 5 needs Node 22, got $("$POSTGRAPHILE_NODE" --version)"
}

postgraphile_version() {
  sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$POSTGRAPHILE_DIR/node_modules/postgraphile/package.json" | head -1
}

# pgbench_limit DB_URL SQL_FILE [TENANT]
# What PostgreSQL alone does with the page: 32 clients on 2 threads for $DURATION_SECONDS (20).
# TENANT (else $TENANT_ID, else the tenant with the most customers) fills pgbench's :tenant.
# The row's p50/p99 come from pgbench's per-transaction log; its name is $PGBENCH_NAME.
pgbench_limit() {
  local db_url="$1" sql="$2" tenant="${3:-${TENANT_ID:-}}"
  [ -f "$sql" ] || bench_fail "pgbench_limit: no SQL file $sql" || return 1
  local seconds="${DURATION_SECONDS:-20}" name="${PGBENCH_NAME:-SQL limit (pgbench, $(basename "$sql"))}"
  if [ -z "$tenant" ]; then
    tenant="$(timeout 30 psql -X -tA -d "$db_url" -c \
      "SELECT tenant_id FROM customers GROUP BY tenant_id ORDER BY count(*) DESC LIMIT 1")" ||
      bench_fail "pgbench_limit: cannot find a tenant" || return 1
  fi
  [ -n "$tenant" ] || bench_fail "pgbench_limit: the database has no customers" || return 1
  # One plain run first, so that an error in the statement shows instead of aborted clients.
  sed "s/:tenant/'$tenant'/g" "$sql" | timeout 60 psql -X -q -v ON_ERROR_STOP=1 -d "$db_url" >/dev/null ||
    bench_fail "pgbench_limit: $sql fails for tenant $tenant" || return 1
  local work status=0
  work="$(mktemp -d)" || return 1
  timeout $((seconds + 60)) pgbench -n -M prepared -c 32 -j 2 -T "$seconds" -D tenant="$tenant" \
    -l --log-prefix="$work/tx" -f "$sql" "$db_url" >"$work/pgbench.out" 2>&1 || status=$?
  local tps failed processed
  tps="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.out" | head -1)"
  processed="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.out")"
  failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.out")"
  if [ "$status" -ne 0 ] || [ -z "$tps" ] || [ "${processed:-0}" = 0 ] || [ "${failed:-0}" != 0 ]; then
    cat "$work/pgbench.out" >&2
    rm -rf "$work"
    bench_fail "pgbench_limit: pgbench failed (exit $status)"
    return 1
  fi
  # Field 3 of each log line is the transaction's latency in microseconds.
  local percentiles
  percentiles="$(cat "$work"/tx.* | awk '{ print $3 }' | sort -n | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) exit 1
      p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
      printf "%.2f %.2f\n", p50 / 1000, p99 / 1000
    }')" || { rm -rf "$work"; bench_fail "pgbench_limit: empty transaction log"; return 1; }
  rm -rf "$work"
  bench_row "$name" "$(printf '%.1f' "$tps")" "${percentiles% *}" "${percentiles#* }" "${failed:-0}"
}
