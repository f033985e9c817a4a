#!/bin/sh
# Runs one harness (built with standalone.c) over its seed corpus. The
# private-key harness also gets keys made by ssh-keygen right now: no
# private key is ever committed.
set -eu
exe=$1
name=$2
corpus=$3
if [ "$name" = tickets_index ]; then
	# Its tickets file and index go in a directory of its own, gone even after a crash.
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	TMPDIR=$tmp "$exe" "$corpus"
	exit 0
fi
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
	# Raw containers encrypted with the harness's passphrase at 1 round are
	# decrypted; at 2 rounds they are not even tried.
	for c in aes256-ctr aes128-cbc 3des-cbc aes256-gcm@openssh.com \
		chacha20-poly1305@openssh.com; do
		ssh-keygen -q -t ed25519 -N fuzz -a 1 -Z "$c" -f "$tmp/ed25519-$c"
	done
	ssh-keygen -q -t ecdsa -N fuzz -a 1 -Z aes128-gcm@openssh.com -f "$tmp/ecdsa-gcm"
	ssh-keygen -q -t rsa -b 2048 -N fuzz -a 1 -f "$tmp/rsa-enc"
	ssh-keygen -q -t ed25519 -N fuzz -a 2 -f "$tmp/ed25519-2rounds"
	for f in "$tmp"/*-aes* "$tmp"/*-3des* "$tmp"/*-chacha* "$tmp"/*-gcm \
		"$tmp"/rsa-enc "$tmp"/*-2rounds; do
		case $f in *.pub) continue ;; esac
		sed '1d;$d' "$f" | base64 -d >"$f.raw"
	done
	rm -f "$tmp"/*.pub
fi
"$exe" "$corpus" "$tmp"
