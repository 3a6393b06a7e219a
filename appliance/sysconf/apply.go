package sysconf

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"avanti/appliance/atomicfile"
	"avanti/appliance/fault"
)

// Files the settings become (Debian 12 with systemd-networkd and chrony).
const (
	LocaltimePath = "/etc/localtime"
	TimezonePath  = "/etc/timezone"
	ZoneinfoDir   = "/usr/share/zoneinfo"
	ChronyPath    = "/etc/chrony/sources.d/avanti.sources"
	// NetworkPath sorts before the base image's fallback
	// 80-dhcp.network (DHCP on every en*/eth*), so networkd uses it for
	// the interfaces it matches.
	NetworkPath = "/etc/systemd/network/10-avanti.network"
	lockPath    = "/run/avanti-system.lock"
)

// Applier writes the settings into the system.
type Applier struct {
	// Root: every path is under it (tests; an image mounted elsewhere).
	// Empty: the running system.
	Root string
	// Run runs a command of the system (systemctl, chronyc, networkctl);
	// nil runs none (always so with a Root, but in tests).
	Run func(ctx context.Context, name string, args ...string) error
	// HasAddress says whether an interface carries an address (the zero
	// address: any but link-local); a static address that has not
	// appeared after CheckFor is rolled back.
	HasAddress func(iface string, addr netip.Addr) bool
	CheckFor   time.Duration
	Log        *slog.Logger
}

// System is the Applier of the running system: commands run, a static
// address has a minute to appear.
func System(log *slog.Logger) *Applier {
	return &Applier{Run: runCommand, HasAddress: hasAddress, CheckFor: time.Minute, Log: log}
}

func (a *Applier) path(p string) string { return filepath.Join(a.Root, p) }

func (a *Applier) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// Apply makes the system match s and returns what it changed (nothing when
// it matched already). Every file is rendered and checked before the first
// is written, and each is replaced atomically.
func (a *Applier) Apply(ctx context.Context, s Settings) ([]string, error) {
	if err := s.Validate(); err != nil {
		if f, ok := fault.As(err); ok {
			return nil, fmt.Errorf("%s: %s", f.Field, f.Message)
		}
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(a.path(lockPath)), 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(a.path(lockPath), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}

	var zone string
	if s.Timezone != "" {
		zone = ZoneinfoDir + "/" + s.Timezone
		if fi, err := os.Stat(a.path(zone)); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("time zone %s: %s is missing (Debian's tzdata)", s.Timezone, zone)
		}
	}
	var plan *netPlan
	if s.Network != nil {
		plan = a.planNetwork(*s.Network)
	}

	var changed []string
	note := func(what string, err error, did bool) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if did {
			changed = append(changed, what)
			a.log().Info("system settings applied", "what", what)
		}
		return nil
	}
	if zone != "" {
		did, err := a.applyTimezone(s.Timezone, zone)
		if err := note("time zone "+s.Timezone, err, did); err != nil {
			return changed, err
		}
	}
	did, err := a.applyNTP(ctx, s.NTPServers)
	what := "time servers: Debian's pool"
	if len(s.NTPServers) > 0 {
		what = "time servers: " + strings.Join(s.NTPServers, ", ")
	}
	if err := note(what, err, did); err != nil {
		return changed, err
	}
	if plan != nil {
		did, err := a.applyNetwork(ctx, plan)
		if err := note("network: "+plan.describe, err, did); err != nil {
			return changed, err
		}
	}
	if len(changed) == 0 {
		a.log().Info("system settings: nothing to change")
	}
	return changed, nil
}

// applyTimezone points /etc/localtime at the zone and writes /etc/timezone.
func (a *Applier) applyTimezone(name, zone string) (bool, error) {
	did := false
	if cur, _ := os.Readlink(a.path(LocaltimePath)); cur != zone {
		tmp := a.path(LocaltimePath) + ".avanti-new"
		if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
			return false, err
		}
		os.Remove(tmp)
		if err := os.Symlink(zone, tmp); err != nil {
			return false, err
		}
		if err := os.Rename(tmp, a.path(LocaltimePath)); err != nil {
			os.Remove(tmp)
			return false, err
		}
		did = true
	}
	w, err := a.writeIfChanged(TimezonePath, []byte(name+"\n"))
	return did || w, err
}

const header = "# Written by `avanti system apply` from /var/lib/avanti/system/system.json\n" +
	"# (the first-boot setup page, or the VM console's menu): change it there.\n"

// applyNTP writes chrony's sources file (no servers: none, and Debian's
// pool in chrony.conf is used) and has chronyd reread its sources.
func (a *Applier) applyNTP(ctx context.Context, servers []string) (bool, error) {
	var did bool
	var err error
	if len(servers) == 0 {
		err = os.Remove(a.path(ChronyPath))
		did = err == nil
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	} else {
		var b strings.Builder
		b.WriteString(header)
		for _, s := range servers {
			fmt.Fprintf(&b, "server %s iburst\n", s)
		}
		did, err = a.writeIfChanged(ChronyPath, []byte(b.String()))
	}
	if err != nil || !did {
		return did, err
	}
	if a.active(ctx, "chrony.service") {
		if err := a.Run(ctx, "chronyc", "reload", "sources"); err != nil {
			a.log().Warn("chronyc reload sources", "err", err)
		}
	}
	return true, nil
}

type netPlan struct {
	content  []byte     // nil: remove ours, the base image's fallback applies
	ifaces   []string   // to reconfigure
	check    string     // the interface that must come up with an address
	addr     netip.Addr // static: that address; DHCP: any
	describe string
}

// FallbackNetworkPath is the base image's DHCP on every wired interface.
const FallbackNetworkPath = "/etc/systemd/network/80-dhcp.network"

// planNetwork renders the networkd file. DHCP is the base image's
// fallback, so our file goes (or, without the fallback, says DHCP on every
// wired interface as it does); a static address goes on the first wired
// interface only (a second NIC keeps DHCP), matched by name, which stays
// when a hypervisor hands out a new MAC address.
func (a *Applier) planNetwork(n Network) *netPlan {
	wired := a.wiredInterfaces()
	p := &netPlan{ifaces: wired, describe: "DHCP"}
	if len(wired) > 0 {
		p.check = wired[0]
	}
	var b strings.Builder
	b.WriteString(header)
	if n.Mode != Static {
		if _, err := os.Stat(a.path(FallbackNetworkPath)); err == nil {
			return p
		}
		b.WriteString("[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n")
		p.content = []byte(b.String())
		return p
	}
	match := "en* eth*"
	if len(wired) > 0 {
		match, p.ifaces = wired[0], wired[:1]
	} else {
		a.log().Warn("no wired interface found: the static address goes on every en*/eth* interface")
	}
	prefix, _ := netip.ParsePrefix(n.Address)
	p.addr = prefix.Addr()
	fmt.Fprintf(&b, "[Match]\nName=%s\n\n[Network]\nDHCP=no\nAddress=%s\nGateway=%s\n", match, n.Address, n.Gateway)
	for _, d := range n.DNS {
		fmt.Fprintf(&b, "DNS=%s\n", d)
	}
	p.describe = fmt.Sprintf("static %s via %s on %s", n.Address, n.Gateway, match)
	if len(n.DNS) > 0 {
		p.describe += ", DNS " + strings.Join(n.DNS, " ")
	}
	p.content = []byte(b.String())
	return p
}

// applyNetwork writes (or removes) the networkd file, the previous one kept
// as .bak, and has networkd reconfigure. A static address that does not
// appear within CheckFor brings the previous file back. Once the address
// is there the appliance restarts, so its HTTPS certificate names it.
func (a *Applier) applyNetwork(ctx context.Context, p *netPlan) (bool, error) {
	file := a.path(NetworkPath)
	prev, err := os.ReadFile(file)
	hadPrev := err == nil
	if (p.content == nil && !hadPrev) || (p.content != nil && sameContent(file, p.content)) {
		return false, nil
	}
	if hadPrev {
		if err := atomicfile.Write(file+".bak", prev, 0o644); err != nil {
			return false, err
		}
	}
	if p.content == nil {
		if err := os.Remove(file); err != nil {
			return false, err
		}
	} else if _, err := a.writeIfChanged(NetworkPath, p.content); err != nil {
		return false, err
	}
	if !a.active(ctx, "systemd-networkd.service") {
		return true, nil
	}
	a.reconfigure(ctx, p.ifaces)
	if p.check == "" || a.HasAddress == nil || a.CheckFor <= 0 {
		return true, nil
	}
	deadline := time.Now().Add(a.CheckFor)
	for !a.HasAddress(p.check, p.addr) {
		if time.Now().After(deadline) {
			if !p.addr.IsValid() {
				// DHCP is the safe default: nothing to go back to.
				a.log().Warn("no address from DHCP yet", "interface", p.check, "waited", a.CheckFor)
				return true, nil
			}
			a.log().Error("the static address did not appear: the previous network settings are back",
				"interface", p.check, "address", p.addr, "waited", a.CheckFor)
			if hadPrev {
				err = atomicfile.Write(file, prev, 0o644)
			} else {
				err = os.Remove(file)
			}
			a.reconfigure(ctx, a.wiredInterfaces())
			return true, errors.Join(fmt.Errorf("%s did not appear on %s within %s: previous network settings restored", p.addr, p.check, a.CheckFor), err)
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	a.log().Info("network is up", "interface", p.check, "address", p.addr)
	if a.active(ctx, "avanti.service") {
		// At once, not at the server's next 5-minute check: its certificate
		// names the new address.
		if err := a.Run(ctx, "systemctl", "try-restart", "avanti.service"); err != nil {
			a.log().Warn("restart avanti for its certificate", "err", err)
		}
	}
	return true, nil
}

func (a *Applier) reconfigure(ctx context.Context, ifaces []string) {
	if err := a.Run(ctx, "networkctl", "reload"); err != nil {
		a.log().Warn("networkctl reload", "err", err)
	}
	for _, i := range ifaces {
		if err := a.Run(ctx, "networkctl", "reconfigure", i); err != nil {
			a.log().Warn("networkctl reconfigure", "interface", i, "err", err)
		}
	}
}

// active reports whether a unit runs (never without Run).
func (a *Applier) active(ctx context.Context, unit string) bool {
	return a.Run != nil && a.Run(ctx, "systemctl", "is-active", "--quiet", unit) == nil
}

// wiredInterfaces lists the hardware interfaces named en* or eth*, in the
// kernel's order (the first is the first NIC the hypervisor offers).
func (a *Applier) wiredInterfaces() []string {
	dir := a.path("/sys/class/net")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	type nic struct {
		name  string
		index int
	}
	var nics []nic
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "en") && !strings.HasPrefix(name, "eth") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name, "device")); err != nil {
			continue // virtual: a bridge, a tunnel
		}
		b, _ := os.ReadFile(filepath.Join(dir, name, "ifindex"))
		idx, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			idx = 1 << 30
		}
		nics = append(nics, nic{name, idx})
	}
	sort.Slice(nics, func(i, j int) bool {
		if nics[i].index != nics[j].index {
			return nics[i].index < nics[j].index
		}
		return nics[i].name < nics[j].name
	})
	names := make([]string, len(nics))
	for i, n := range nics {
		names[i] = n.name
	}
	return names
}

// writeIfChanged replaces a file of the system when its content differs.
func (a *Applier) writeIfChanged(p string, data []byte) (bool, error) {
	file := a.path(p)
	if sameContent(file, data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return false, err
	}
	if err := atomicfile.Write(file, data, 0o644); err != nil {
		return false, err
	}
	return true, nil
}

// hasAddress reports whether iface carries addr; the zero addr: any
// address but a link-local one (a DHCP lease).
func hasAddress(iface string, addr netip.Addr) bool {
	i, err := net.InterfaceByName(iface)
	if err != nil {
		return false
	}
	addrs, err := i.Addrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			a, ok := netip.AddrFromSlice(n.IP)
			if ok && (a.Unmap() == addr || !addr.IsValid() && !a.IsLinkLocalUnicast()) {
				return true
			}
		}
	}
	return false
}

// runCommand runs a system command; its output goes into the error.
func runCommand(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
