#!/usr/bin/env bash
# install.sh: make a real Asterisk 22 available for callscreen's integration
# tests, without Docker and without touching the host's own /etc.
#
#   1. host packages: debootstrap (builds the chroot), sip-tester (sipp) and
#      sqlite3 (the fault tests check the call log with it);
#   2. a Debian sid chroot holding Asterisk 22 and the English core prompts,
#      cached at ${CALLSCREEN_ASTERISK_ROOT:-/var/cache/callscreen/asterisk-sid}
#      (outside the work tree). A chroot whose `asterisk -V` works is reused;
#      otherwise a new one is built in a temporary directory beside it and
#      renamed into place only when complete, so a failed build never leaves
#      a half chroot behind;
#   3. callscreen's own prompts (asterisk-conf/sounds/{en,ja}/*.wav) copied
#      into ROOT/usr/share/asterisk/sounds/{en,ja}/callscreen/.
#
# It is idempotent: run it as often as you like; a warm run takes a second.
# It needs root (debootstrap, chroot). Debian sid moves daily: when a package
# cannot be installed the script names it and exits non-zero.
#
# Environment:
#   CALLSCREEN_ASTERISK_ROOT  chroot directory (default /var/cache/callscreen/asterisk-sid)
#   CALLSCREEN_DEBIAN_MIRROR  mirror (default http://deb.debian.org/debian)
#   CALLSCREEN_SUITE          suite (default sid; Asterisk 22 is not in bookworm/trixie)
#   CALLSCREEN_REBUILD=1      discard the cached chroot and build a new one
#   CALLSCREEN_CHROOT_EXTRA   more packages for the chroot, space-separated
#                             (only used when the chroot is (re)built)
#   CALLSCREEN_NO_PROMPTS=1   skip step 3: a pristine Debian root (the package
#                             test installs the prompts with the .deb)
set -euo pipefail

ROOT=${CALLSCREEN_ASTERISK_ROOT:-/var/cache/callscreen/asterisk-sid}
MIRROR=${CALLSCREEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${CALLSCREEN_SUITE:-sid}
# asterisk-core-sounds-en-gsm: the English core prompts (digits/N, vm-*,
# beep, privacy-*). GSM is enough for 8 kHz telephony; no wav variant needed.
CHROOT_PACKAGES=(asterisk asterisk-core-sounds-en-gsm ${CALLSCREEN_CHROOT_EXTRA:-})
HOST_PACKAGES=(debootstrap sip-tester sqlite3)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SOUNDS_SRC="$REPO/asterisk-conf/sounds"

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() { printf 'install.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap and chroot need it)"

# --- 1. host packages -------------------------------------------------------
host_pkg_ok() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

missing=()
for p in "${HOST_PACKAGES[@]}"; do host_pkg_ok "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
	log "installing host packages: ${missing[*]}"
	updated=0
	for p in "${missing[@]}"; do
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/tmp/callscreen-apt-$p.log 2>&1; then
			if ((updated == 0)); then
				log "apt-get update (once)"
				apt-get update -q >/tmp/callscreen-apt-update.log 2>&1 || die "apt-get update failed; see /tmp/callscreen-apt-update.log"
				updated=1
			fi
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/tmp/callscreen-apt-$p.log 2>&1 ||
				die "host package '$p' failed to install; see /tmp/callscreen-apt-$p.log"
		fi
	done
fi

# --- 2. the Asterisk chroot -------------------------------------------------
chroot_ok() {
	[[ -x "$1/usr/sbin/asterisk" ]] && chroot "$1" /usr/sbin/asterisk -V >/dev/null 2>&1
}

# umount_under DIR: unmount anything a previous harness run left mounted
# under DIR (deepest first), so the directory can be removed or renamed.
umount_under() {
	local d=$1 m
	[[ -d $d ]] || return 0
	d=$(cd "$d" && pwd -P)
	{ awk '{print $2}' /proc/mounts | grep -E "^${d}(/|$)" || true; } | sort -r | while read -r m; do
		umount -l "$m" || true
	done
	return 0
}

# explain_failure LOG DIR: name the package(s) that broke a debootstrap
# run. Best effort: never fails itself.
explain_failure() {
	local logf=$1 dlog="$2/debootstrap/debootstrap.log" pk
	pk=$(cat "$logf" "$dlog" 2>/dev/null |
		grep -oE "(Couldn't find these debs|Couldn't find package|Unable to locate package|Failure trying to run|Couldn't download package|dpkg: error processing (package|archive)|E: Package '?)[:]? *[^ ]+( [^ ]+)*" |
		sed -E "s/^(Couldn't find these debs|Couldn't find package|Unable to locate package|Failure trying to run|Couldn't download package|dpkg: error processing (package|archive)|E: Package '?):? *//" |
		tr ' ' '\n' | grep -vE '^$' | sort -u | tr '\n' ' ') || true
	{ grep -E "^(E|W): " "$logf" | tail -n 5 >&2; } 2>/dev/null || true
	[[ -n ${pk:-} ]] && log "failing package(s): $pk"
	if [[ -f $dlog ]]; then log "tail of $dlog:"; tail -n 15 "$dlog" >&2 || true; fi
	return 0
}

if [[ ${CALLSCREEN_REBUILD:-0} == 1 ]] || ! chroot_ok "$ROOT"; then
	mkdir -p "$(dirname "$ROOT")"
	tmp="$ROOT.build.$$"
	umount_under "$tmp"; rm -rf "$tmp"
	trap 'umount_under "$tmp" || true; rm -rf "$tmp" "$tmp.log"' EXIT
	includes=$(IFS=,; echo "${CHROOT_PACKAGES[*]}")
	log "building $SUITE chroot with $includes in $tmp (about 90 s, about 500 MB)"
	start=$(date +%s)
	if ! debootstrap --variant=minbase --include="$includes" "$SUITE" "$tmp" "$MIRROR" >"$tmp.log" 2>&1; then
		explain_failure "$tmp.log" "$tmp"
		cp "$tmp.log" "$ROOT.failed.log" 2>/dev/null || true
		rm -f "$tmp.log"
		die "debootstrap of $SUITE failed; full log in $ROOT.failed.log"
	fi
	# Package sanity: each requested package must be installed, by name.
	for p in "${CHROOT_PACKAGES[@]}"; do
		chroot "$tmp" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || {
			cp "$tmp.log" "$ROOT.failed.log" 2>/dev/null || true
			die "chroot package '$p' is not installed after debootstrap; see $ROOT.failed.log"
		}
	done
	chroot_ok "$tmp" || die "asterisk -V does not run inside the new chroot ($tmp)"
	# Swap atomically-enough: old chroot aside, new one in, old one removed.
	if [[ -e $ROOT ]]; then
		umount_under "$ROOT"
		mv "$ROOT" "$ROOT.old.$$"
	fi
	mv "$tmp" "$ROOT"
	trap - EXIT
	rm -rf "$ROOT.old.$$" "$tmp.log" "$ROOT.failed.log"
	log "chroot built in $(($(date +%s) - start)) s: $(chroot "$ROOT" /usr/sbin/asterisk -V)"
else
	log "reusing $ROOT: $(chroot "$ROOT" /usr/sbin/asterisk -V)"
fi

# --- 3. callscreen prompts --------------------------------------------------
if [[ ${CALLSCREEN_NO_PROMPTS:-0} == 1 ]]; then
	echo "$ROOT"
	exit 0
fi
# Debian's asterisk has astdatadir=/usr/share/asterisk, so sound:callscreen/x
# for language en resolves to /usr/share/asterisk/sounds/en/callscreen/x.wav.
# sounds/en is an absolute symlink (via /etc/alternatives) that only resolves
# inside the chroot, so resolve it there.
for lang in en ja; do
	src="$SOUNDS_SRC/$lang"
	[[ -d $src ]] || continue
	base=$(chroot "$ROOT" readlink -m "/usr/share/asterisk/sounds/$lang")
	mkdir -p "$ROOT$base/callscreen"
	cp -u "$src"/*.wav "$ROOT$base/callscreen/"
	if [[ -d $src/digits ]]; then
		mkdir -p "$ROOT$base/digits"
		cp -u "$src"/digits/*.wav "$ROOT$base/digits/"
	fi
done

echo "$ROOT"
