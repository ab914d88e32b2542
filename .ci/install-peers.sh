#!/usr/bin/env bash
# Install the real WebSocket peers used by wsloop's interop tests (CI, as root).
#
#   chromium                   -> /usr/bin/chromium, driven by npm playwright-core
#   python3-websockets         -> Debian's websockets 10.4 for /usr/bin/python3
#                                 (NOT the pyenv `python3` that is first on PATH)
#   libwebsockets-test-server  -> libwebsockets-test-server / -test-client (lws 4.1.6)
#
# Idempotent: packages already installed (dpkg-query) are skipped, and when
# nothing is missing neither `apt-get update` nor `apt-get install` runs.
# --no-install-recommends: with recommends apt pulls ~135 packages (systemd,
# avahi, cups helpers, perl, samba libs ...); without, ~29. Recommends are not
# needed: headless chromium renders with the DejaVu fonts already on the image
# (fonts-liberation is only a Recommends) and runs with --no-sandbox as root
# (chromium-sandbox is only a Recommends too).
set -euo pipefail

PEER_PACKAGES=(chromium python3-websockets libwebsockets-test-server)

start=$(date +%s.%N)

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == "installed" ]]
}

missing=()
for pkg in "${PEER_PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-peers: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "install-peers: installing ${missing[*]}"
  log=$(mktemp /tmp/install-peers.XXXXXX.log)
  # Quiet: apt's chatter goes to $log, shown only if a step fails.
  run_logged() { "$@" >>"$log" 2>&1 || { echo "install-peers: failed: $*" >&2; cat "$log" >&2; exit 1; }; }
  run_logged apt-get update -qq
  run_logged apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Use-Pty=0 -o APT::Color=0 "${missing[@]}"
  rm -f "$log"
  for pkg in "${missing[@]}"; do
    is_installed "$pkg" || { echo "install-peers: $pkg failed to install" >&2; exit 1; }
  done
fi

# Fail early (and say why) if a binary the tests spawn is absent.
for bin in /usr/bin/chromium /usr/bin/libwebsockets-test-server /usr/bin/libwebsockets-test-client; do
  [[ -x "$bin" ]] || { echo "install-peers: $bin missing" >&2; exit 1; }
done
/usr/bin/python3 -c 'import websockets' \
  || { echo "install-peers: /usr/bin/python3 cannot import websockets" >&2; exit 1; }

end=$(date +%s.%N)
printf 'install-peers: ok (%s) in %.1fs\n' \
  "$(dpkg-query -W -f='${Package}=${Version} ' "${PEER_PACKAGES[@]}" | sed 's/ $//')" \
  "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')"
