package maint_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"avanti/appliance/maint"
	"avanti/appliance/sshdtest"
)

var window = &maint.Window{
	ID: 42, OpenedBy: "admin@comune.crema.it", Reason: "call monitor\nfreezes",
	From:  time.Date(2026, 5, 28, 18, 0, 0, 0, time.UTC),
	Until: time.Date(2026, 5, 28, 20, 26, 40, 0, time.UTC), // 1780000000
}

func TestNftablesAllowSSHOnlyFromTheSourceWhileAWindowIsOpen(t *testing.T) {
	in := maint.Inbound{SourceAddress: "203.0.113.7"}
	open, err := maint.NftablesRules(in, window)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"table inet avanti_maint\ndelete table inet avanti_maint\n",
		"type filter hook input priority filter - 10; policy accept;",
		"tcp dport 22 ip saddr 203.0.113.7 meta time < 1780000000 accept\n\t\ttcp dport 22 drop\n",
		"# maintenance window 42 open until 2026-05-28T20:26:40Z (opened by admin@comune.crema.it: call monitor freezes).",
	} {
		if !strings.Contains(open, want) {
			t.Errorf("open ruleset lacks %q:\n%s", want, open)
		}
	}
	closed, err := maint.NftablesRules(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(closed, "saddr") || !strings.Contains(closed, "\t\ttcp dport 22 drop\n") || !strings.Contains(closed, "no maintenance window is open") {
		t.Errorf("closed ruleset:\n%s", closed)
	}

	v6, err := maint.NftablesRules(maint.Inbound{SourceAddress: "2001:db8:1::/48", Port: 2222}, window)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v6, "tcp dport 2222 ip6 saddr 2001:db8:1::/48 meta time < 1780000000 accept\n\t\ttcp dport 2222 drop\n") {
		t.Errorf("IPv6 prefix:\n%s", v6)
	}
	for _, bad := range []string{"", "0.0.0.0/0", "evil.example.com", "1.2.3.4; flush ruleset"} {
		if _, err := maint.NftablesRules(maint.Inbound{SourceAddress: bad}, window); err == nil {
			t.Errorf("source %q accepted", bad)
		}
	}

	// nft itself reads both (check mode: nothing is loaded), where it is
	// installed; the image has it.
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Log("nft not installed: syntax not checked by nft")
		return
	}
	for name, rules := range map[string]string{"open": open, "closed": closed, "v6": v6} {
		path := filepath.Join(t.TempDir(), name+".nft")
		os.WriteFile(path, []byte(rules), 0o644)
		if out, err := exec.Command(nft, "-c", "-f", path).CombinedOutput(); err != nil {
			t.Errorf("nft -c %s: %v\n%s\n%s", name, err, out, rules)
		}
	}
}

// effective asks sshd what it would apply to a connection (sshd -T -C):
// the snippet is included first, as Debian's sshd_config does, before a
// main configuration that allows passwords.
func effective(t *testing.T, snippet, user, addr string) map[string]string {
	t.Helper()
	if _, err := os.Stat(sshdtest.SSHDPath); err != nil {
		t.Fatal(sshdtest.ErrNotInstalled)
	}
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	os.WriteFile(filepath.Join(dir, "hostkey"), pem.EncodeToMemory(block), 0o600)
	os.WriteFile(filepath.Join(dir, "05-avanti-maint.conf"), []byte(snippet), 0o644)
	conf := fmt.Sprintf("Include %s/*.conf\nHostKey %s/hostkey\nPasswordAuthentication yes\nKbdInteractiveAuthentication yes\n", dir, dir)
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o644)
	out, err := exec.Command(sshdtest.SSHDPath, "-T", "-f", filepath.Join(dir, "sshd_config"),
		"-C", "user="+user+",host=client.example,addr="+addr).CombinedOutput()
	if err != nil {
		t.Fatalf("sshd -T: %v\n%s\n%s", err, out, snippet)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			m[k] = v
		}
	}
	return m
}

func TestSSHDMatchAllowsKeysOnlyFromTheSourceWhileAWindowIsOpen(t *testing.T) {
	in := maint.Inbound{SourceAddress: "203.0.113.0/28", AuthorizedKeysFile: "/etc/avanti/maint/authorized_keys"}
	open, err := maint.SSHDMatch(in, window)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(open, "Match Address 203.0.113.0/28\n\tPubkeyAuthentication yes\n\tAuthenticationMethods publickey\n") ||
		!strings.Contains(open, "Match all\n\tPubkeyAuthentication no\n") {
		t.Fatalf("open snippet:\n%s", open)
	}
	closed, err := maint.SSHDMatch(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(closed, "Address") || !strings.Contains(closed, "Match all\n") {
		t.Fatalf("closed snippet:\n%s", closed)
	}

	from := effective(t, open, "support", "203.0.113.9")
	if from["pubkeyauthentication"] != "yes" || from["authenticationmethods"] != "publickey" ||
		from["passwordauthentication"] != "no" || from["kbdinteractiveauthentication"] != "no" ||
		from["authorizedkeysfile"] != "/etc/avanti/maint/authorized_keys" {
		t.Errorf("from the source during the window: %v", pick(from))
	}
	for name, m := range map[string]map[string]string{
		"another address during the window": effective(t, open, "support", "198.51.100.1"),
		"the source with no window":         effective(t, closed, "support", "203.0.113.9"),
	} {
		if m["pubkeyauthentication"] != "no" || m["passwordauthentication"] != "no" || m["kbdinteractiveauthentication"] != "no" {
			t.Errorf("%s: %v", name, pick(m))
		}
	}

	// With a user, other accounts are left to the rest of the configuration.
	in.User = "avanti-support"
	open, err = maint.SSHDMatch(in, window)
	if err != nil {
		t.Fatal(err)
	}
	if m := effective(t, open, "avanti-support", "203.0.113.9"); m["pubkeyauthentication"] != "yes" {
		t.Errorf("the vendor's account from the source: %v", pick(m))
	}
	if m := effective(t, open, "avanti-support", "198.51.100.1"); m["pubkeyauthentication"] != "no" {
		t.Errorf("the vendor's account from elsewhere: %v", pick(m))
	}
	if m := effective(t, open, "operator", "198.51.100.1"); m["passwordauthentication"] != "yes" {
		t.Errorf("another account: %v", pick(m))
	}
	if _, err := maint.SSHDMatch(maint.Inbound{SourceAddress: "203.0.113.7", User: "x\nMatch all"}, window); err == nil {
		t.Error("a user name with a newline accepted")
	}
}

func pick(m map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"pubkeyauthentication", "passwordauthentication", "kbdinteractiveauthentication", "authenticationmethods", "authorizedkeysfile"} {
		out[k] = m[k]
	}
	return out
}

func TestAgentWritesTheInboundFilesWhenAWindowOpensAndCloses(t *testing.T) {
	dir := t.TempDir()
	in := maint.Inbound{
		Enabled:       true,
		SourceAddress: "203.0.113.7",
		NftablesFile:  filepath.Join(dir, "nftables.d", "avanti-maint.nft"),
		SSHDFile:      filepath.Join(dir, "sshd_config.d", "05-avanti-maint.conf"),
	}
	var mu sync.Mutex
	reloads := 0
	src := &windows{}
	a := &maint.Agent{
		Config:  maint.Config{KeyDir: filepath.Join(dir, "key"), Inbound: in, Poll: 100 * time.Millisecond},
		Windows: src,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Reload: func(ctx context.Context) error {
			mu.Lock()
			reloads++
			mu.Unlock()
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()

	waitFile := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never held %q; it holds:\n%s", path, want, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFile(in.NftablesFile, "no maintenance window is open")
	waitFile(in.SSHDFile, "no maintenance window is open")

	now := time.Now()
	src.set(&maint.Window{ID: 5, OpenedBy: "admin", Reason: "upgrade", From: now.Add(-time.Minute), Until: now.Add(time.Hour)})
	a.Wake()
	waitFile(in.NftablesFile, fmt.Sprintf("ip saddr 203.0.113.7 meta time < %d accept", now.Add(time.Hour).Unix()))
	waitFile(in.SSHDFile, "Match Address 203.0.113.7\n")

	src.set(nil)
	a.Wake()
	waitFile(in.NftablesFile, "no maintenance window is open")
	waitFile(in.SSHDFile, "no maintenance window is open")

	time.Sleep(300 * time.Millisecond) // polls with nothing new reload nothing
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if reloads != 3 {
		t.Fatalf("%d reloads, want 3 (closed, open, closed)", reloads)
	}
}
