#!/bin/sh
# Installs the Debian packages Streamer needs. Idempotent and quiet when
# everything is present; when not root, prints the exact command and fails.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev valgrind openssl curl
python3-prometheus-client
re2c flatbuffers-compiler libflatbuffers-dev
libwebsockets-dev libwebsockets-evlib-ev libev-dev libjwt-dev libjansson-dev libssl-dev libpq-dev
postgresql-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "streamer: missing packages:$missing" >&2
	echo "run: sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "streamer: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends $missing >/dev/null
