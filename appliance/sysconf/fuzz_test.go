package sysconf

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The avanti user writes system.json; root turns it into files of the
// system. Whatever the file says, what root writes is only lines of the
// expected form: no value can add a line (a second [Network] section, a
// chrony directive) to a system file.
var (
	chronyLine  = regexp.MustCompile(`^server [0-9A-Za-z.:-]+ iburst$`)
	networkLine = regexp.MustCompile(`^(\[Match\]|\[Network\]|Name=(en\* eth\*|[a-z0-9]+)|DHCP=(yes|no)|Address=[0-9a-fA-F.:/]+|Gateway=[0-9a-fA-F.:]+|DNS=[0-9a-fA-F.:]+)$`)
)

func FuzzSettingsFile(f *testing.F) {
	for _, seed := range []string{
		`{"timezone":"Europe/Rome","ntp_servers":["ntp1.inrim.it","10.0.0.1"],"network":{"mode":"static","address":"10.0.0.5/24","gateway":"10.0.0.1","dns":["10.0.0.2"]}}`,
		`{"network":{"mode":"dhcp"}}`,
		`{"ntp_servers":["a\nserver evil iburst"]}`,
		`{"network":{"mode":"static","address":"10.0.0.5/24\n[Network]","gateway":"10.0.0.1"}}`,
		`{"timezone":"../../etc/passwd"}`,
		`{"network":{"mode":"static","address":"fd00::5/64","gateway":"fd00::1","dns":["fd00::53"]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Settings
		if json.Unmarshal(data, &s) != nil || s.Validate() != nil {
			return
		}
		root := t.TempDir()
		if s.Timezone != "" {
			// The zone exists in the binary's tzdata (Validate): give the
			// root a file for it, as Debian's tzdata would.
			zone := filepath.Join(root, ZoneinfoDir, s.Timezone)
			if !strings.HasPrefix(zone, filepath.Join(root, ZoneinfoDir)+"/") {
				t.Fatalf("valid time zone %q escapes the zoneinfo directory", s.Timezone)
			}
			os.MkdirAll(filepath.Dir(zone), 0o755)
			os.WriteFile(zone, []byte("TZif"), 0o644)
		}
		if _, err := (&Applier{Root: root}).Apply(context.Background(), s); err != nil {
			t.Fatalf("valid settings %s not applied: %v", data, err)
		}
		check := func(path string, line *regexp.Regexp) {
			b, err := os.ReadFile(filepath.Join(root, path))
			if err != nil {
				return
			}
			for _, l := range strings.Split(string(b), "\n") {
				if l == "" || strings.HasPrefix(l, "#") {
					continue
				}
				if !line.MatchString(l) {
					t.Fatalf("settings %s wrote the line %q into %s", data, l, path)
				}
			}
		}
		check(ChronyPath, chronyLine)
		check(NetworkPath, networkLine)
		if s.Timezone != "" {
			b, _ := os.ReadFile(filepath.Join(root, TimezonePath))
			if strings.Count(strings.TrimSuffix(string(b), "\n"), "\n") != 0 {
				t.Fatalf("settings %s wrote more than one line into %s: %q", data, TimezonePath, b)
			}
		}
	})
}
