package maint

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestRecordingIsAsciicastV2AndKeepsCharactersWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec", "s.cast")
	r, err := newRecorder(path, castHeader{Width: 100, Height: 30, Timestamp: 1780000000, Command: "shell", Env: map[string]string{"TERM": "xterm"}})
	if err != nil {
		t.Fatal(err)
	}
	// "è" is two bytes, cut across two writes.
	r.Write([]byte("perch\xc3"))
	r.Write([]byte("\xa8 no?\r\n"))
	r.Resize(120, 40)
	r.Write([]byte("fine\xe2\x82")) // "€" cut short at the end
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := newRecorder(path, castHeader{}); err == nil {
		t.Fatal("a recording was overwritten")
	}

	f, _ := os.Open(path)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	var h castHeader
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil || h.Version != 2 || h.Width != 100 || h.Height != 30 || h.Timestamp != 1780000000 {
		t.Fatalf("header %s: %v", lines[0], err)
	}
	var out, kinds []string
	for _, l := range lines[1:] {
		var ev [3]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("event %s: %v", l, err)
		}
		kinds = append(kinds, ev[1].(string))
		out = append(out, ev[2].(string))
	}
	if got := strings.Join(kinds, ","); got != "o,o,r,o,o" {
		t.Fatalf("event kinds %s in %q", got, lines)
	}
	if out[0] != "perch" || out[1] != "è no?\r\n" || out[2] != "120x40" || out[3] != "fine" || out[4] != "\ufffd\ufffd" {
		t.Fatalf("events %q", out)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
}

func TestApplianceKeyIsMadeOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "maint")
	line, err := PublicKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "ssh-ed25519 AAAA") || !strings.Contains(line, " avanti-appliance@") {
		t.Fatalf("public key %q", line)
	}
	s, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := PublicKey(dir)
	if again != line || !strings.HasPrefix(line, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))) {
		t.Fatalf("the key changed: %q then %q", line, again)
	}
	for name, mode := range map[string]os.FileMode{privateKeyFile: 0o600, publicKeyFile: 0o644} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v", name, fi.Mode(), err)
		}
	}
	fp, err := Fingerprint(line)
	if err != nil || !strings.HasPrefix(fp, "SHA256:") {
		t.Fatalf("fingerprint %q %v", fp, err)
	}
}

func TestConfigValidateNamesWhatIsMissing(t *testing.T) {
	err := Config{BastionHost: "bastion.vendor.example", BastionHostKey: "nonsense", AuthorizedKeys: []string{`from="1.2.3.4" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBoM9YtyP/CN5mY1hkT6kwlEjU04tYSPVhEFl0z3q93d`}}.Defaults().Validate()
	for _, want := range []string{"key_dir", "record_dir", "bastion_user", "remote_port", "bastion_host_key", "options"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not complain about %s: %v", want, err)
		}
	}
	if err := (Config{KeyDir: "/k"}).Defaults().Validate(); err == nil || !strings.Contains(err.Error(), "nothing to do") {
		t.Errorf("empty config: %v", err)
	}
}
