#!/usr/bin/env bash
# install.sh: make PostgreSQL 15's server binaries available for the tests
# of the PostgreSQL store (internal/pgtest starts throwaway clusters from
# them; no server needs to run).
#
#   1. when ${CALLSCREEN_POSTGRES_BINDIR:-/usr/lib/postgresql/15/bin}/postgres
#      or the postgres system user is missing: apt-get install -y
#      --no-install-recommends postgresql (Debian bookworm's PostgreSQL 15),
#      with the package's automatic "main" cluster turned off beforehand
#      (/etc/postgresql-common/createcluster.d);
#   2. a Debian cluster of version 15 that is running anyway (created before
#      this script, or by hand) is stopped, so that no idle server holds
#      memory and port 5432 while the tests run.
#
# It is idempotent: a warm run installs nothing and takes well under a
# second. Installing needs root; a warm run does not.
#
# Environment:
#   CALLSCREEN_POSTGRES_BINDIR      server binaries (default /usr/lib/postgresql/15/bin)
#   CALLSCREEN_POSTGRES_KEEP_CLUSTERS=1  leave running Debian clusters alone (step 2)
set -euo pipefail

BINDIR=${CALLSCREEN_POSTGRES_BINDIR:-/usr/lib/postgresql/15/bin}
VERSION=15
PACKAGE=postgresql

log() { printf 'postgres/install.sh: %s\n' "$*" >&2; }
die() { printf 'postgres/install.sh: ERROR: %s\n' "$*" >&2; exit 1; }

installed() { [[ -x $BINDIR/postgres && -x $BINDIR/initdb ]] && id postgres >/dev/null 2>&1; }

# --- 1. the package ---------------------------------------------------------
if ! installed; then
	[[ $(id -u) -eq 0 ]] || die "PostgreSQL $VERSION is not installed ($BINDIR/postgres) and installing it needs root: sudo $0"
	# No automatic cluster: the tests make their own.
	mkdir -p /etc/postgresql-common/createcluster.d
	printf '# callscreen tests: no automatic cluster (integration/postgres/install.sh)\ncreate_main_cluster = false\n' \
		>/etc/postgresql-common/createcluster.d/50-callscreen-no-main.conf
	log "installing $PACKAGE (PostgreSQL $VERSION)"
	aptlog=/tmp/callscreen-apt-$PACKAGE.log
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$PACKAGE" >"$aptlog" 2>&1; then
		log "apt-get update (once)"
		apt-get update -q >/tmp/callscreen-apt-update.log 2>&1 || die "apt-get update failed; see /tmp/callscreen-apt-update.log"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$PACKAGE" >"$aptlog" 2>&1 ||
			die "package '$PACKAGE' failed to install; see $aptlog"
	fi
	installed || die "$PACKAGE installed but $BINDIR/postgres, $BINDIR/initdb or the postgres user is missing (is the archive's PostgreSQL not version $VERSION?); see $aptlog"
	log "installed: $("$BINDIR/postgres" --version)"
fi

# --- 2. Debian clusters that run anyway --------------------------------------
if [[ ${CALLSCREEN_POSTGRES_KEEP_CLUSTERS:-0} != 1 ]] && command -v pg_lsclusters >/dev/null 2>&1; then
	pg_lsclusters -h 2>/dev/null | while read -r ver name port status _; do
		[[ $ver == "$VERSION" && $status == online* ]] || continue
		[[ $(id -u) -eq 0 ]] || { log "cluster $ver/$name is running on port $port (not root: left alone)"; continue; }
		log "stopping Debian cluster $ver/$name (port $port): the tests run their own"
		pg_ctlcluster "$ver" "$name" stop || log "could not stop cluster $ver/$name"
	done
fi
"$BINDIR/postgres" --version
