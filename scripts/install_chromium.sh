#!/usr/bin/env sh
# Headless Chromium for the stats page's browser test (tests/integration/test_stats_page.py),
# from Debian's packages: what `make test` runs first. Best effort: it never fails the run
# (without a browser that test is skipped, saying why), and it installs only where it may:
# as root or with passwordless sudo, where apt-get exists. READOUT_NO_BROWSER=1 skips it.
set -u

command -v chromium >/dev/null 2>&1 && exit 0
[ "${READOUT_NO_BROWSER:-0}" = "1" ] && exit 0
skip() { echo "note: $1; the browser test will be skipped (README: Two commands)." >&2; exit 0; }

command -v apt-get >/dev/null 2>&1 || skip "no apt-get here to install chromium"
if [ "$(id -u)" = "0" ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
else
    skip "installing chromium needs root or passwordless sudo"
fi

echo "Installing Debian's chromium for the browser test (once)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt_get() {
    # shellcheck disable=SC2086  # $as_root is empty or "sudo -n": split on purpose
    $as_root timeout 600 apt-get -o DPkg::Lock::Timeout=120 -qq "$@" >/dev/null
}
# Package lists may be missing or stale on a fresh machine: update them when a plain install fails.
apt_get install -y --no-install-recommends chromium \
    || { apt_get update && apt_get install -y --no-install-recommends chromium; } \
    || skip "apt-get could not install chromium"
exit 0
