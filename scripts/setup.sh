#!/usr/bin/env bash
# setup.sh prepares this machine for screend: PostgreSQL 15 with pgvector,
# ONNX Runtime 1.24.x for onnxruntime_go, a running cluster, the screend role
# and databases. It is idempotent: on a machine that already has everything it
# only checks and exits within seconds.
#
# As root it uses the system cluster (15/main, TCP on 127.0.0.1:5432) and
# installs ONNX Runtime into /usr/local/lib/screend. As an ordinary user it
# runs a private cluster under ./var/pg (unix socket only) and installs ONNX
# Runtime into ./var/lib; installing Debian packages then needs sudo.
#
# It writes ./var/env, the settings `make run` and `make test` source.
set -euo pipefail

PG_MAJOR=15
ORT_VERSION=1.24.1
ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
VAR_DIR="$ROOT_DIR/var"
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $* (install it once as root, or install sudo)"
	fi
}

apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		as_root apt-get update -qq
		apt_updated=1
	fi
	log "apt-get install $*"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# debian_mirror prints the Debian mirror apt already uses, so that the
# pgvector source comes from the same place as every other package.
debian_mirror() {
	local uri
	uri=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
		grep -oE 'https?://[^ ]+' | head -n 1 || true)
	echo "${uri%/}"
}

install_postgres() {
	if [ -x "$PG_BIN/postgres" ]; then
		return
	fi
	apt_install "postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR"
}

# install_pgvector makes CREATE EXTENSION vector work. Debian 12 has no binary
# package, so it builds Debian's trixie source package against the installed
# server, checking the tarball against the sha256 in the suite's Sources index.
install_pgvector() {
	local sharedir
	if [ -x "$PG_BIN/pg_config" ]; then
		sharedir=$("$PG_BIN/pg_config" --sharedir)
		if [ -f "$sharedir/extension/vector.control" ]; then
			return
		fi
	fi
	if apt-cache show "postgresql-$PG_MAJOR-pgvector" >/dev/null 2>&1; then
		apt_install "postgresql-$PG_MAJOR-pgvector"
		return
	fi
	dpkg -s "postgresql-server-dev-$PG_MAJOR" >/dev/null 2>&1 || apt_install "postgresql-server-dev-$PG_MAJOR" make gcc xz-utils curl
	local mirror work stanza version dir orig sha
	mirror=$(debian_mirror)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	work=$(mktemp -d)
	log "looking up pgvector in $mirror (trixie)"
	curl -fsSL "$mirror/dists/trixie/main/source/Sources.xz" | xz -d >"$work/Sources"
	stanza=$(awk '/^Package: pgvector$/{p=1} p&&/^$/{exit} p' "$work/Sources")
	[ -n "$stanza" ] || die "pgvector not found in trixie Sources of $mirror"
	version=$(awk '/^Version:/{print $2}' <<<"$stanza")
	dir=$(awk '/^Directory:/{print $2}' <<<"$stanza")
	read -r sha orig < <(awk '/^Checksums-Sha256:/{p=1;next} p&&/^ /{if ($3 ~ /\.orig\.tar\./) print $1, $3; next} p{exit}' <<<"$stanza")
	[ -n "$orig" ] || die "no orig tarball for pgvector $version"
	log "building pgvector $version from $orig"
	curl -fsSL -o "$work/$orig" "$mirror/$dir/$orig"
	echo "$sha  $work/$orig" | sha256sum -c --quiet - || die "checksum mismatch for $orig"
	mkdir "$work/src"
	tar -xf "$work/$orig" -C "$work/src" --strip-components=1
	make -s -C "$work/src" PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" >/dev/null
	as_root make -s -C "$work/src" PG_CONFIG="$PG_BIN/pg_config" install >/dev/null
	rm -rf "$work"
}

# install_onnxruntime copies the official Linux x64 build of ONNX Runtime out
# of the npm package onnxruntime-node (fetched with `npm pack`, which runs no
# install scripts) into $1.
install_onnxruntime() {
	local dest=$1 lib="$1/libonnxruntime.so.$ORT_VERSION"
	if [ -f "$lib" ] && [ -L "$dest/libonnxruntime.so" ]; then
		return
	fi
	command -v npm >/dev/null 2>&1 || apt_install npm
	local work
	work=$(mktemp -d)
	log "fetching onnxruntime-node@$ORT_VERSION from the npm registry"
	(cd "$work" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
	tar -xzf "$work/onnxruntime-node-$ORT_VERSION.tgz" -C "$work" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	mkdir -p "$dest" 2>/dev/null || as_root mkdir -p "$dest"
	install -m 0644 "$work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib" 2>/dev/null ||
		as_root install -m 0644 "$work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib"
	ln -sfn "libonnxruntime.so.$ORT_VERSION" "$dest/libonnxruntime.so" 2>/dev/null ||
		as_root ln -sfn "libonnxruntime.so.$ORT_VERSION" "$dest/libonnxruntime.so"
	rm -rf "$work"
	log "installed $lib"
}

# install_promtool puts promtool (the tests check /metrics with it) into $1,
# taken from Debian's prometheus package without installing the package,
# which would also start a Prometheus server.
install_promtool() {
	local dest=$1 work
	command -v promtool >/dev/null 2>&1 && return
	[ -x "$dest/promtool" ] && return
	work=$(mktemp -d)
	(cd "$work" && apt-get download prometheus >/dev/null 2>&1) ||
		{ as_root apt-get update -qq; (cd "$work" && apt-get download prometheus >/dev/null); }
	dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool
	mkdir -p "$dest" 2>/dev/null || as_root mkdir -p "$dest"
	install -m 0755 "$work/usr/bin/promtool" "$dest/promtool" 2>/dev/null ||
		as_root install -m 0755 "$work/usr/bin/promtool" "$dest/promtool"
	rm -rf "$work"
	log "installed $dest/promtool"
}

# psql_admin runs psql as the cluster's superuser.
psql_admin() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- env PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$@"
	else
		PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h "$VAR_DIR/pg" -d postgres "$@"
	fi
}

start_system_cluster() {
	if ! pg_lsclusters -h | awk -v v="$PG_MAJOR" '$1==v && $2=="main"' | grep -q .; then
		log "creating cluster $PG_MAJOR/main"
		pg_createcluster "$PG_MAJOR" main >/dev/null
	fi
	if ! pg_lsclusters -h | awk -v v="$PG_MAJOR" '$1==v && $2=="main" {print $4}' | grep -q online; then
		log "starting cluster $PG_MAJOR/main"
		pg_ctlcluster "$PG_MAJOR" main start
	fi
	local port
	port=$(pg_lsclusters -h | awk -v v="$PG_MAJOR" '$1==v && $2=="main" {print $3}')
	# No TLS to a server on the same host: it protects nothing there and
	# cost the daemon about 4% of its CPU per image (its queries and COPYs).
	DB_URL="postgres://screend:screend@127.0.0.1:$port/screend?sslmode=disable"
	TEST_DB_URL="postgres://screend:screend@127.0.0.1:$port/screend_test?sslmode=disable"
}

start_private_cluster() {
	local data="$VAR_DIR/pg"
	if [ ! -f "$data/PG_VERSION" ]; then
		log "creating private cluster in $data"
		mkdir -p "$data"
		"$PG_BIN/initdb" -D "$data" -A trust -U "$(id -un)" >/dev/null
	fi
	if ! "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		log "starting private cluster in $data"
		"$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w \
			-o "-c listen_addresses='' -k $data" start >/dev/null
	fi
	DB_URL="postgres:///screend?host=$data&user=screend"
	TEST_DB_URL="postgres:///screend_test?host=$data&user=screend"
}

# create_databases makes the screend role (allowed to create the per-test
# databases) and two databases, each with the vector extension created by the
# superuser so the role needs no superuser rights.
create_databases() {
	psql_admin <<-'SQL'
		SELECT 'CREATE ROLE screend LOGIN CREATEDB PASSWORD ''screend'''
		WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'screend') \gexec
		-- Dropping a test database ends its sessions, autovacuum's included.
		GRANT pg_signal_backend TO screend;
		-- The role reviewers are granted (migration 005 would create it if
		-- it could); the tests create throwaway reviewer logins in it.
		SELECT 'CREATE ROLE screend_reviewer NOLOGIN'
		WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'screend_reviewer') \gexec
		ALTER ROLE screend CREATEROLE;
		SELECT 'CREATE DATABASE ' || d || ' OWNER screend'
		FROM unnest(ARRAY['screend', 'screend_test']) AS d
		WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d) \gexec
	SQL
	local db
	for db in screend screend_test; do
		psql_admin -d "$db" -c 'CREATE EXTENSION IF NOT EXISTS vector'
	done
}

main() {
	mkdir -p "$VAR_DIR/inbox"
	install_postgres
	install_pgvector
	local ort_dir
	if [ "$(id -u)" -eq 0 ]; then
		ort_dir=/usr/local/lib/screend
		start_system_cluster
	else
		ort_dir="$VAR_DIR/lib"
		start_private_cluster
	fi
	install_onnxruntime "$ort_dir"
	# Tools the tests use: promtool checks /metrics, systemd-analyze the unit.
	if [ "$(id -u)" -eq 0 ]; then install_promtool /usr/local/bin; else install_promtool "$VAR_DIR/bin"; fi
	command -v systemd-analyze >/dev/null 2>&1 || apt_install systemd
	# The real-encoder test builds a pretrained CNN (scripts/real_encoder)
	# with Debian's onnx and numpy for Python.
	/usr/bin/python3 -c 'import onnx, numpy' >/dev/null 2>&1 || apt_install python3-onnx python3-numpy
	# The review page's tests drive Debian's headless Chromium.
	command -v chromium >/dev/null 2>&1 || apt_install chromium
	# The native decoders open libdeflate (PNG), libjpeg-turbo's TurboJPEG
	# (JPEG) and libwebp (lossy WebP) at run time (without them screend
	# decodes with Go's decoders, more slowly); gcc builds the cgo parts.
	dpkg -s libdeflate0 >/dev/null 2>&1 || apt_install libdeflate0
	dpkg -s libturbojpeg0 >/dev/null 2>&1 || apt_install libturbojpeg0
	dpkg -s libwebp7 >/dev/null 2>&1 || apt_install libwebp7
	command -v gcc >/dev/null 2>&1 || apt_install gcc libc6-dev
	create_databases
	cat >"$VAR_DIR/env" <<-EOF
		# Written by scripts/setup.sh; sourced by make run and make test.
		export SCREEND_DATABASE_URL='$DB_URL'
		export TEST_DATABASE_URL='$TEST_DB_URL'
		export SCREEND_ONNXRUNTIME_LIB='$ort_dir/libonnxruntime.so'
		export PATH="$VAR_DIR/bin:\$PATH"
	EOF
	log "ready: database $DB_URL, ONNX Runtime $ort_dir/libonnxruntime.so"
}

main "$@"
