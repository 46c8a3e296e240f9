#!/usr/bin/env bash
# Makes sure Debian's PgBouncer, HAProxy and pg_auto_failover are installed, for
# the suites that run the service on several servers (tests/failover,
# tests/pgbouncer, tests/cluster). Installs them with apt-get when one is missing
# and we are root; otherwise prints why it cannot and exits non-zero (those
# suites then report themselves skipped and say why). The packages' own services
# are stopped and disabled: the suites start their own, on ports of their own.
set -uo pipefail

PACKAGES=(pgbouncer haproxy postgresql-15-auto-failover pg-auto-failover-cli)
PROGRAMS=(/usr/sbin/pgbouncer /usr/sbin/haproxy /usr/bin/pg_autoctl /usr/lib/postgresql/15/bin/pgbench)
fail() { echo "ensure-cluster-tools: $*" >&2; exit 1; }

missing() { for p in "${PROGRAMS[@]}"; do [ -x "$p" ] || return 0; done; return 1; }

missing || exit 0
[ "$EUID" -eq 0 ] || fail "${PACKAGES[*]}: some are missing and only root can install them"
command -v apt-get >/dev/null 2>&1 || fail "${PACKAGES[*]}: some are missing and apt-get is not available"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: the packages' services are not started at install.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1; fi
ok=1
{ apt-get install -y --no-install-recommends "${PACKAGES[@]}" || { apt-get update && apt-get install -y --no-install-recommends "${PACKAGES[@]}"; }; } >"$log" 2>&1 || ok=0
[ "$made_policy" = 1 ] && rm -f "$policy"
if [ "$ok" = 0 ]; then
  tail -n 5 "$log" >&2
  fail "apt-get could not install ${PACKAGES[*]}"
fi
for service in pgbouncer haproxy; do
  command -v service >/dev/null 2>&1 && service "$service" stop >/dev/null 2>&1
done
if missing; then fail "installed ${PACKAGES[*]}, yet one of ${PROGRAMS[*]} is missing"; fi
exit 0
