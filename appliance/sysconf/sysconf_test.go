package sysconf

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeRoot is a system tree: two NICs (ens18 first), a bridge, tzdata for
// Rome and UTC, and the base image's fallback network file.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	nic := func(name, index string, hardware bool) {
		dir := filepath.Join(root, "sys/class/net", name)
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "ifindex"), []byte(index+"\n"), 0o644))
		if hardware {
			must(t, os.MkdirAll(filepath.Join(dir, "device"), 0o755))
		}
	}
	nic("lo", "1", false)
	nic("ens19", "3", true)
	nic("ens18", "2", true)
	nic("enbr0", "4", false)
	for _, z := range []string{"Europe/Rome", "Etc/UTC"} {
		writeFile(t, filepath.Join(root, ZoneinfoDir, z), "TZif")
	}
	writeFile(t, filepath.Join(root, FallbackNetworkPath), "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n")
	must(t, os.Symlink("/usr/share/zoneinfo/Etc/UTC", filepath.Join(root, LocaltimePath)))
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(content), 0o644))
}

func slurp(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return string(b)
}

func static() Settings {
	return Settings{Timezone: "Europe/Rome", NTPServers: []string{"ntp.comune.local", "10.20.0.3"},
		Network: &Network{Mode: Static, Address: "10.20.0.5/24", Gateway: "10.20.0.1", DNS: []string{"10.20.0.2", "10.20.0.3"}}}
}

func TestApplyWritesZoneTimeServersAndStaticAddressOnTheFirstNIC(t *testing.T) {
	root := fakeRoot(t)
	a := &Applier{Root: root}
	changed, err := a.Apply(context.Background(), static())
	must(t, err)
	if len(changed) != 3 {
		t.Fatalf("changed %q, want zone, time servers and network", changed)
	}
	if l, _ := os.Readlink(filepath.Join(root, LocaltimePath)); l != "/usr/share/zoneinfo/Europe/Rome" {
		t.Errorf("/etc/localtime -> %q", l)
	}
	if got := slurp(t, filepath.Join(root, TimezonePath)); got != "Europe/Rome\n" {
		t.Errorf("/etc/timezone %q", got)
	}
	if got := slurp(t, filepath.Join(root, ChronyPath)); got != header+"server ntp.comune.local iburst\nserver 10.20.0.3 iburst\n" {
		t.Errorf("chrony sources:\n%s", got)
	}
	want := header + `[Match]
Name=ens18

[Network]
DHCP=no
Address=10.20.0.5/24
Gateway=10.20.0.1
DNS=10.20.0.2
DNS=10.20.0.3
`
	if got := slurp(t, filepath.Join(root, NetworkPath)); got != want {
		t.Errorf("network file:\n%s\nwant:\n%s", got, want)
	}

	// Idempotent: the second run changes nothing and touches no file.
	before, _ := os.Stat(filepath.Join(root, NetworkPath))
	changed, err = a.Apply(context.Background(), static())
	must(t, err)
	if len(changed) != 0 {
		t.Errorf("second run changed %q", changed)
	}
	if after, _ := os.Stat(filepath.Join(root, NetworkPath)); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the network file was rewritten with the same content")
	}
	if _, err := os.Stat(filepath.Join(root, NetworkPath+".bak")); err == nil {
		t.Error("a .bak without a previous file")
	}
}

func TestBackToDHCPKeepsTheStaticFileAsBackupAndNoServersMeansDebiansPool(t *testing.T) {
	root := fakeRoot(t)
	a := &Applier{Root: root}
	_, err := a.Apply(context.Background(), static())
	must(t, err)
	static := slurp(t, filepath.Join(root, NetworkPath))

	changed, err := a.Apply(context.Background(), Settings{Network: &Network{Mode: DHCP}})
	must(t, err)
	if !slices.Equal(changed, []string{"time servers: Debian's pool", "network: DHCP"}) {
		t.Errorf("changed %q", changed)
	}
	// DHCP is the base image's fallback: our file goes.
	if _, err := os.Stat(filepath.Join(root, NetworkPath)); !os.IsNotExist(err) {
		t.Errorf("10-avanti.network stays with DHCP: %v", err)
	}
	if got := slurp(t, filepath.Join(root, NetworkPath+".bak")); got != static {
		t.Errorf(".bak:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(root, ChronyPath)); !os.IsNotExist(err) {
		t.Errorf("the sources file stays: %v", err)
	}
	// No time zone: the system's stays.
	if l, _ := os.Readlink(filepath.Join(root, LocaltimePath)); l != "/usr/share/zoneinfo/Europe/Rome" {
		t.Errorf("/etc/localtime -> %q", l)
	}
}

func TestDHCPWithoutTheBaseImagesFallbackWritesItsOwnFile(t *testing.T) {
	root := fakeRoot(t)
	must(t, os.Remove(filepath.Join(root, FallbackNetworkPath)))
	_, err := (&Applier{Root: root}).Apply(context.Background(), Settings{Network: &Network{Mode: DHCP}})
	must(t, err)
	if got := slurp(t, filepath.Join(root, NetworkPath)); got != header+"[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n" {
		t.Errorf("DHCP file:\n%s", got)
	}
}

func TestAZoneMissingFromTheSystemWritesNothing(t *testing.T) {
	root := fakeRoot(t)
	s := static()
	s.Timezone = "America/Sao_Paulo" // in the binary's tzdata, not in the fake system's
	if _, err := (&Applier{Root: root}).Apply(context.Background(), s); err == nil || !strings.Contains(err.Error(), "America/Sao_Paulo") {
		t.Fatalf("err %v", err)
	}
	for _, p := range []string{ChronyPath, NetworkPath, TimezonePath} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s written", p)
		}
	}
}

func TestCommandsRunOnlyForWhatChanged(t *testing.T) {
	root := fakeRoot(t)
	var ran []string
	a := &Applier{Root: root, Run: func(_ context.Context, name string, args ...string) error {
		ran = append(ran, name+" "+strings.Join(args, " "))
		return nil
	}, HasAddress: func(string, netip.Addr) bool { return true }, CheckFor: time.Second}
	_, err := a.Apply(context.Background(), static())
	must(t, err)
	want := []string{
		"systemctl is-active --quiet chrony.service", "chronyc reload sources",
		"systemctl is-active --quiet systemd-networkd.service", "networkctl reload", "networkctl reconfigure ens18",
		// the address is up: the server makes a certificate naming it
		"systemctl is-active --quiet avanti.service", "systemctl try-restart avanti.service",
	}
	if !slices.Equal(ran, want) {
		t.Errorf("ran %q\nwant %q", ran, want)
	}
	ran = nil
	_, err = a.Apply(context.Background(), static())
	must(t, err)
	if len(ran) != 0 {
		t.Errorf("nothing changed, yet ran %q", ran)
	}
}

func TestAStaticAddressThatNeverAppearsIsRolledBack(t *testing.T) {
	root := fakeRoot(t)
	prev := header + "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"
	writeFile(t, filepath.Join(root, NetworkPath), prev)
	a := &Applier{Root: root, Run: func(context.Context, string, ...string) error { return nil },
		HasAddress: func(string, netip.Addr) bool { return false }, CheckFor: 10 * time.Millisecond}
	_, err := a.Apply(context.Background(), static())
	if err == nil || !strings.Contains(err.Error(), "previous network settings restored") {
		t.Fatalf("err %v", err)
	}
	if got := slurp(t, filepath.Join(root, NetworkPath)); got != prev {
		t.Errorf("after the rollback:\n%s", got)
	}
}

func TestNothingInTheFileCanAddALineToAConfigFile(t *testing.T) {
	for name, s := range map[string]Settings{
		"ntp newline":       {NTPServers: []string{"ntp.local\nserver evil.example iburst"}},
		"ntp space":         {NTPServers: []string{"ntp.local iburst"}},
		"ntp empty":         {NTPServers: []string{""}},
		"ntp underscore":    {NTPServers: []string{"ntp_1.local"}},
		"zone path":         {Timezone: "../../../etc/shadow"},
		"zone unknown":      {Timezone: "Mars/Olympus_Mons"},
		"zone Local":        {Timezone: "Local"},
		"zone newline":      {Timezone: "Europe/Rome\n"},
		"mode":              {Network: &Network{Mode: "manual"}},
		"address newline":   {Network: &Network{Mode: Static, Address: "10.0.0.5/24\nDNS=1.1.1.1", Gateway: "10.0.0.1"}},
		"address no prefix": {Network: &Network{Mode: Static, Address: "10.0.0.5", Gateway: "10.0.0.1"}},
		"address network":   {Network: &Network{Mode: Static, Address: "10.0.0.0/24", Gateway: "10.0.0.1"}},
		"gateway elsewhere": {Network: &Network{Mode: Static, Address: "10.0.0.5/24", Gateway: "10.1.0.1"}},
		"gateway missing":   {Network: &Network{Mode: Static, Address: "10.0.0.5/24"}},
		"dns newline":       {Network: &Network{Mode: Static, Address: "10.0.0.5/24", Gateway: "10.0.0.1", DNS: []string{"10.0.0.2\n"}}},
		"dns name":          {Network: &Network{Mode: Static, Address: "10.0.0.5/24", Gateway: "10.0.0.1", DNS: []string{"dns.local"}}},
		"dhcp with junk":    {Network: &Network{Mode: DHCP, Gateway: "[Match]"}},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, s := range map[string]Settings{
		"ipv6":         {NTPServers: []string{"2001:db8::123"}, Network: &Network{Mode: Static, Address: "2001:db8::5/64", Gateway: "fe80::1"}},
		"utc":          {Timezone: "UTC"},
		"dhcp":         {Network: &Network{Mode: DHCP}},
		"trailing dot": {NTPServers: []string{"ntp.comune.local."}},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLoadSaysWhatIsWrongWithTheFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "system.json")
	for content, want := range map[string]string{
		`{"ntp_servers": [`:                          "not valid JSON",
		`{"timezone": 5}`:                            "timezone",
		`{"network": {"mode": "static"}}`:            "network.address",
		`{"ntp_servers": ["a.local", "b c"]}`:        "ntp_servers[1]",
		`{"timezone": "Europe/Rome", "extra": true}`: "",
	} {
		writeFile(t, file, content)
		_, err := Load(file)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", content, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file)):
			t.Errorf("%s: err %v, want one naming the file and %q", content, err, want)
		}
	}
	// A link the avanti user could point at a root-only file is not read.
	link := filepath.Join(dir, "link.json")
	must(t, os.Symlink(file, link))
	if _, err := Load(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("symlink: %v", err)
	}
}

func TestUpdateKeepsOtherKeysAndIsAllOrNothing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "system", "system.json")
	writeFile(t, file, `{"timezone": "Europe/Rome", "ntp_servers": ["ntp.local"], "future_key": {"x": 1}}`)
	_, err := Update(file, func(s *Settings) error {
		s.Network = &Network{Mode: Static, Address: "10.0.0.5/24", Gateway: "10.0.0.1"}
		return nil
	})
	must(t, err)
	var got map[string]any
	must(t, json.Unmarshal([]byte(slurp(t, file)), &got))
	if got["timezone"] != "Europe/Rome" || got["future_key"] == nil || got["network"].(map[string]any)["address"] != "10.0.0.5/24" {
		t.Errorf("after update: %v", got)
	}
	before := slurp(t, file)
	if _, err := Update(file, func(s *Settings) error { s.Network.Gateway = "10.9.9.9"; return nil }); err == nil {
		t.Fatal("a gateway outside the network was written")
	}
	if slurp(t, file) != before {
		t.Error("a refused update changed the file")
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}

	// A directory swapped for a link elsewhere is not written through.
	elsewhere := t.TempDir()
	linked := filepath.Join(t.TempDir(), "system")
	must(t, os.Symlink(elsewhere, linked))
	if _, err := Update(filepath.Join(linked, "system.json"), func(*Settings) error { return nil }); err == nil {
		t.Error("written through a link")
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("written through a link: %v", entries)
	}
}

func TestTheConsoleWritingAsRootLeavesTheFileTheAvantiUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand files to another user")
	}
	data := t.TempDir()
	const avanti = 4242 // the avanti user owns the data directory
	must(t, os.Chown(data, avanti, avanti))
	file := filepath.Join(data, "system", "system.json")
	_, err := Update(file, func(s *Settings) error { s.NTPServers = []string{"ntp.comune.local"}; return nil })
	must(t, err)
	for _, p := range []string{filepath.Dir(file), file} {
		if uid, gid := owner(p); uid != avanti || gid != avanti {
			t.Errorf("%s owned by %d:%d", p, uid, gid)
		}
	}
}
