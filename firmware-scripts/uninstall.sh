#!/bin/sh
# uninstall.sh: remove what install.sh installed.
#
#   uninstall.sh [--prefix /] [--purge]
#
# Stops and disables the service and removes the binary (and
# ood-agent.prev) and the unit. The configuration in /etc/ood-agent, the
# state in /var/lib/ood-agent (queued alerts, snapshots, calibration) and
# the ood-agent user stay unless --purge is given.
set -eu

name=ood-agent

log() { printf 'uninstall.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

prefix=/
purge=no
while [ "$#" -gt 0 ]; do
	case $1 in
	--prefix)
		[ "$#" -ge 2 ] || die "--prefix needs an argument"
		prefix=$2
		shift 2
		;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--purge) purge=yes; shift ;;
	-h | --help)
		sed -n '2,/^set -eu$/{/^set -eu$/d;s/^# \{0,1\}//;p;}' "$0"
		exit 0
		;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done

case $prefix in
/*) ;;
*) prefix=$(pwd)/$prefix ;;
esac
prefix=${prefix%/}
root=${prefix:-/}

if [ "$root" = / ] && [ "$(id -u)" != 0 ]; then
	die "uninstalling from / needs root"
fi

systemctl=''
if [ -n "${OOD_AGENT_SYSTEMCTL:-}" ]; then
	systemctl=$OOD_AGENT_SYSTEMCTL
elif [ "$root" = / ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl=systemctl
fi

unit=$prefix/etc/systemd/system/$name.service
if [ -n "$systemctl" ] && [ -f "$unit" ]; then
	# SIGTERM lets the agent flush its outbox first (TimeoutStopSec=30).
	$systemctl stop "$name.service" || true
	$systemctl disable "$name.service" >/dev/null 2>&1 || true
fi
rm -f "$unit" "$prefix/etc/systemd/system/multi-user.target.wants/$name.service"
rm -f "$prefix/usr/bin/$name" "$prefix/usr/bin/$name.prev"
rm -rf "$prefix/usr/share/${name:?}"
if [ -n "$systemctl" ]; then
	$systemctl daemon-reload || true
fi

if [ "$purge" = no ]; then
	log "removed $name; kept $prefix/etc/$name and $prefix/var/lib/$name (use --purge to delete them)"
	exit 0
fi

rm -rf "$prefix/etc/${name:?}" "$prefix/var/lib/${name:?}"
if [ "$root" = / ] && id "$name" >/dev/null 2>&1; then
	if command -v userdel >/dev/null 2>&1; then
		userdel "$name" || true
	else
		deluser "$name" || true
	fi
	if grep -q "^$name:" /etc/group; then
		if command -v groupdel >/dev/null 2>&1; then
			groupdel "$name" || true
		else
			delgroup "$name" || true
		fi
	fi
fi
log "purged $name"
