// Package provision is the Packer provisioner "avanti": it uploads the avanti
// binary and the provisioning/ bundle into the machine being built, runs the
// bundle's setup.sh there, and fails the build unless the appliance then
// answers its health check from inside the machine.
package provision

//go:generate packer-sdc mapstructure-to-hcl2 -type Config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// Defaults, also documented in packer/README.md.
const (
	DefaultRemoteDir      = "/tmp/avanti-provisioning"
	DefaultHealthURL      = "https://127.0.0.1/healthz"
	DefaultHealthTimeout  = 5 * time.Minute
	DefaultHealthInterval = 2 * time.Second
	// DefaultExecuteCommand runs setup.sh as root: directly when the
	// communicator already is root, through non-interactive sudo otherwise.
	DefaultExecuteCommand = `if [ "$(id -u)" -eq 0 ]; then env {{.Vars}} sh {{.Path}}; ` +
		`else sudo -n env {{.Vars}} sh {{.Path}}; fi`
	// setupScript is the bundle's entry point, relative to the bundle root.
	setupScript = "setup.sh"
	// finishScript, if the bundle has one, seals the image once the
	// appliance is healthy (say, removes the build's SSH key); the build's
	// SSH session stays up, so it may close the door behind it.
	finishScript = "finish.sh"
)

type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// Binary is the local path of the avanti binary (linux/amd64) to install.
	Binary string `mapstructure:"binary" required:"true"`
	// Bundle is the local provisioning/ directory; it must hold setup.sh.
	Bundle string `mapstructure:"bundle" required:"true"`
	// RemoteDir is where the bundle is unpacked in the machine; the binary
	// goes to RemoteDir/avanti. Removed again after a successful run.
	RemoteDir string `mapstructure:"remote_dir"`
	// ExecuteCommand runs setup.sh; {{.Path}} is the script (shell-quoted),
	// {{.Vars}} the AVANTI_BINARY=… AVANTI_BUNDLE=… assignments.
	ExecuteCommand string `mapstructure:"execute_command"`
	// HealthURL is fetched from inside the machine (curl -k, or wget) once
	// setup.sh has finished; certificate errors are ignored because the
	// appliance's own CA is not trusted yet.
	HealthURL string `mapstructure:"health_url"`
	// HealthTimeout bounds how long the appliance may take to answer.
	HealthTimeout time.Duration `mapstructure:"health_timeout"`
	// HealthInterval is the pause between two health probes.
	HealthInterval time.Duration `mapstructure:"health_interval"`

	ctx interpolate.Context
}

type Provisioner struct {
	config Config
}

func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *Provisioner) Prepare(raws ...interface{}) error {
	err := config.Decode(&p.config, &config.DecodeOpts{
		PluginType:         "avanti",
		Interpolate:        true,
		InterpolateContext: &p.config.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{"execute_command"}},
	}, raws...)
	if err != nil {
		return err
	}
	c := &p.config
	if c.RemoteDir == "" {
		c.RemoteDir = DefaultRemoteDir
	}
	if c.ExecuteCommand == "" {
		c.ExecuteCommand = DefaultExecuteCommand
	}
	if c.HealthURL == "" {
		c.HealthURL = DefaultHealthURL
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = DefaultHealthTimeout
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}

	var errs *packersdk.MultiError
	add := func(err error) { errs = packersdk.MultiErrorAppend(errs, err) }
	switch fi, err := os.Stat(c.Binary); {
	case c.Binary == "":
		add(errors.New("binary: the path of the avanti binary is required"))
	case err != nil:
		add(fmt.Errorf("binary: %w", err))
	case !fi.Mode().IsRegular():
		add(fmt.Errorf("binary: %s is not a regular file", c.Binary))
	}
	switch fi, err := os.Stat(c.Bundle); {
	case c.Bundle == "":
		add(errors.New("bundle: the path of the provisioning directory is required"))
	case err != nil:
		add(fmt.Errorf("bundle: %w", err))
	case !fi.IsDir():
		add(fmt.Errorf("bundle: %s is not a directory", c.Bundle))
	default:
		if _, err := os.Stat(filepath.Join(c.Bundle, setupScript)); err != nil {
			add(fmt.Errorf("bundle: %s has no %s: %w", c.Bundle, setupScript, err))
		}
	}
	if !path.IsAbs(c.RemoteDir) || path.Clean(c.RemoteDir) == "/" {
		add(fmt.Errorf("remote_dir: %q must be an absolute path below /", c.RemoteDir))
	}
	if !strings.HasPrefix(c.HealthURL, "http://") && !strings.HasPrefix(c.HealthURL, "https://") {
		add(fmt.Errorf("health_url: %q is not an http(s) URL", c.HealthURL))
	}
	if c.HealthTimeout < 0 {
		add(fmt.Errorf("health_timeout: %s is negative", c.HealthTimeout))
	}
	if c.HealthInterval < 0 {
		add(fmt.Errorf("health_interval: %s is negative", c.HealthInterval))
	}
	if _, err := p.scriptCommand(setupScript); err != nil {
		add(fmt.Errorf("execute_command: %w", err))
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, _ map[string]interface{}) error {
	c := &p.config
	dir := path.Clean(c.RemoteDir)
	tarball := dir + ".tar"

	ui.Say(fmt.Sprintf("avanti: uploading the bundle %s to %s", c.Bundle, dir))
	if err := run(ctx, ui, comm, "rm -rf "+quote(dir)+" "+quote(tarball)+" && mkdir -p "+quote(dir)); err != nil {
		return fmt.Errorf("preparing %s: %w", dir, err)
	}
	if err := uploadBundle(comm, c.Bundle, tarball); err != nil {
		return fmt.Errorf("uploading the bundle: %w", err)
	}
	if err := run(ctx, ui, comm, "tar -xf "+quote(tarball)+" -C "+quote(dir)+" && rm -f "+quote(tarball)); err != nil {
		return fmt.Errorf("unpacking the bundle: %w", err)
	}

	ui.Say(fmt.Sprintf("avanti: uploading the binary %s", c.Binary))
	if err := uploadFile(comm, c.Binary, p.remoteBinary()); err != nil {
		return fmt.Errorf("uploading the binary: %w", err)
	}
	if err := run(ctx, ui, comm, "chmod 0755 "+quote(p.remoteBinary())); err != nil {
		return fmt.Errorf("making the binary executable: %w", err)
	}

	setup, err := p.scriptCommand(setupScript)
	if err != nil {
		return err
	}
	finish, err := p.scriptCommand(finishScript)
	if err != nil {
		return err
	}
	ui.Say("avanti: running " + path.Join(dir, setupScript))
	if err := run(ctx, ui, comm, setup); err != nil {
		if ctx.Err() == nil {
			diagnose(ctx, ui, comm)
		}
		return fmt.Errorf("%s: %w", setupScript, err)
	}

	ui.Say(fmt.Sprintf("avanti: waiting up to %s for %s", c.HealthTimeout, c.HealthURL))
	start := time.Now()
	if err := waitHealthy(ctx, comm, c.HealthURL, c.HealthTimeout, c.HealthInterval); err != nil {
		if ctx.Err() == nil {
			diagnose(ctx, ui, comm)
		}
		return err
	}
	ui.Say(fmt.Sprintf("avanti: the appliance answered %s after %s", c.HealthURL, time.Since(start).Round(100*time.Millisecond)))

	finishPath := quote(path.Join(dir, finishScript))
	if err := run(ctx, ui, comm, "if [ -f "+finishPath+" ]; then "+finish+"; fi"); err != nil {
		return fmt.Errorf("%s: %w", finishScript, err)
	}

	// The image should not ship the bundle; a failure here only costs space.
	if err := run(ctx, ui, comm, "rm -rf "+quote(dir)); err != nil {
		ui.Error(fmt.Sprintf("avanti: could not remove %s: %v", dir, err))
	}
	return nil
}

func (p *Provisioner) remoteBinary() string {
	return path.Join(path.Clean(p.config.RemoteDir), "avanti")
}

// scriptCommand renders execute_command for one of the bundle's scripts.
func (p *Provisioner) scriptCommand(script string) (string, error) {
	dir := path.Clean(p.config.RemoteDir)
	ctx := p.config.ctx
	ctx.Data = struct{ Path, Vars string }{
		Path: quote(path.Join(dir, script)),
		Vars: "AVANTI_BINARY=" + quote(p.remoteBinary()) + " AVANTI_BUNDLE=" + quote(dir),
	}
	return interpolate.Render(p.config.ExecuteCommand, &ctx)
}

// run runs one shell command in the machine, streaming its output to the UI,
// and turns a non-zero exit status into an error.
func run(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, command string) error {
	cmd := &packersdk.RemoteCmd{Command: command}
	if err := cmd.RunWithUi(ctx, comm, ui); err != nil {
		return err
	}
	if st := cmd.ExitStatus(); st != 0 {
		return fmt.Errorf("%q exited with status %d", command, st)
	}
	return nil
}

func uploadFile(comm packersdk.Communicator, local, remote string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return comm.Upload(remote, f, &fi)
}

// uploadBundle packs the bundle directory into a temporary tar file and
// uploads that one file: a single transfer that keeps the scripts' modes.
func uploadBundle(comm packersdk.Communicator, bundle, remote string) error {
	f, err := os.CreateTemp("", "avanti-bundle-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := writeTar(f, bundle); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return comm.Upload(remote, f, &fi)
}

// quote makes s one word for a POSIX shell.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
