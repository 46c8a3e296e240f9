#!/usr/bin/env bash
# The service as on several machines, on this one (Linux, root):
#   deploy/local-cluster.sh up        a pg_auto_failover formation (monitor, primary,
#                                     synchronous standby), API hosts each in its own
#                                     network namespace, HAProxy in front on loopback
#   deploy/local-cluster.sh status    what runs, the formation's state, each host's /readyz
#   deploy/local-cluster.sh failover  a planned failover (pg_autoctl perform failover)
#   deploy/local-cluster.sh down      stops and removes everything `up` made (also
#                                     what a run that died left behind); safe to repeat
# Settings (environment):
#   CLUSTER_DIR        state, logs and the generated HAProxy configuration (default: .cluster/)
#   CLUSTER_NAME       prefix of the namespaces and links, 1-6 letters/digits (default: inv)
#   CLUSTER_SUBNET     the hosts' /24, as its first three numbers (default: 10.213.7)
#   CLUSTER_API_HOSTS  how many API hosts, 1-3 (default: 3)
#   CLUSTER_HTTP_PORT  HAProxy's port on 127.0.0.1 (default: 8080)
# Only loopback and the /24 of the namespaces are used: PostgreSQL listens on
# 127.0.0.1 and on the bridge's address (.1), the hosts on .11, .12, .13.
# PostgreSQL trusts loopback connections (the formation's own, and the
# provisioning's); the API hosts log in with the API role's password.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

STATE=${CLUSTER_DIR:-$ROOT/.cluster}
# A running cluster's own settings are the defaults of status, failover and down.
saved() { [ -f "$STATE/env" ] && sed -n "s/^$1=//p" "$STATE/env" | tail -n 1; }
NAME=${CLUSTER_NAME:-$(saved NAME || true)}
NAME=${NAME:-inv}
SUBNET=${CLUSTER_SUBNET:-$(saved SUBNET || true)}
SUBNET=${SUBNET:-10.213.7}
HOSTS=${CLUSTER_API_HOSTS:-3}
HTTP_PORT=${CLUSTER_HTTP_PORT:-8080}
PG_BIN=${CLUSTER_PG_BIN:-/usr/lib/postgresql/15/bin}
BRIDGE="${NAME}-br"
GATEWAY="$SUBNET.1"
API_PORT=8000
# pg_auto_failover's monitor notices a lost node in about 5 s (defaults: 20-30 s).
MONITOR_SETTINGS=(
  "pgautofailover.health_check_period = 1000"
  "pgautofailover.health_check_timeout = 1000"
  "pgautofailover.health_check_max_retries = 1"
  "pgautofailover.health_check_retry_delay = 500"
  "pgautofailover.node_considered_unhealthy_timeout = 5000"
  # A lost primary's standby is promoted after this; the primary's own keeper
  # demotes it sooner when it loses both the monitor and its standby (below).
  "pgautofailover.primary_demote_timeout = 10000"
)
NETWORK_PARTITION_TIMEOUT_S=5

log() { printf 'local-cluster: %s\n' "$*"; }
die() { printf 'local-cluster: %s\n' "$*" >&2; exit 1; }

[[ $NAME =~ ^[a-z][a-z0-9]{0,5}$ ]] || die "CLUSTER_NAME must be 1-6 lower-case letters or digits, starting with a letter"
[[ $SUBNET =~ ^(10|172|192)\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "CLUSTER_SUBNET must be the first three numbers of a private /24, like 10.213.7"
[[ $HOSTS =~ ^[1-3]$ ]] || die "CLUSTER_API_HOSTS must be 1, 2 or 3"

ns_of() { echo "${NAME}-api$1"; }
addr_of() { echo "$SUBNET.$((10 + $1))"; }

find_bun() {
  if command -v bun >/dev/null 2>&1; then command -v bun
  elif [ -x "$ROOT/.tools/node_modules/.bin/bun" ]; then echo "$ROOT/.tools/node_modules/.bin/bun"
  else die "bun not found: run ./run.sh once (it installs Bun), or put bun on PATH"
  fi
}

need_tools() {
  local missing=()
  for p in /usr/bin/pg_autoctl /usr/sbin/haproxy "$PG_BIN/pg_ctl"; do [ -x "$p" ] || missing+=("$p"); done
  for c in ip ss curl setpriv setsid; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: install pg-auto-failover-cli postgresql-15-auto-failover haproxy iproute2 curl util-linux (scripts/ensure-cluster-tools.sh)"
  [ "$EUID" -eq 0 ] || die "network namespaces need root: run it as root"
  id -u postgres >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
}

# The state: KEY=VALUE lines in $STATE/env, read by `status`, `down` and the tests.
state_get() { saved "$1" || true; }
state_set() { echo "$1=$2" >>"$STATE/env"; }

port_free() { [ -z "$(ss -Htan "sport = :$1")" ]; }
# A port no socket uses, below the range the kernel picks outgoing connections' ports from.
free_port() {
  local p low
  low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 11000 ] || die "no port range below the kernel's ephemeral ports ($low): lower net.ipv4.ip_local_port_range"
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (low - 10000)))
    port_free "$p" && ! grep -q "=$p\$" "$STATE/env" 2>/dev/null && { echo "$p"; return; }
  done
  die "no free TCP port found"
}

# Whether a process runs (a zombie, ended but not yet reaped by its new parent, does not).
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]; }

dead() { ! alive "$1"; }

# Waits until a command succeeds, at most $1 seconds.
wait_until() {
  local limit=$1
  shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

# pg_autoctl as the postgres user, its configuration and state under the data root ($1).
as_postgres() {
  local root=$1
  AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups env -i HOME="$root" PATH="/usr/bin:/bin:$PG_BIN" LC_ALL=C.UTF-8)
}
pgaf() {
  as_postgres "$(state_get PGROOT)"
  "${AS_POSTGRES[@]}" pg_autoctl "$@"
}

# Starts a long-running command in a session of its own (its pid is its process group), output to $STATE/$name.log.
start_service() {
  local name=$1
  shift
  setsid "$@" >>"$STATE/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

# Stops a service started by start_service: TERM to its group, KILL after $2 seconds.
stop_service() {
  local name=$1 grace=${2:-10} pid
  pid=$(cat "$STATE/$name.pid" 2>/dev/null || true)
  if alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait_until "$grace" dead "$pid" || kill -KILL -- "-$pid" 2>/dev/null || true
    wait_until 5 dead "$pid" || true
  fi
  rm -f "$STATE/$name.pid"
}

monitor_url() { echo "postgres://autoctl_node@127.0.0.1:$(state_get MONITOR_PORT)/pg_auto_failover?sslmode=disable"; }

# ---------------------------------------------------------------- network

net_up() {
  if ip -o -4 addr show | grep -v " $BRIDGE " | grep -q " inet $SUBNET\."; then
    die "$SUBNET.0/24 is already used on this machine: set CLUSTER_SUBNET to another private /24"
  fi
  ip link add "$BRIDGE" type bridge
  ip addr add "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for i in $(seq 1 "$HOSTS"); do
    local ns veth
    ns=$(ns_of "$i")
    veth="${NAME}-h$i"
    ip netns add "$ns"
    ip link add "$veth" type veth peer name "$veth-n"
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    ip link set "$veth-n" netns "$ns"
    ip -n "$ns" link set "$veth-n" name eth0
    ip -n "$ns" addr add "$(addr_of "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
}

net_down() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${NAME}-api[0-9]+$" || true); do
    # Whatever still runs in it (a server the state lost track of) ends with it.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  for link in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^${NAME}-(br|h[0-9]+)$" || true); do
    ip link del "$link" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- PostgreSQL

start_monitor() {
  local root port
  root=$(state_get PGROOT)
  port=$(free_port)
  state_set MONITOR_PORT "$port"
  pgaf create monitor --pgdata "$root/monitor" --pgport "$port" --hostname 127.0.0.1 \
    --auth trust --no-ssl --pgctl "$PG_BIN/pg_ctl" >>"$STATE/monitor.log" 2>&1 ||
    die "pg_autoctl create monitor failed (see $STATE/monitor.log)"
  pgaf config set --pgdata "$root/monitor" postgresql.listen_addresses 127.0.0.1 >/dev/null
  printf '%s\n' "${MONITOR_SETTINGS[@]}" >>"$root/monitor/postgresql.auto.conf"
  as_postgres "$root"
  start_service monitor "${AS_POSTGRES[@]}" pg_autoctl run --pgdata "$root/monitor"
  wait_until 60 pgaf show state --pgdata "$root/monitor" || die "the monitor did not start (see $STATE/monitor.log)"
}

# Creates data node $1 (node1, node2) and runs it; node1 becomes the primary, node2 its standby.
start_node() {
  local node=$1 root port
  root=$(state_get PGROOT)
  port=$(free_port)
  state_set "${node^^}_PORT" "$port"
  pgaf create postgres --pgdata "$root/$node" --pgport "$port" --listen "127.0.0.1,$GATEWAY" \
    --hostname "$GATEWAY" --name "$node" --monitor "$(monitor_url)" \
    --auth trust --no-ssl --pgctl "$PG_BIN/pg_ctl" >>"$STATE/$node.log" 2>&1 ||
    die "pg_autoctl create postgres ($node) failed (see $STATE/$node.log)"
  pgaf config set --pgdata "$root/$node" timeout.network_partition_timeout "$NETWORK_PARTITION_TIMEOUT_S" >/dev/null
  # The API hosts reach the service's database from their addresses, with the API role's password.
  # (Only that database: the formation's own connections come from $GATEWAY and are trusted.)
  echo "host inventory_db all $SUBNET.0/24 scram-sha-256 # inventory API hosts" >>"$root/$node/pg_hba.conf"
  as_postgres "$root"
  start_service "$node" "${AS_POSTGRES[@]}" pg_autoctl run --pgdata "$root/$node"
}

# Waits until the formation has a primary and $1 secondaries (pg_autoctl show state).
formation_ready() {
  local standbys=$1 states
  states=$(pgaf show state --pgdata "$(state_get PGROOT)/monitor" 2>/dev/null) || return 1
  local primary=primary
  [ "$standbys" -gt 0 ] || primary=single # a primary without standbys
  [ "$(grep -cE "\\| +$primary +\\| +$primary *\$" <<<"$states")" -eq 1 ] || return 1
  [ "$(grep -cE '\| +secondary +\| +secondary *$' <<<"$states")" -eq "$standbys" ]
}

stop_node() {
  local node=$1 root=$2 pid
  if [ -d "$root/$node" ]; then
    pid=$(cat "$STATE/$node.pid" 2>/dev/null || true)
    as_postgres "$root"
    # Its data is thrown away: no need to wait for a clean shutdown.
    if alive "$pid"; then timeout 15 "${AS_POSTGRES[@]}" pg_autoctl stop --immediate --pgdata "$root/$node" >/dev/null 2>&1 || true; fi
  fi
  stop_service "$node" 20
  # A postmaster left behind (its pg_autoctl was killed hard): stopped at once.
  if [ -f "$root/$node/postmaster.pid" ]; then
    pid=$(head -n 1 "$root/$node/postmaster.pid")
    if alive "$pid"; then kill -QUIT "$pid" 2>/dev/null || true; wait_until 10 dead "$pid" || kill -KILL "$pid" 2>/dev/null || true; fi
  fi
}

# ---------------------------------------------------------------- API hosts and HAProxy

start_api_host() {
  local i=$1 bun
  bun=$(find_bun)
  start_service "api$i" ip netns exec "$(ns_of "$i")" env -i \
    PATH="$(dirname "$bun"):/usr/bin:/bin" HOME="$STATE" \
    BUN_JSC_forceRAMSize="${BUN_JSC_forceRAMSize:-536870912}" \
    DATABASE_URL="$(state_get API_URL)" HOST="$(addr_of "$i")" PORT="$API_PORT" \
    DB_POOL_MAX="${DB_POOL_MAX:-10}" DB_CONNECT_TIMEOUT_MS="${DB_CONNECT_TIMEOUT_MS:-1000}" \
    DB_POOL_WAIT_MS="${DB_POOL_WAIT_MS:-1000}" LOG_LEVEL="${LOG_LEVEL:-warn}" \
    TRUST_PROXY=true API_KEYS="${API_KEYS:-}" \
    "$bun" --max-http-header-size=65536 "$ROOT/src/server.ts"
}

api_host_listening() { curl -s -o /dev/null --max-time 2 "http://$(addr_of "$1"):$API_PORT/healthz"; }

# deploy/haproxy.cfg without its "compose only" lines, with this machine's hosts as the servers.
haproxy_config() {
  local i
  sed -e '/# compose only$/d' "$ROOT/deploy/haproxy.cfg"
  for i in $(seq 1 "$HOSTS"); do echo "  server api$i $(addr_of "$i"):$API_PORT check"; done
  # Each host's state as HAProxy sees it: http://127.0.0.1:$STATS_PORT/stats (;csv for scripts).
  printf '\nlisten stats\n  bind 127.0.0.1:%s\n  stats enable\n  stats uri /stats\n  stats refresh 5s\n' "$(state_get STATS_PORT)"
}

start_haproxy() {
  state_set STATS_PORT "$(free_port)"
  haproxy_config >"$STATE/haproxy.cfg"
  export INVENTORY_HTTP_BIND="127.0.0.1:$HTTP_PORT" INVENTORY_HAPROXY_503="$ROOT/deploy/haproxy-503.http"
  haproxy -c -q -f "$STATE/haproxy.cfg" || die "the HAProxy configuration $STATE/haproxy.cfg is not valid"
  start_service haproxy haproxy -W -db -f "$STATE/haproxy.cfg"
}

# ---------------------------------------------------------------- commands

down() {
  local root
  root=$(state_get PGROOT || true)
  stop_service haproxy 5
  for i in 1 2 3; do stop_service "api$i" 10; done
  if [ -n "$root" ]; then
    # Both at once; `wait` names them (the services this shell started are its children too).
    stop_node node2 "$root" &
    local second=$!
    stop_node node1 "$root"
    wait "$second" || true
    stop_node monitor "$root"
    rm -rf "$root"
  fi
  net_down
  # The logs stay until the next `up`.
  find "$STATE" -mindepth 1 ! -name '*.log' -delete 2>/dev/null || true
}

up() {
  need_tools
  if [ -f "$STATE/env" ]; then
    log "a previous cluster's state is in $STATE: stopping it first"
    down
  else
    net_down # a run without state may still have left namespaces
  fi
  port_free "$HTTP_PORT" || die "port $HTTP_PORT on 127.0.0.1 is in use: set CLUSTER_HTTP_PORT"
  rm -rf "$STATE"
  mkdir -p "$STATE"
  # If anything below fails, what was started is stopped again.
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "start-up failed: stopping what was started"; down; fi' EXIT
  local root
  root=$(mktemp -d /tmp/inventory-cluster.XXXXXX)
  chmod 755 "$root"
  chown postgres:postgres "$root"
  state_set PGROOT "$root"
  state_set NAME "$NAME"
  state_set SUBNET "$SUBNET"
  state_set API_HOSTS "$HOSTS"
  state_set HTTP_PORT "$HTTP_PORT"
  # pg_autoctl's PostgreSQL puts its socket there (Debian's default).
  mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql

  log "network: bridge $BRIDGE $GATEWAY/24, namespaces $(ns_of 1)..$(ns_of "$HOSTS")"
  net_up
  log "pg_auto_failover: monitor"
  start_monitor
  log "pg_auto_failover: node1 (primary)"
  start_node node1
  wait_until 60 formation_ready 0 || die "node1 did not become the primary (see $STATE/node1.log)"
  log "pg_auto_failover: node2 (synchronous standby)"
  start_node node2
  wait_until 120 formation_ready 1 || die "node2 did not become a secondary (see $STATE/node2.log)"

  local formation admin
  formation=$(pgaf show uri --formation default --pgdata "$root/monitor")
  state_set FORMATION_URL "$formation"
  admin="postgres://postgres@127.0.0.1:$(state_get NODE1_PORT),127.0.0.1:$(state_get NODE2_PORT)/postgres"
  state_set ADMIN_URL "$admin"
  log "provisioning, migrations and seeds on the primary"
  local api_url
  api_url=$("$(find_bun)" "$ROOT/deploy/provision.ts" "$admin" "$formation" 2>>"$STATE/provision.log") ||
    die "provisioning failed (see $STATE/provision.log)"
  state_set API_URL "$api_url"

  for i in $(seq 1 "$HOSTS"); do
    log "API host $i: $(addr_of "$i"):$API_PORT in namespace $(ns_of "$i")"
    start_api_host "$i"
  done
  for i in $(seq 1 "$HOSTS"); do
    wait_until 60 api_host_listening "$i" || die "API host $i did not start (see $STATE/api$i.log)"
  done
  log "HAProxy: http://127.0.0.1:$HTTP_PORT"
  start_haproxy
  wait_until 30 curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$HTTP_PORT/readyz" ||
    die "HAProxy does not answer /readyz (see $STATE/haproxy.log)"
  trap - EXIT
  log "up: API http://127.0.0.1:$HTTP_PORT (explorer /docs), HAProxy's view http://127.0.0.1:$(state_get STATS_PORT)/stats"
  log "state and logs in $STATE; stop with: $0 down"
}

status() {
  [ -f "$STATE/env" ] || { log "not running (no state in $STATE)"; return 3; }
  local root
  root=$(state_get PGROOT)
  for name in monitor node1 node2 haproxy $(for i in $(seq 1 "$(state_get API_HOSTS)"); do echo "api$i"; done); do
    local pid
    pid=$(cat "$STATE/$name.pid" 2>/dev/null || true)
    if alive "$pid"; then printf '%-8s running (pid %s)\n' "$name" "$pid"; else printf '%-8s stopped\n' "$name"; fi
  done
  pgaf show state --pgdata "$root/monitor" 2>/dev/null || echo "monitor: not answering"
  for i in $(seq 1 "$(state_get API_HOSTS)"); do
    printf 'api%s %s:%s /readyz: %s\n' "$i" "$(addr_of "$i")" "$API_PORT" \
      "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$(addr_of "$i"):$API_PORT/readyz" || true)"
  done
  printf 'HAProxy http://127.0.0.1:%s /readyz: %s\n' "$(state_get HTTP_PORT)" \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$(state_get HTTP_PORT)/readyz" || true)"
}

failover() {
  [ -f "$STATE/env" ] || die "not running (no state in $STATE)"
  pgaf perform failover --formation default --pgdata "$(state_get PGROOT)/monitor"
}

case "${1:-}" in
  up) up ;;
  down)
    [ "$EUID" -eq 0 ] || die "network namespaces need root: run it as root"
    down
    log "down"
    ;;
  status) status ;;
  failover) failover ;;
  *)
    echo "usage: deploy/local-cluster.sh up|down|status|failover" >&2
    exit 2
    ;;
esac
