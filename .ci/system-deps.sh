#!/bin/sh
# Install the Debian packages named in $DEBS that are not installed yet.
# Quiet and quick when everything is present; needs root (or sudo) otherwise.
set -eu
missing=""
for pkg in $DEBS; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done
[ -z "$missing" ] && exit 0
echo "==> installing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "error: these Debian packages are missing and I am not root:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The packaged services (postgresql, redis, dovecot) are not used: tests start private instances.
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
