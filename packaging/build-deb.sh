#!/bin/sh
# build-deb.sh ARCH VERSION OUTDIR: builds callscreen_VERSION_ARCH.deb with
# dpkg-deb from this checkout (`make deb` calls it once per architecture).
# The binary is cross-compiled with GOARCH (CGO is off: the SQLite driver is
# pure Go). GO names the go command (default: go on PATH).
#
# Contents (see packaging/README.md):
#   /usr/bin/callscreen
#   /etc/callscreen/callscreen.yaml          conffile, root:callscreen 0640
#   /usr/lib/systemd/system/callscreen.service
#   /usr/share/callscreen/sounds/{en,ja}/    prompts; postinst links them
#                                            into Asterisk's sounds directory
#   /usr/share/callscreen/asterisk-conf/     the sample PBX, for reference
#   /usr/share/doc/callscreen/               README, docs, copyright
#   /usr/share/man/man1/callscreen.1.gz      generated from --help
set -eu
arch=$1 version=$2 out=$3
GO=${GO:-go}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

case $arch in
amd64 | arm64 | armhf | i386 | riscv64 | ppc64le | s390x) ;;
*) echo "build-deb.sh: unsupported architecture $arch" >&2; exit 2 ;;
esac
goarch=$arch
[ "$arch" = armhf ] && goarch=arm
[ "$arch" = i386 ] && goarch=386

stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
umask 022

# The binary.
mkdir -p "$stage/usr/bin"
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=7 "$GO" build -trimpath \
	-ldflags "-s -w -X main.version=$version" -o "$stage/usr/bin/callscreen" ./cmd/callscreen)

# Configuration: the sample, as a conffile. dpkg-statoverride (postinst)
# makes it root:callscreen 0640 on this and every later unpack.
install -D -m 0640 "$repo/asterisk-conf/callscreen.yaml" "$stage/etc/callscreen/callscreen.yaml"

# The unit.
install -D -m 0644 "$repo/asterisk-conf/callscreen.service" "$stage/usr/lib/systemd/system/callscreen.service"

# Prompts: every file under sounds/<lang>/, subdirectories (digits/) kept.
for lang in en ja; do
	[ -d "$repo/asterisk-conf/sounds/$lang" ] || continue
	(cd "$repo/asterisk-conf/sounds/$lang" && find . -type f ! -name '*.sh' ! -name '*.txt' ! -name '*.md') |
		while read -r f; do
			install -D -m 0644 "$repo/asterisk-conf/sounds/$lang/$f" "$stage/usr/share/callscreen/sounds/$lang/$f"
		done
done

# The sample PBX configuration, for reference and `callscreen setup asterisk`.
for f in "$repo"/asterisk-conf/*.conf "$repo"/asterisk-conf/README.md; do
	install -D -m 0644 "$f" "$stage/usr/share/callscreen/asterisk-conf/$(basename "$f")"
done
install -D -m 0644 "$repo/asterisk-conf/freepbx/extensions_custom.conf" \
	"$stage/usr/share/callscreen/asterisk-conf/freepbx/extensions_custom.conf"

# Documentation and the manual page.
doc=$stage/usr/share/doc/callscreen
install -D -m 0644 "$repo/README.md" "$doc/README.md"
for f in "$repo"/docs/*.md; do install -m 0644 "$f" "$doc/"; done
install -m 0644 "$here/debian/copyright" "$doc/copyright"
printf 'callscreen (%s) unstable; urgency=medium\n\n  * Built from git %s.\n\n -- callscreen <callscreen@localhost>  %s\n' \
	"$version" "$(cd "$repo" && git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)" \
	"$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(cd "$repo" && git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
	gzip -9n >"$doc/changelog.gz"
mkdir -p "$stage/usr/share/man/man1"
(cd "$repo" && CGO_ENABLED=0 "$GO" run -ldflags "-X main.version=$version" ./cmd/callscreen man) | gzip -9n >"$stage/usr/share/man/man1/callscreen.1.gz"

# Control files.
mkdir -p "$stage/DEBIAN"
for s in postinst prerm postrm; do
	install -m 0755 "$here/debian/$s" "$stage/DEBIAN/$s"
done
install -m 0644 "$here/debian/conffiles" "$stage/DEBIAN/conffiles"
install -m 0644 "$here/debian/triggers" "$stage/DEBIAN/triggers"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	"$here/debian/control" >"$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/callscreen_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
