#!/usr/bin/env bash
# Makes sure Debian's chromium is at /usr/bin/chromium, for the explorer test
# (tests/explorer/explorer.test.ts). Installs it with apt-get when it is missing
# and we are root; otherwise prints why it cannot and exits non-zero.
set -uo pipefail

CHROMIUM=/usr/bin/chromium
fail() { echo "ensure-chromium: $*" >&2; exit 1; }

[ -x "$CHROMIUM" ] && exit 0
[ "$EUID" -eq 0 ] || fail "$CHROMIUM is missing and only root can install it (apt-get install -y chromium)"
command -v apt-get >/dev/null 2>&1 || fail "$CHROMIUM is missing and apt-get is not available"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update && apt-get install -y chromium; } >"$log" 2>&1; then
  tail -n 5 "$log" >&2
  fail "apt-get could not install chromium"
fi
[ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM is missing"
