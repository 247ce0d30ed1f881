#!/usr/bin/env bash
# Prints the path of a go command that can build this module, installing one
# first if the machine has none: Debian's golang-go bootstraps, then the Go
# toolchain named in go.mod is fetched from the Go module proxy (the module
# golang.org/toolchain, as the go command itself does) into
# /var/cache/callscreen/go. Progress goes to stderr; only the path to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '$1 == "go" {print $2; exit}' go.mod)
dest=${CALLSCREEN_GO_ROOT:-/var/cache/callscreen/go}

# usable GO: a go that knows GOTOOLCHAIN (1.21+) fetches the exact toolchain
# go.mod asks for by itself.
usable() {
	local v
	v=$("$1" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	local major=${v%%.*} rest=${v#*.}
	local minor=${rest%%.*}
	[ "$major" -gt 1 ] || [ "$minor" -ge 21 ]
}

for g in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go "$dest/bin/go"; do
	if [ -n "$g" ] && [ -x "$g" ] && usable "$g"; then
		echo "$g"
		exit 0
	fi
done

echo "bootstrap-go: no Go 1.21 or newer found; installing go$want" >&2
if ! command -v /usr/bin/go >/dev/null 2>&1 || ! command -v unzip >/dev/null 2>&1; then
	apt-get update -qq >&2 || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go unzip ca-certificates >&2 ||
		{ echo "bootstrap-go: apt-get install golang-go unzip failed" >&2; exit 1; }
fi
case "$(uname -m)" in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) echo "bootstrap-go: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
	cd "$work"
	export GOPATH="$work/gopath" GOFLAGS=-mod=mod GOTOOLCHAIN=local
	/usr/bin/go mod init bootstrap >/dev/null 2>&1
	/usr/bin/go mod download -json "golang.org/toolchain@v0.0.1-go$want.linux-$arch" >"$work/dl.json"
) || { echo "bootstrap-go: downloading golang.org/toolchain go$want failed" >&2; exit 1; }
zip=$(sed -n 's/^[[:space:]]*"Zip": "\(.*\)",$/\1/p' "$work/dl.json")
unzip -q "$zip" -d "$work/x"
rm -rf "$dest.new"
mv "$work/x/golang.org/toolchain@v0.0.1-go$want.linux-$arch" "$dest.new"
chmod -R u+w "$dest.new"
chmod +x "$dest.new"/bin/* "$dest.new"/pkg/tool/*/*
rm -rf "$dest"
mv "$dest.new" "$dest"
chmod -R u+w "$work" # the module cache is read-only
echo "bootstrap-go: installed $("$dest/bin/go" version) in $dest" >&2
echo "$dest/bin/go"
