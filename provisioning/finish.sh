#!/bin/sh
# Seals the image once setup.sh has run and the appliance answered its health
# check, so that no two appliances made from it share a secret and nobody
# can log in with the build's key: every per-machine identity made during
# the build is removed and made again on the customer's first boot.
#   - the appliance's database, its password, binary log, backups, the
#     maintenance agent's key and the certificates (first boot and the
#     server make new ones);
#   - machine ID, systemd's credential secret, cloud-init state;
#   - at power-off (avanti-seal.service), the build user, its key and sudo
#     rule, and the SSH host keys: Packer's shutdown command comes over SSH
#     and needs sudo, and Packer may reconnect until then;
#   - SSH for the build in the firewall, logs, apt caches; free blocks trimmed.
# Run as root (Packer's avanti provisioner runs it after the health check):
#   sh finish.sh
set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[ "$(id -u)" = 0 ] || { echo "finish.sh: run as root" >&2; exit 1; }
data=/var/lib/avanti

echo "==> finish: the appliance's build-time data and secrets"
# Stopped, not disabled: they start on the customer's first boot.
systemctl stop avanti.service avanti-binlog-ship.service avanti-maint.service avanti-backup.timer avanti-backup.service
# RESET MASTER: the binary log holds the build's statements (the build
# account's password among them); the customer's starts empty.
mariadb -e "DROP DATABASE IF EXISTS avanti; DROP USER IF EXISTS 'avanti'@'localhost'; RESET MASTER;"
sed -i '/^AVANTI_DSN=/d' /etc/avanti/avanti.env
find "${data:?}" -mindepth 1 -delete
systemctl stop mariadb.service
# InnoDB's redo log and undo tablespaces shrink back on the next start.

echo "==> finish: build access (the firewall's opening now, the user at power-off)"
rm -f /etc/avanti/nft/build-ssh.nft
systemctl daemon-reload
systemctl start avanti-seal.service

echo "==> finish: machine identity"
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id /var/lib/systemd/random-seed /var/lib/systemd/credential.secret
rm -f /var/lib/chrony/chrony.drift
if command -v cloud-init >/dev/null; then cloud-init clean --logs; fi

echo "==> finish: logs and caches"
journalctl --rotate >/dev/null 2>&1 || true
journalctl --vacuum-time=1s >/dev/null 2>&1 || true
find /var/log -type f \( -name '*.log' -o -name '*.gz' -o -name '*.[0-9]' \) -delete
for f in /var/log/wtmp /var/log/btmp /var/log/lastlog; do
	if [ -f "$f" ]; then : >"$f"; fi
done
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/tmp/* /root/.bash_history
fstrim --all --quiet || true
sync
echo "==> finish: sealed; power off now (the build user goes at power-off)"
