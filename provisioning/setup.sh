#!/bin/sh
# Turns a Debian 12 base VM (scripts/image/mkbase) into the Avanti appliance:
# Debian's packages (MariaDB, espeak-ng, nftables, chrony, unattended security
# upgrades, hypervisor agents), the avanti binary and its systemd units, the
# firewall, journald limits; then starts the appliance and waits until it
# answers https://127.0.0.1/healthz. Safe to run again (it only changes what
# differs). finish.sh seals the image afterwards. See README.md here.
#
# Run as root inside the VM (Packer's avanti provisioner does, with sh):
#   sh setup.sh [BINARY]
# The avanti binary: BINARY, else $AVANTI_BINARY, else ./avanti beside this
# script. POSIX sh on purpose: the provisioner runs it with `sh`.
set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root" >&2; exit 1; }
bundle=${AVANTI_BUNDLE:-$(cd "$(dirname "$0")" && pwd)}
binary=${1:-${AVANTI_BINARY:-$bundle/avanti}}
[ -f "$binary" ] || { echo "setup.sh: no avanti binary at $binary" >&2; exit 1; }
build_user=${BUILD_USER:-packer}

start=$(date +%s)
step() { echo "==> [$(($(date +%s) - start)) s] $*"; }

# Only what the appliance uses at run time: espeak-ng speaks the calls (sox
# is used by the tests only; chromium only by the tests and the screens).
packages="mariadb-server espeak-ng nftables chrony unattended-upgrades qemu-guest-agent open-vm-tools openssl curl ca-certificates iproute2"
step "Debian packages: $packages"
apt-get update -qq
# shellcheck disable=SC2086 # the list is meant to split into words
apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold $packages >/dev/null

step "avanti user, /var/lib/avanti, /etc/avanti"
getent passwd avanti >/dev/null ||
	useradd --system --user-group --home-dir /var/lib/avanti --no-create-home \
		--shell /usr/sbin/nologin --comment "Avanti appliance" avanti
install -d -m 0750 -o avanti -g avanti /var/lib/avanti
install -d -m 0755 /etc/avanti /etc/avanti/nft /etc/nftables.d

if ! cmp -s "$binary" /usr/local/bin/avanti; then
	install -m 0755 "$binary" /usr/local/bin/avanti.new
	mv /usr/local/bin/avanti.new /usr/local/bin/avanti
fi
step "installed /usr/local/bin/avanti: $(/usr/local/bin/avanti version 2>&1 | head -1)"

# files/ mirrors the paths it is installed to.
changed=""
for f in $(cd "$bundle/files" && find . -type f | sort); do
	target=${f#.}
	mode=0644
	case $target in /usr/local/lib/avanti/*) mode=0755 ;; esac
	if ! cmp -s "$bundle/files/$f" "$target"; then
		install -D -m "$mode" "$bundle/files/$f" "$target"
		changed="$changed $target"
	fi
done
install -D -m 0644 "$bundle/README.md" /usr/local/share/doc/avanti/provisioning.md
# The console's login screen shows the first-boot setup code (dangling, and
# so ignored by agetty, whenever there is none).
install -d -m 0755 /etc/issue.d
ln -sfn /run/avanti/setup.issue /etc/issue.d/avanti.issue
step "configuration files changed:${changed:- none}"
# Services are restarted on every run, changed or not, so a run that failed
# half-way is completed by the next one.
systemctl daemon-reload
systemctl restart systemd-journald
systemctl reload ssh || true

step "MariaDB"
systemctl enable --quiet mariadb.service
systemctl restart mariadb.service

step "firewall (nftables)"
# While the build user exists (an image build), SSH stays open for Packer;
# finish.sh removes this include.
if id "$build_user" >/dev/null 2>&1; then
	echo 'add rule inet avanti input tcp dport 22 accept comment "image build only"' \
		>/etc/avanti/nft/build-ssh.nft
fi
/usr/local/lib/avanti/maintenance-ssh --no-reload
nft -c -f /etc/nftables.conf
systemctl enable --quiet nftables.service avanti-maintenance-ssh.path
systemctl restart nftables.service
systemctl start avanti-maintenance-ssh.path

step "time sync, security updates, hypervisor agents"
systemctl enable --quiet --now chrony.service unattended-upgrades.service
# open-vm-tools runs only on VMware, qemu-guest-agent only when QEMU/Proxmox
# offers its channel (both have conditions of their own).
systemctl enable --quiet open-vm-tools.service 2>/dev/null || true

step "avanti-firstboot (database, settings) and avanti.service (makes its HTTPS certificate)"
systemctl enable --quiet avanti-firstboot.service avanti.service avanti-issue.path
systemctl start avanti-issue.path
systemctl restart avanti-firstboot.service
systemctl restart avanti.service

step "system settings (avanti-system) and the console menu on tty1 (avanti-console-ui)"
# The menu takes tty1 from getty (masked, so no getty starts there again);
# login prompts stay on tty2-6 (Alt+F2) and the serial console.
systemctl mask --quiet getty@tty1.service
systemctl enable --quiet avanti-system.path avanti-system.service avanti-console-ui.service
systemctl start avanti-system.path
systemctl restart avanti-console-ui.service

# The first start applies every migration: minutes under software emulation
# on a busy host. HEALTH_TIMEOUT (s) overrides the limit.
step "waiting for https://127.0.0.1/healthz"
timeout=${HEALTH_TIMEOUT:-900}
waited=0
until curl -fsk --max-time 5 https://127.0.0.1/healthz >/dev/null 2>&1; do
	if [ "$waited" -ge "$timeout" ]; then
		echo "setup.sh: the appliance did not answer /healthz within $timeout s" >&2
		systemctl --no-pager status avanti.service >&2 || true
		journalctl --no-pager -u avanti-firstboot.service -u avanti.service -n 40 >&2 || true
		exit 1
	fi
	sleep 2
	waited=$((waited + 2))
done
step "healthy: $(curl -fsk https://127.0.0.1/healthz)"

# After firstboot (the database account's grants) and with MariaDB's binary
# log on (60-avanti.cnf): the nightly verified backup, binary log shipping,
# and the maintenance agent, which exits at once until maint: is configured
# and otherwise connects only while an admin has a window open.
step "operations: avanti-backup.timer, avanti-binlog-ship, avanti-maint"
systemctl enable --quiet avanti-backup.timer avanti-binlog-ship.service avanti-maint.service
systemctl start avanti-backup.timer
systemctl restart avanti-binlog-ship.service avanti-maint.service

# Smaller image: no package cache, and the freed blocks handed back to the
# (thin) virtual disk.
apt-get clean
fstrim --all --quiet || true
step "setup done"
