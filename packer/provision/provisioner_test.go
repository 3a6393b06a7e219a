package provision

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// fakeComm stands in for Packer's communicator: it records every command
// and upload and answers commands through handle.
type fakeComm struct {
	mu       sync.Mutex
	commands []string
	uploads  map[string][]byte
	handle   func(ctx context.Context, command string) (output string, status int)
}

func (c *fakeComm) Start(ctx context.Context, rc *packersdk.RemoteCmd) error {
	c.mu.Lock()
	c.commands = append(c.commands, rc.Command)
	c.mu.Unlock()
	go func() {
		out, status := "", 0
		if c.handle != nil {
			out, status = c.handle(ctx, rc.Command)
		}
		if out != "" && rc.Stdout != nil {
			io.WriteString(rc.Stdout, out)
		}
		rc.SetExited(status)
	}()
	return nil
}

func (c *fakeComm) Upload(path string, r io.Reader, fi *os.FileInfo) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.uploads == nil {
		c.uploads = map[string][]byte{}
	}
	c.uploads[path] = b
	return nil
}

func (c *fakeComm) UploadDir(string, string, []string) error { return errors.New("not used") }
func (c *fakeComm) Download(string, io.Writer) error         { return errors.New("not used") }
func (c *fakeComm) DownloadDir(string, string, []string) error {
	return errors.New("not used")
}

func (c *fakeComm) commandsMatching(substr string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, cmd := range c.commands {
		if strings.Contains(cmd, substr) {
			out = append(out, cmd)
		}
	}
	return out
}

// fixture makes a binary and a bundle with setup.sh and a nested file.
func fixture(t *testing.T) (binary, bundle string) {
	t.Helper()
	dir := t.TempDir()
	binary = filepath.Join(dir, "avanti")
	bundle = filepath.Join(dir, "provisioning")
	must(t, os.WriteFile(binary, []byte("#!/bin/sh\necho avanti\n"), 0o755))
	must(t, os.MkdirAll(filepath.Join(bundle, "systemd"), 0o755))
	must(t, os.WriteFile(filepath.Join(bundle, "setup.sh"), []byte("#!/bin/sh\necho setting up\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(bundle, "systemd", "avanti.service"), []byte("[Unit]\n"), 0o644))
	return binary, bundle
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func prepared(t *testing.T, extra map[string]interface{}) *Provisioner {
	t.Helper()
	binary, bundle := fixture(t)
	raw := map[string]interface{}{"binary": binary, "bundle": bundle}
	for k, v := range extra {
		raw[k] = v
	}
	p := new(Provisioner)
	if err := p.Prepare(raw); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return p
}

func TestPrepareFillsDefaults(t *testing.T) {
	p := prepared(t, nil)
	c := p.config
	if c.RemoteDir != DefaultRemoteDir || c.HealthURL != DefaultHealthURL ||
		c.HealthTimeout != DefaultHealthTimeout || c.HealthInterval != DefaultHealthInterval ||
		c.ExecuteCommand != DefaultExecuteCommand {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestPrepareReadsDurationsAsHCLWritesThem(t *testing.T) {
	p := prepared(t, map[string]interface{}{"health_timeout": "90s", "health_interval": "500ms"})
	if p.config.HealthTimeout != 90*time.Second || p.config.HealthInterval != 500*time.Millisecond {
		t.Errorf("timeout %s interval %s", p.config.HealthTimeout, p.config.HealthInterval)
	}
}

func TestPrepareRejectsBadConfig(t *testing.T) {
	binary, bundle := fixture(t)
	noSetup := t.TempDir()
	cases := []struct {
		name string
		raw  map[string]interface{}
		want string
	}{
		{"no binary", map[string]interface{}{"bundle": bundle}, "binary: the path"},
		{"missing binary", map[string]interface{}{"binary": binary + ".gone", "bundle": bundle}, "binary:"},
		{"binary is a directory", map[string]interface{}{"binary": bundle, "bundle": bundle}, "not a regular file"},
		{"no bundle", map[string]interface{}{"binary": binary}, "bundle: the path"},
		{"bundle is a file", map[string]interface{}{"binary": binary, "bundle": binary}, "not a directory"},
		{"bundle without setup.sh", map[string]interface{}{"binary": binary, "bundle": noSetup}, "has no setup.sh"},
		{"relative remote_dir", map[string]interface{}{"binary": binary, "bundle": bundle, "remote_dir": "tmp/x"}, "remote_dir"},
		{"root remote_dir", map[string]interface{}{"binary": binary, "bundle": bundle, "remote_dir": "/"}, "remote_dir"},
		{"not a URL", map[string]interface{}{"binary": binary, "bundle": bundle, "health_url": "127.0.0.1/healthz"}, "health_url"},
		{"negative timeout", map[string]interface{}{"binary": binary, "bundle": bundle, "health_timeout": "-1s"}, "health_timeout"},
		{"broken execute_command", map[string]interface{}{"binary": binary, "bundle": bundle, "execute_command": "{{.Path"}, "execute_command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := new(Provisioner).Prepare(tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Prepare = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestProvisionUploadsRunsSetupAndChecksHealth(t *testing.T) {
	p := prepared(t, map[string]interface{}{"health_interval": "10ms"})
	probes := 0
	comm := &fakeComm{handle: func(_ context.Context, cmd string) (string, int) {
		if strings.Contains(cmd, "curl") {
			probes++
			if probes < 3 {
				return "curl: (7) Failed to connect", 7
			}
		}
		return "", 0
	}}
	if err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil); err != nil {
		t.Fatalf("Provision: %v", err)
	}

	if got := string(comm.uploads["/tmp/avanti-provisioning/avanti"]); got != "#!/bin/sh\necho avanti\n" {
		t.Errorf("binary upload = %q", got)
	}
	files := untar(t, comm.uploads["/tmp/avanti-provisioning.tar"])
	if h, ok := files["setup.sh"]; !ok || h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Errorf("setup.sh in the bundle tar: %+v", h)
	}
	if _, ok := files["systemd/avanti.service"]; !ok {
		t.Errorf("bundle tar lacks systemd/avanti.service: %v", files)
	}

	setup := comm.commandsMatching("/setup.sh")
	want := `if [ "$(id -u)" -eq 0 ]; then env AVANTI_BINARY='/tmp/avanti-provisioning/avanti' ` +
		`AVANTI_BUNDLE='/tmp/avanti-provisioning' sh '/tmp/avanti-provisioning/setup.sh'; ` +
		`else sudo -n env AVANTI_BINARY='/tmp/avanti-provisioning/avanti' ` +
		`AVANTI_BUNDLE='/tmp/avanti-provisioning' sh '/tmp/avanti-provisioning/setup.sh'; fi`
	if len(setup) != 1 || setup[0] != want {
		t.Errorf("setup command = %q\nwant %q", setup, want)
	}
	if probes != 3 {
		t.Errorf("%d health probes, want 3 (two refused, one answered)", probes)
	}
	if got := comm.commandsMatching("https://127.0.0.1/healthz"); len(got) == 0 || !strings.Contains(got[0], "curl -fsSk") {
		t.Errorf("health probe = %q", got)
	}
	// Order: prepare, unpack, chmod, setup, probes, finish, clean up.
	order := []string{"mkdir -p", "tar -xf", "chmod 0755", "setup.sh", "healthz", "finish.sh", "rm -rf '/tmp/avanti-provisioning'"}
	last := -1
	for _, step := range order {
		i := indexOf(comm.commands, step, last+1)
		if i < 0 {
			t.Fatalf("step %q missing or out of order in %q", step, comm.commands)
		}
		last = i
	}
}

func TestProvisionFailsWhenSetupFails(t *testing.T) {
	p := prepared(t, nil)
	comm := &fakeComm{handle: func(_ context.Context, cmd string) (string, int) {
		if strings.Contains(cmd, "setup.sh") {
			return "apt-get: no network\n", 100
		}
		return "", 0
	}}
	err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil)
	if err == nil || !strings.Contains(err.Error(), "status 100") {
		t.Fatalf("Provision = %v, want setup.sh's exit status", err)
	}
	if len(comm.commandsMatching("healthz")) != 0 {
		t.Error("probed health after a failed setup")
	}
	if len(comm.commandsMatching("systemctl --no-pager --failed")) != 1 {
		t.Error("no diagnosis after the failed setup")
	}
}

func TestProvisionFailsWhenTheApplianceNeverAnswers(t *testing.T) {
	p := prepared(t, map[string]interface{}{"health_timeout": "300ms", "health_interval": "20ms"})
	comm := &fakeComm{handle: func(_ context.Context, cmd string) (string, int) {
		if strings.Contains(cmd, "healthz") {
			return "curl: (22) The requested URL returned error: 503", 22
		}
		return "", 0
	}}
	start := time.Now()
	err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil)
	if err == nil || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Provision = %v, want a health failure quoting the last answer", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s for a 300ms timeout", d)
	}
	if len(comm.commandsMatching("systemctl")) != 1 {
		t.Error("no diagnosis after the failed health check")
	}
	if len(comm.commandsMatching("finish.sh")) != 0 {
		t.Error("sealed the image of an unhealthy appliance")
	}
	// Only the preparing rm: after a failure the bundle stays for a look.
	if n := len(comm.commandsMatching("rm -rf '/tmp/avanti-provisioning'")); n != 1 {
		t.Errorf("%d rm commands, want only the preparing one", n)
	}
}

func TestProvisionTimesOutOnAHungProbe(t *testing.T) {
	p := prepared(t, map[string]interface{}{"health_timeout": "300ms"})
	release := make(chan struct{})
	defer close(release)
	comm := &fakeComm{handle: func(ctx context.Context, cmd string) (string, int) {
		if strings.Contains(cmd, "healthz") {
			<-release // a probe that never comes back
			return "", 0
		}
		return "", 0
	}}
	start := time.Now()
	err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil)
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("Provision = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s for a 300ms timeout", d)
	}
}

func TestProvisionStopsWhenCancelled(t *testing.T) {
	p := prepared(t, map[string]interface{}{"health_interval": "10ms"})
	ctx, cancel := context.WithCancel(context.Background())
	comm := &fakeComm{handle: func(_ context.Context, cmd string) (string, int) {
		if strings.Contains(cmd, "healthz") {
			cancel()
			return "", 7
		}
		return "", 0
	}}
	err := p.Provision(ctx, packersdk.TestUi(t), comm, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Provision = %v, want context.Canceled", err)
	}
}

// TestProvisionAgainstALocalShell runs the real commands with sh on this
// machine, remote_dir in a temp directory, and the health check against a
// local HTTPS server with a self-signed certificate.
func TestProvisionAgainstALocalShell(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if _, err := exec.LookPath("wget"); err != nil {
			t.Skip("neither curl nor wget")
		}
	}
	healthy := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-healthy:
			fmt.Fprintln(w, `{"status":"ok"}`)
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	binary, bundle := fixture(t)
	remote := filepath.Join(t.TempDir(), "remote")
	marker := filepath.Join(t.TempDir(), "setup-ran")
	must(t, os.WriteFile(filepath.Join(bundle, "setup.sh"), []byte(`set -eu
test -x "$AVANTI_BINARY"
test -f "$AVANTI_BUNDLE/systemd/avanti.service"
"$AVANTI_BINARY" > `+marker+`
`), 0o755))
	sealed := filepath.Join(t.TempDir(), "finish-ran")
	must(t, os.WriteFile(filepath.Join(bundle, "finish.sh"), []byte("set -eu\necho sealed > "+sealed+"\n"), 0o755))
	p := new(Provisioner)
	must(t, p.Prepare(map[string]interface{}{
		"binary": binary, "bundle": bundle, "remote_dir": remote,
		"execute_command": "env {{.Vars}} sh {{.Path}}",
		"health_url":      srv.URL + "/healthz", "health_timeout": "20s", "health_interval": "50ms",
	}))
	probes := 0
	comm := &localComm{onCommand: func(cmd string) {
		if strings.Contains(cmd, "healthz") {
			if probes++; probes == 3 {
				close(healthy) // answer from the third probe on
			}
		}
	}}
	if err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if probes != 3 {
		t.Errorf("%d probes, want 3", probes)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "avanti\n" {
		t.Errorf("setup.sh did not run the uploaded binary: %q %v", b, err)
	}
	if b, err := os.ReadFile(sealed); err != nil || string(b) != "sealed\n" {
		t.Errorf("finish.sh did not run: %q %v", b, err)
	}
	if _, err := os.Stat(remote); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", remote, err)
	}
}

func TestProvisionFailsWhenFinishFails(t *testing.T) {
	p := prepared(t, nil)
	comm := &fakeComm{handle: func(_ context.Context, cmd string) (string, int) {
		if strings.Contains(cmd, "finish.sh") {
			return "", 1
		}
		return "", 0
	}}
	err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil)
	if err == nil || !strings.Contains(err.Error(), "finish.sh") {
		t.Fatalf("Provision = %v, want finish.sh's failure", err)
	}
}

// localComm runs commands with sh -c on this machine and uploads by copying.
type localComm struct {
	onCommand func(string)
}

func (c *localComm) Start(ctx context.Context, rc *packersdk.RemoteCmd) error {
	if c.onCommand != nil {
		c.onCommand(rc.Command)
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", rc.Command)
	cmd.Stdout, cmd.Stderr = rc.Stdout, rc.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		status := 0
		if err := cmd.Wait(); err != nil {
			status = 1
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() > 0 {
				status = ee.ExitCode()
			}
		}
		rc.SetExited(status)
	}()
	return nil
}

func (c *localComm) Upload(path string, r io.Reader, _ *os.FileInfo) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c *localComm) UploadDir(string, string, []string) error   { return errors.New("not used") }
func (c *localComm) Download(string, io.Writer) error           { return errors.New("not used") }
func (c *localComm) DownloadDir(string, string, []string) error { return errors.New("not used") }

func untar(t *testing.T, b []byte) map[string]*tar.Header {
	t.Helper()
	if b == nil {
		t.Fatal("nothing uploaded")
	}
	files := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		must(t, err)
		files[h.Name] = h
	}
}

func indexOf(commands []string, substr string, from int) int {
	for i := from; i < len(commands); i++ {
		if strings.Contains(commands[i], substr) {
			return i
		}
	}
	return -1
}
