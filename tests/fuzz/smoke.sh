#!/bin/sh
# Runs one harness (built with standalone.c) over its seed corpus. The
# private-key harness also gets keys made by ssh-keygen right now: no
# private key is ever committed.
set -eu
exe=$1
name=$2
corpus=$3
if [ "$name" != privkey ]; then
	exec "$exe" "$corpus"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v ssh-keygen >/dev/null 2>&1; then
	ssh-keygen -q -t ed25519 -N '' -f "$tmp/ed25519"
	ssh-keygen -q -t ecdsa -b 384 -N '' -f "$tmp/ecdsa"
	ssh-keygen -q -t rsa -b 2048 -N '' -f "$tmp/rsa"
	ssh-keygen -q -t ed25519 -N '' -m PEM -f "$tmp/ed25519-pem"
	ssh-keygen -q -t ecdsa -N '' -m PKCS8 -f "$tmp/ecdsa-pkcs8"
	ssh-keygen -q -t ed25519 -N 'x' -f "$tmp/ed25519-enc"
	rm -f "$tmp"/*.pub
fi
"$exe" "$corpus" "$tmp"
