// Package packertest runs the plugin under a real Packer 1.9.4: `packer
// validate` and `packer build` of small templates that use the provisioner
// (against an SSH server on loopback that stands in for the VM) and the
// post-processor (on a tiny qcow2 through Packer's file builder).
//
// It needs the Packer binary, which takes minutes to build the first time,
// so it runs only when AVANTI_PACKER names it: `make packer-plugin-test`.
package packertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// packerEnv builds the plugin and returns the Packer binary, the plugin and
// the environment in which Packer finds the plugin without `packer init`.
func packerEnv(t *testing.T) (packer, plugin string, env []string) {
	t.Helper()
	packer = os.Getenv("AVANTI_PACKER")
	if packer == "" {
		t.Skip("AVANTI_PACKER is not set; run `make packer-plugin-test`")
	}
	out, err := exec.Command(packer, "version").Output()
	if err != nil || !strings.Contains(string(out), "Packer v1.9.4") {
		t.Fatalf("%s version: %q %v; want Packer v1.9.4", packer, out, err)
	}
	root := t.TempDir()
	plugins := filepath.Join(root, "plugins")
	plugin = filepath.Join(plugins, "packer-plugin-avanti")
	build := exec.Command("go", "build", "-o", plugin, "avanti/packer")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	env = append(os.Environ(),
		"PACKER_PLUGIN_PATH="+plugins,
		"PACKER_CONFIG_DIR="+filepath.Join(root, "config"),
		"PACKER_CACHE_DIR="+filepath.Join(root, "cache"),
		"CHECKPOINT_DISABLE=1",
		"PACKER_NO_COLOR=1",
	)
	return packer, plugin, env
}

func TestPluginDescribesItself(t *testing.T) {
	_, plugin, _ := packerEnv(t)
	out, err := exec.Command(plugin, "describe").Output()
	must(t, err)
	var d struct {
		APIVersion     string   `json:"api_version"`
		Provisioners   []string `json:"provisioners"`
		PostProcessors []string `json:"post_processors"`
	}
	must(t, json.Unmarshal(out, &d))
	// Packer 1.9.4 speaks plugin API x5.0 and refuses a newer minor version.
	if d.APIVersion != "x5.0" || len(d.Provisioners) != 1 || len(d.PostProcessors) != 1 || d.PostProcessors[0] != "export" {
		t.Errorf("describe: %s", out)
	}
}

// run runs packer with args in dir and returns its combined output.
func run(t *testing.T, packer string, env []string, dir string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, packer, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

type fixture struct {
	dir, bundle, binary, remote, marker, disk, out string
	ssh                                            *sshServer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img is missing: apt-get install qemu-utils (scripts/debdeps installs it)")
	}
	dir := t.TempDir()
	f := &fixture{
		dir:    dir,
		bundle: filepath.Join(dir, "provisioning"),
		binary: filepath.Join(dir, "avanti"),
		remote: filepath.Join(dir, "vm", "avanti-provisioning"),
		marker: filepath.Join(dir, "vm", "setup-done"),
		disk:   filepath.Join(dir, "base.qcow2"),
		out:    filepath.Join(dir, "image-out"),
		ssh:    startSSHServer(t),
	}
	must(t, os.MkdirAll(filepath.Join(f.bundle, "systemd"), 0o755))
	must(t, os.MkdirAll(filepath.Dir(f.remote), 0o755))
	must(t, os.WriteFile(f.binary, []byte("#!/bin/sh\necho \"avanti $*\"\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(f.bundle, "systemd", "avanti.service"), []byte("[Unit]\n"), 0o644))
	// The stand-in setup.sh checks what the real one relies on, then marks
	// the "VM" as set up; the health server answers only after that.
	must(t, os.WriteFile(filepath.Join(f.bundle, "setup.sh"), []byte(`set -eu
echo "setup.sh: installing from $AVANTI_BUNDLE"
test -x "$AVANTI_BINARY"
test -f "$AVANTI_BUNDLE/systemd/avanti.service"
"$AVANTI_BINARY" version > `+f.marker+`
`), 0o755))
	must(t, os.WriteFile(filepath.Join(f.bundle, "finish.sh"), []byte("echo \"finish.sh: sealing\"\n"), 0o644))
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", f.disk, "32M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	return f
}

// template writes a build with two sources: a null builder reached over
// SSH, provisioned by avanti, and Packer's file builder handing the tiny
// qcow2 to avanti-export.
func (f *fixture) template(t *testing.T, healthURL, healthTimeout string) string {
	t.Helper()
	execute := ""
	if os.Geteuid() != 0 {
		execute = `execute_command = "env {{.Vars}} sh {{.Path}}"`
	}
	tpl := fmt.Sprintf(`
source "null" "vm" {
  ssh_host                 = "127.0.0.1"
  ssh_port                 = %s
  ssh_username             = "builder"
  ssh_private_key_file     = %q
  ssh_file_transfer_method = "sftp"
  ssh_timeout              = "30s"
}

source "file" "disk" {
  source = %q
  target = %q
}

build {
  sources = ["source.null.vm", "source.file.disk"]

  provisioner "avanti" {
    only           = ["null.vm"]
    binary         = %q
    bundle         = %q
    remote_dir     = %q
    health_url     = %q
    health_timeout = %q
    health_interval = "200ms"
    %s
  }

  post-processor "avanti-export" {
    only             = ["file.disk"]
    output_directory = %q
    image_name       = "tiny"
    formats          = ["qcow2", "ova", "vhdx"]
    memory           = 1024
  }
}
`, f.ssh.port(), f.ssh.keyFile, f.disk, filepath.Join(f.dir, "file-out", "disk.qcow2"),
		f.binary, f.bundle, f.remote, healthURL, healthTimeout, execute, f.out)
	path := filepath.Join(f.dir, "test.pkr.hcl")
	must(t, os.WriteFile(path, []byte(tpl), 0o644))
	return path
}

func TestPackerBuildRunsProvisionerAndExport(t *testing.T) {
	packer, _, env := packerEnv(t)
	f := newFixture(t)
	health := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(f.marker); err != nil {
			http.Error(w, "not set up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, `{"status":"ok"}`)
	}))
	defer health.Close()
	tpl := f.template(t, health.URL+"/healthz", "60s")

	if out, err := run(t, packer, env, f.dir, time.Minute, "validate", tpl); err != nil {
		t.Fatalf("packer validate: %v\n%s", err, out)
	}
	start := time.Now()
	out, err := run(t, packer, env, f.dir, 5*time.Minute, "build", "-color=false", tpl)
	t.Logf("packer build took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("packer build: %v", err)
	}
	for _, want := range []string{"avanti: running", "setup.sh: installing from", "avanti: the appliance answered",
		"finish.sh: sealing", "avanti-export: tiny.ova", "Builds finished"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q", want)
		}
	}
	if b, err := os.ReadFile(f.marker); err != nil || string(b) != "avanti version\n" {
		t.Errorf("setup.sh did not run the uploaded binary: %q %v", b, err)
	}
	if _, err := os.Stat(f.remote); !os.IsNotExist(err) {
		t.Errorf("the bundle was left in the VM: %v", err)
	}
	for _, name := range []string{"tiny.qcow2", "tiny.ova", "tiny.vhdx", "SHA256SUMS"} {
		if _, err := os.Stat(filepath.Join(f.out, name)); err != nil {
			t.Errorf("export: %v", err)
		}
	}
	check := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	check.Dir = f.out
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}
}

func TestPackerBuildFailsWhenTheApplianceIsNotHealthy(t *testing.T) {
	packer, _, env := packerEnv(t)
	f := newFixture(t)
	// A port nothing listens on: the appliance "never comes up".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	closed := "https://" + ln.Addr().String() + "/healthz"
	ln.Close()
	tpl := f.template(t, closed, "3s")

	out, err := run(t, packer, env, f.dir, 3*time.Minute, "build", "-color=false", tpl)
	t.Logf("packer build:\n%s", out)
	if err == nil {
		t.Fatalf("packer build passed with an appliance that never answers:\n%s", out)
	}
	if !strings.Contains(out, "did not answer "+closed+" within 3s") {
		t.Errorf("build output does not say why it failed:\n%s", out)
	}
}
