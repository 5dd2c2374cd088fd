#!/bin/sh
# install.sh: install or upgrade ood-agent on a device without dpkg.
#
#   install.sh [--binary PATH | --arch auto|arm64|armv7|armv6|amd64]
#              [--prefix /] [--config FILE] [--unit FILE] [--no-check]
#
# Every file is written to a temporary name in its final directory and
# renamed into place, so a power cut leaves the old or the new file, never
# a torn one. An edited configuration is never overwritten: the new default
# goes next to it as agent.yaml.new. An upgrade keeps the previous binary as
# ood-agent.prev and puts it back (and restarts the service) when the new
# one fails its health check: "ood-agent version" must succeed and, when the
# service runs under systemd, /healthz must answer within
# OOD_AGENT_HEALTH_TIMEOUT seconds.
#
# With --prefix DIR everything goes below DIR as an unprivileged user: no
# user is created, nothing is chowned and systemctl is not run.
#
# Environment:
#   OOD_AGENT_HEALTH_CMD      replaces the health check; run by sh -c with
#                             OOD_AGENT_BIN set to the installed binary
#   OOD_AGENT_HEALTH_URL      health URL (default: from http.listen)
#   OOD_AGENT_HEALTH_TIMEOUT  seconds to wait for it (default 30)
#   OOD_AGENT_SYSTEMCTL       systemctl to use even with --prefix (tests)
set -eu

name=ood-agent
script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '2,/^set -eu$/{/^set -eu$/d;s/^# \{0,1\}//;p;}' "$0"
}

binary=''
arch=''
prefix=/
config_src=''
unit_src=''
check=yes

need_arg() { [ "$#" -ge 2 ] || die "$1 needs an argument"; }

while [ "$#" -gt 0 ]; do
	case $1 in
	--binary) need_arg "$@"; binary=$2; shift 2 ;;
	--binary=*) binary=${1#*=}; shift ;;
	--arch) need_arg "$@"; arch=$2; shift 2 ;;
	--arch=*) arch=${1#*=}; shift ;;
	--prefix) need_arg "$@"; prefix=$2; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--config) need_arg "$@"; config_src=$2; shift 2 ;;
	--config=*) config_src=${1#*=}; shift ;;
	--unit) need_arg "$@"; unit_src=$2; shift 2 ;;
	--unit=*) unit_src=${1#*=}; shift ;;
	--no-check) check=no; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done

# elf_class FILE prints 1 for a 32-bit and 2 for a 64-bit ELF file.
elf_class() { od -An -tu1 -j4 -N1 "$1" 2>/dev/null | tr -d ' '; }

# detect_arch prints the target whose binary runs here. The kernel can be
# 64-bit under a 32-bit userland (Raspberry Pi OS on a Pi 4), where the
# unit's SystemCallArchitectures=native would kill an arm64 binary, so the
# userland decides.
detect_arch() {
	case $(uname -m) in
	aarch64 | arm64)
		if [ "$(elf_class /bin/sh)" = 1 ]; then echo armv7; else echo arm64; fi ;;
	armv7* | armv8*) echo armv7 ;;
	armv6*) echo armv6 ;;
	x86_64 | amd64) echo amd64 ;;
	*) die "no ood-agent build for $(uname -m)" ;;
	esac
}

# first_file prints the first of its arguments that is a regular file.
first_file() {
	for f in "$@"; do
		if [ -f "$f" ]; then
			printf '%s\n' "$f"
			return 0
		fi
	done
	return 1
}

if [ -z "$binary" ]; then
	[ -n "$arch" ] && [ "$arch" != auto ] || arch=$(detect_arch)
	binary=$(first_file "$script_dir/$name-linux-$arch" "$script_dir/../dist/$name-linux-$arch") ||
		die "no $name-linux-$arch next to install.sh or in dist/; pass --binary"
fi
[ -n "$config_src" ] || config_src=$(first_file "$script_dir/agent.yaml" "$script_dir/../config/agent.example.yaml") ||
	die "no default configuration found; pass --config"
[ -n "$unit_src" ] || unit_src=$(first_file "$script_dir/$name.service") ||
	die "no $name.service next to install.sh; pass --unit"
for f in "$binary" "$config_src" "$unit_src"; do
	[ -f "$f" ] || die "$f: no such file"
done

case $prefix in
/*) ;;
*) prefix=$(pwd)/$prefix ;;
esac
prefix=${prefix%/}
root=${prefix:-/}

bin=$prefix/usr/bin/$name
prev=$bin.prev
etc=$prefix/etc/$name
cfg=$etc/agent.yaml
share=$prefix/usr/share/$name
dist_cfg=$share/agent.yaml.default
unit=$prefix/etc/systemd/system/$name.service
state=$prefix/var/lib/$name

if [ "$root" = / ] && [ "$(id -u)" != 0 ]; then
	die "installing into / needs root; use --prefix DIR for a staging tree"
fi
privileged=no
if [ "$root" = / ]; then privileged=yes; fi

systemctl=''
if [ -n "${OOD_AGENT_SYSTEMCTL:-}" ]; then
	systemctl=$OOD_AGENT_SYSTEMCTL
elif [ "$root" = / ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl=systemctl
fi

pending=''
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { if [ -n "$pending" ]; then rm -f "$pending"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# put SRC DST MODE copies SRC over DST atomically: a temporary file in
# DST's directory, renamed over DST.
put() {
	pending=$(dirname -- "$2")/.$(basename -- "$2").tmp.$$
	cp -- "$1" "$pending"
	chmod "$3" "$pending"
	mv -f -- "$pending" "$2"
	pending=''
}

nologin_shell() {
	first_file /usr/sbin/nologin /sbin/nologin /bin/false || echo /bin/false
}

group_exists() { grep -q "^$1:" /etc/group; }

ensure_user() {
	if ! id "$name" >/dev/null 2>&1; then
		shell=$(nologin_shell)
		log "creating system user $name"
		if command -v useradd >/dev/null 2>&1; then
			useradd --system --user-group --home-dir "/var/lib/$name" --no-create-home --shell "$shell" "$name"
		elif adduser --system --group --home "/var/lib/$name" --no-create-home --shell "$shell" "$name" >/dev/null 2>&1; then
			: # Debian's adduser
		else
			# BusyBox: -S system, -D no password, -H no home directory.
			group_exists "$name" || addgroup -S "$name"
			adduser -S -D -H -h "/var/lib/$name" -s "$shell" -G "$name" "$name"
		fi
	fi
	if group_exists video && ! id -nG "$name" | tr ' ' '\n' | grep -qx video; then
		if command -v usermod >/dev/null 2>&1; then
			usermod -a -G video "$name"
		else
			adduser "$name" video >/dev/null
		fi
	fi
}

# health_url prints the /healthz URL from http.listen of the installed
# configuration, or nothing when the server is disabled.
health_url() {
	if [ -n "${OOD_AGENT_HEALTH_URL:-}" ]; then
		printf '%s\n' "$OOD_AGENT_HEALTH_URL"
		return
	fi
	listen=$(awk '
		/^[^[:space:]#]/ { in_http = ($0 ~ /^http:[[:space:]]*(#.*)?$/); next }
		in_http && /^[[:space:]]+listen:/ {
			sub(/^[[:space:]]+listen:[[:space:]]*/, "")
			sub(/[[:space:]]+#.*$/, "")
			gsub(/["\047]/, "")
			print
			exit
		}' "$cfg" 2>/dev/null || true)
	if [ -z "$listen" ]; then
		# No http section at all means the default address; an explicit
		# listen: "" disables the server.
		grep -Eq '^[[:space:]]+listen:' "$cfg" 2>/dev/null && return
		listen=127.0.0.1:9108
	fi
	host=${listen%:*}
	port=${listen##*:}
	case $host in
	'' | 0.0.0.0) host=127.0.0.1 ;;
	'[::]') host='[::1]' ;;
	esac
	printf 'http://%s:%s/healthz\n' "$host" "$port"
}

http_ok() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o /dev/null -m 5 "$1" 2>/dev/null
	elif command -v wget >/dev/null 2>&1; then
		wget -q -T 5 -O /dev/null "$1" 2>/dev/null
	else
		log "neither curl nor wget: cannot check $1"
		return 0
	fi
}

# healthy checks the installed binary and, under systemd, the service.
healthy() {
	if [ -n "${OOD_AGENT_HEALTH_CMD:-}" ]; then
		OOD_AGENT_BIN=$bin sh -c "$OOD_AGENT_HEALTH_CMD"
		return
	fi
	if ! out=$("$bin" version 2>&1); then
		log "'$bin version' failed: $out"
		return 1
	fi
	log "installed: $out"
	[ -n "$systemctl" ] || return 0
	url=$(health_url)
	timeout=${OOD_AGENT_HEALTH_TIMEOUT:-30}
	waited=0
	while :; do
		if $systemctl is-active --quiet "$name.service"; then
			if [ -z "$url" ] || http_ok "$url"; then
				return 0
			fi
		fi
		if [ "$waited" -ge "$timeout" ]; then
			log "$name.service not healthy after ${timeout}s (${url:-no health URL})"
			return 1
		fi
		sleep 1
		waited=$((waited + 1))
	done
}

restart() {
	[ -n "$systemctl" ] || return 0
	$systemctl daemon-reload
	$systemctl enable "$name.service" >/dev/null 2>&1 || log "could not enable $name.service"
	$systemctl restart "$name.service" || log "$name.service failed to start; see journalctl -u $name"
}

# -- install ----------------------------------------------------------------

if [ "$privileged" = yes ]; then
	ensure_user
fi

mkdir -p "$prefix/usr/bin" "$etc" "$share" "$prefix/etc/systemd/system" "$state"
chmod 0750 "$state"
if [ "$privileged" = yes ]; then
	chown "$name:$name" "$state"
fi

# Configuration: a new install or an unedited default is replaced; an
# edited one is kept and the new default put next to it.
new_cfg=''
if [ ! -e "$cfg" ] || cmp -s "$cfg" "$config_src" || { [ -f "$dist_cfg" ] && cmp -s "$cfg" "$dist_cfg"; }; then
	if [ ! -e "$cfg" ] || ! cmp -s "$cfg" "$config_src"; then
		new_cfg=$cfg
	fi
else
	new_cfg=$cfg.new
	log "keeping your edited $cfg; the new default is in $cfg.new"
fi
if [ -n "$new_cfg" ]; then
	put "$config_src" "$new_cfg" 0640
	if [ "$privileged" = yes ]; then chgrp "$name" "$new_cfg"; fi
fi
put "$config_src" "$dist_cfg" 0644

put "$unit_src" "$unit" 0644

upgrade=no
if [ -f "$bin" ]; then
	upgrade=yes
	put "$bin" "$prev" 0755
fi
put "$binary" "$bin" 0755

restart
if [ "$check" = no ]; then
	log "installed $bin (health check skipped)"
	exit 0
fi
if healthy; then
	log "installed $bin"
	[ -n "$systemctl" ] || [ "$root" != / ] || log "no systemd: start '$bin run --config /etc/$name/agent.yaml' from your init system"
	exit 0
fi

if [ "$upgrade" = no ]; then
	die "$bin failed its health check and there is no previous version to roll back to"
fi
log "rolling back to the previous binary"
put "$prev" "$bin" 0755
restart
die "the new binary failed its health check; restored the previous one"
