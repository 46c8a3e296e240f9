#!/usr/bin/env bash
# The inventory service, from a fresh clone:
#   ./run.sh          set up everything and serve the API on http://localhost:8000
#   ./run.sh test     set up everything and run the test suites on a throwaway database
#   ./run.sh check    set up everything and run the static checks: type check (tsc) and lint (Biome)
#   ./run.sh worker   run the background jobs (event publisher, expiry, pruning) without HTTP, on DATABASE_URL
#   ./run.sh cluster up|status|failover|down   the local cluster: pg_auto_failover, API hosts, HAProxy (deploy/local-cluster.sh)
# Needs only Node.js/npm when Bun is not installed. See README.md.
set -euo pipefail
cd "$(dirname "$0")"

BUN_VERSION=1.4.5
mode="${1:-serve}"

log() { printf 'run.sh: %s\n' "$*"; }

ensure_bun() {
  if command -v bun >/dev/null 2>&1; then
    BUN=$(command -v bun)
  elif [ -x .tools/node_modules/.bin/bun ]; then
    BUN=$PWD/.tools/node_modules/.bin/bun
  else
    command -v npm >/dev/null 2>&1 || { log "neither bun nor npm found: install Node.js or Bun first"; exit 1; }
    log "Bun not found; installing bun@$BUN_VERSION from npm into .tools/"
    npm install --prefix .tools --no-save --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION" >/dev/null
    BUN=$PWD/.tools/node_modules/.bin/bun
  fi
  export PATH="$(dirname "$BUN"):$PATH"
}

docker_engine_answers() {
  command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1
}

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

ensure_bun
"$BUN" install --frozen-lockfile >/dev/null

# The JavaScript engine sizes its heap from the machine's memory and, on a large
# host, lets it grow far before collecting. Sizing it as if the host had 512 MiB
# keeps the API's resident memory near 100 MiB under load at no measured cost in
# throughput (bench/RESULTS.md). Set BUN_JSC_forceRAMSize yourself to change it.
export BUN_JSC_forceRAMSize="${BUN_JSC_forceRAMSize:-536870912}"
export BUN_OPTIONS="--max-http-header-size=65536${BUN_OPTIONS:+ $BUN_OPTIONS}" # heads up to 64 KiB reach the API's 414/431 (src/http/middleware.ts)

case "$mode" in
  serve)
    if [ -z "${DATABASE_URL:-}" ] && [ "${INVENTORY_NO_DOCKER:-}" != 1 ] && docker_engine_answers; then
      log "Docker engine found: starting PostgreSQL and the API with Docker Compose (INVENTORY_NO_DOCKER=1 to skip)"
      compose up --build
      exit $?
    fi
    exec "$BUN" src/cli/stack.ts
    ;;
  test)
    shift
    # The explorer tests drive Debian's chromium; install it when missing (root
    # with apt-get). If it still is missing, those tests fail and say why.
    bash scripts/ensure-chromium.sh || log "chromium is missing: the explorer tests will fail"
    # The suites on several servers (failover, PgBouncer, the local cluster) use
    # Debian's PgBouncer, HAProxy and pg_auto_failover; installed the same way.
    bash scripts/ensure-cluster-tools.sh || log "PgBouncer/HAProxy/pg_auto_failover missing: those suites report themselves skipped"
    # bun test starts its own throwaway PostgreSQL (tests/support/preload.ts)
    # unless TEST_DATABASE_URL names a server; it never touches .data/.
    # --timeout: each test's limit unless it sets its own (bunfig.toml's [test] timeout is not read).
    exec "$BUN" test --timeout 30000 "$@"
    ;;
  typecheck)
    # Bun runs TypeScript without checking its types: tsc --noEmit does.
    exec "$BUN" run typecheck
    ;;
  lint)
    # Biome's lint rules and formatting (biome.json).
    exec "$BUN" run lint
    ;;
  check)
    # Both static checks; each reports, and the run fails if either fails.
    status=0
    "$BUN" run typecheck || status=1
    "$BUN" run lint || status=1
    exit "$status"
    ;;
  worker)
    # The background jobs alone, for API processes started with BACKGROUND_JOBS=false (README.md, Events).
    exec "$BUN" src/worker.ts
    ;;
  cluster)
    # pg_auto_failover, API hosts in network namespaces and HAProxy on this machine (root, Linux): README.md, Local cluster.
    shift
    if [ "${1:-}" = up ]; then
      bash scripts/ensure-cluster-tools.sh || log "pg_auto_failover/HAProxy missing: install them (scripts/ensure-cluster-tools.sh)"
    fi
    exec bash deploy/local-cluster.sh "${@:-status}"
    ;;
  bench)
    # The performance benchmark (minutes): writes bench/RESULTS.md. Never part of `test`.
    exec "$BUN" bench/run.ts
    ;;
  *)
    echo "usage: ./run.sh [serve|test|check|typecheck|lint|worker|cluster|bench]" >&2
    exit 2
    ;;
esac
