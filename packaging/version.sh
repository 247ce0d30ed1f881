#!/bin/sh
# Prints callscreen's version for the binary (-ldflags -X main.version) and
# the Debian package, derived from git so that a later commit always sorts
# higher for dpkg:
#   on a tag vX.Y.Z                 X.Y.Z
#   N commits after vX.Y.Z          X.Y.Z+gitYYYYMMDD.N.HASH
#   no tag yet                      0.0~gitYYYYMMDD.N.HASH (N: commits in all)
#   uncommitted changes             ... +dirty appended
# Outside a git checkout (a source tarball) it prints 0.0~unknown.
set -eu
cd "$(dirname "$0")/.."
if ! git rev-parse --git-dir >/dev/null 2>&1; then
	echo 0.0~unknown
	exit 0
fi
hash=$(git rev-parse --short=10 HEAD)
date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d HEAD)
if tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null); then
	base=${tag#v}
	n=$(git rev-list --count "$tag"..HEAD)
	if [ "$n" -eq 0 ]; then
		v=$base
	else
		v="$base+git$date.$n.$hash"
	fi
else
	n=$(git rev-list --count HEAD)
	v="0.0~git$date.$n.$hash"
fi
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	v="$v+dirty"
fi
echo "$v"
