// Package sysconf holds the appliance's system settings — time zone, time
// servers, network — as the first-boot setup page and the VM console write
// them to data_dir/system/system.json, and turns them into the files
// Debian's services read (avanti system apply, as root).
//
// The file is written by the unprivileged avanti service and applied by
// root, so everything in it is checked strictly before anything is
// written: only IP addresses, host names, prefixes and time zone names the
// binary knows, never a character that could start a new line in a
// configuration file.
package sysconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // time zones are checked against the binary's own tzdata

	"avanti/appliance/atomicfile"
	"avanti/appliance/fault"
)

// Network is how the appliance gets its address.
type Network struct {
	Mode    string   `json:"mode"`              // dhcp or static
	Address string   `json:"address,omitempty"` // static: 10.0.0.5/24
	Gateway string   `json:"gateway,omitempty"` // static
	DNS     []string `json:"dns,omitempty"`     // static: the DNS servers
}

// Modes of Network.
const (
	DHCP   = "dhcp"
	Static = "static"
)

// Settings are the system's settings. An empty time zone and a nil network
// leave the system's as they are; no time servers means Debian's pool.
type Settings struct {
	Timezone   string   `json:"timezone,omitempty"`
	NTPServers []string `json:"ntp_servers"`
	Network    *Network `json:"network,omitempty"`
}

// Limits on what the file may hold.
const (
	maxFileSize   = 64 << 10
	maxNTPServers = 8
	maxDNSServers = 4
)

// Validate says what is wrong, as a fault pointing at the field (the setup
// page shows it beside the input).
func (s Settings) Validate() error {
	if s.Timezone != "" {
		if err := ValidTimezone(s.Timezone); err != nil {
			return fault.Field("timezone", "invalid_timezone", err.Error())
		}
	}
	if len(s.NTPServers) > maxNTPServers {
		return fault.Field("ntp_servers", "invalid_ntp_server", fmt.Sprintf("at most %d time servers", maxNTPServers))
	}
	for i, h := range s.NTPServers {
		if err := ValidServer(h); err != nil {
			return fault.Field(fmt.Sprintf("ntp_servers[%d]", i), "invalid_ntp_server", err.Error())
		}
	}
	if s.Network != nil {
		return s.Network.Validate()
	}
	return nil
}

// Validate checks a network setting. In DHCP mode address, gateway and DNS
// are not used, but still may not hold anything but addresses.
func (n Network) Validate() error {
	switch n.Mode {
	case DHCP, Static:
	default:
		return fault.Field("network.mode", "invalid_network_mode", "network mode is dhcp or static")
	}
	if n.Mode == Static || n.Address != "" {
		if _, err := ValidAddress(n.Address); err != nil {
			return fault.Field("network.address", "invalid_address", err.Error())
		}
	}
	if n.Mode == Static || n.Gateway != "" {
		if err := ValidGateway(n.Address, n.Gateway); err != nil {
			return fault.Field("network.gateway", "invalid_gateway", err.Error())
		}
	}
	if len(n.DNS) > maxDNSServers {
		return fault.Field("network.dns", "invalid_dns", fmt.Sprintf("at most %d DNS servers", maxDNSServers))
	}
	for i, d := range n.DNS {
		if _, err := parseIP(d); err != nil {
			return fault.Field(fmt.Sprintf("network.dns[%d]", i), "invalid_dns", "a DNS server is an IP address, e.g. 10.0.0.2")
		}
	}
	return nil
}

// ValidTimezone accepts an IANA zone name the binary's tzdata knows.
func ValidTimezone(name string) error {
	if len(name) > 64 || name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") ||
		strings.IndexFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_+-", r))
		}) >= 0 {
		return fmt.Errorf("%q is not a time zone name such as Europe/Rome", name)
	}
	if _, err := time.LoadLocation(name); err != nil {
		return fmt.Errorf("unknown time zone %q (a name such as Europe/Rome)", name)
	}
	return nil
}

// ValidServer accepts an IP address or a host name (RFC 1123 labels).
func ValidServer(h string) error {
	const msg = "a time server is a host name or IP address, e.g. ntp.comune.local"
	if _, err := parseIP(h); err == nil {
		return nil
	}
	if h == "" || len(h) > 253 {
		return errors.New(msg)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New(msg)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return errors.New(msg)
			}
		}
	}
	return nil
}

// ValidAddress accepts a static address with its prefix length, e.g.
// 10.0.0.5/24, that a host can have.
func ValidAddress(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return p, errors.New("a static address is written with its prefix, e.g. 10.0.0.5/24")
	}
	a := p.Addr()
	if p.Bits() == 0 || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
		return p, fmt.Errorf("%s cannot be this appliance's address", s)
	}
	if a.Is4() && p.Bits() <= 30 && (a == p.Masked().Addr() || a == lastAddr(p)) {
		return p, fmt.Errorf("%s is the network's own or broadcast address, not a host's", s)
	}
	return p, nil
}

// ValidGateway accepts a gateway in the address's network (IPv6 also a
// link-local one).
func ValidGateway(address, gateway string) error {
	g, err := parseIP(gateway)
	if err != nil {
		return errors.New("the gateway is an IP address, e.g. 10.0.0.1")
	}
	p, err := netip.ParsePrefix(address)
	if err != nil {
		return nil // the address reports its own error
	}
	switch {
	case g.Is4() != p.Addr().Is4():
		return errors.New("the gateway and the address are not both IPv4 or both IPv6")
	case g == p.Addr():
		return errors.New("the gateway is another host than the appliance")
	case g.Is6() && g.IsLinkLocalUnicast():
	case !p.Masked().Contains(g):
		return fmt.Errorf("the gateway %s is not in the appliance's network %s", g, p.Masked())
	}
	return nil
}

func parseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("not an IP address: %q", s)
	}
	return a.Unmap(), nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Load reads and checks the settings file. The file lies in a directory
// the avanti user owns, so a symbolic link there is refused rather than
// followed (root reads it).
func Load(path string) (Settings, error) {
	var s Settings
	b, err := readFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return s, fmt.Errorf("%s: not valid JSON (at byte %d): %w", path, se.Offset, err)
		}
		return s, fmt.Errorf("%s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		if f, ok := fault.As(err); ok {
			return s, fmt.Errorf("%s: %s: %s", path, f.Field, f.Message)
		}
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s: a symbolic link, not the settings file", path)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	return b, nil
}

// Update changes the settings file through change, keeping keys it does
// not know, and replaces it atomically with the same owner (the console
// writes it as root; the avanti service must still be able to rewrite it).
// A missing file starts empty; an unreadable one is an error.
func Update(path string, change func(*Settings) error) (Settings, error) {
	var s Settings
	raw := map[string]json.RawMessage{}
	b, err := readFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return s, err
	default:
		if err := json.Unmarshal(b, &raw); err != nil {
			return s, fmt.Errorf("%s: not valid JSON: %w", path, err)
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := change(&s); err != nil {
		return s, err
	}
	if err := s.Validate(); err != nil {
		return s, err
	}
	set := func(k string, v any, keep bool) {
		if !keep {
			delete(raw, k)
			return
		}
		raw[k], _ = json.Marshal(v)
	}
	set("timezone", s.Timezone, s.Timezone != "")
	set("ntp_servers", s.NTPServers, true)
	set("network", s.Network, s.Network != nil)
	out, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return s, err
	}
	dir := filepath.Dir(path)
	// The avanti user owns the data directory: root writes only into a real
	// directory there, never where a link it put in place points.
	fi, err := os.Lstat(dir)
	if err == nil && !fi.IsDir() {
		return s, fmt.Errorf("%s: not a directory", dir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return s, err
		}
		// Made by root (the console): still the data directory owner's.
		if uid, gid := owner(filepath.Dir(dir)); os.Geteuid() == 0 && uid >= 0 {
			if err := os.Lchown(dir, uid, gid); err != nil {
				return s, err
			}
		}
	}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		// The file's owner, or else its directory's.
		if uid, gid = owner(path); uid < 0 {
			uid, gid = owner(dir)
		}
	}
	return s, atomicfile.Write(path, append(out, '\n'), 0o640, atomicfile.Owner(uid, gid))
}

// owner is the user and group owning path (-1 if it cannot be read).
func owner(path string) (int, int) {
	if fi, err := os.Lstat(path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return int(st.Uid), int(st.Gid)
		}
	}
	return -1, -1
}

// sameContent reports whether path already holds data.
func sameContent(path string, data []byte) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Equal(b, data)
}
