// Package export is the Packer post-processor "avanti-export": it turns the
// disk the builder made into the files a municipality imports into its
// hypervisor — qcow2 (Proxmox/KVM), OVA (VMware, VirtualBox), VHDX (Hyper-V),
// optionally a bare VMDK — and a SHA256SUMS manifest of them.
package export

//go:generate packer-sdc mapstructure-to-hcl2 -type Config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// BuilderID identifies this post-processor's artifacts.
const BuilderID = "avanti.export"

// Formats this post-processor writes, in the order it writes them.
var knownFormats = []string{"qcow2", "vmdk", "ova", "vhdx"}

// DefaultFormats is what a build exports unless told otherwise.
var DefaultFormats = []string{"qcow2", "ova", "vhdx"}

type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// OutputDir receives the exported files and SHA256SUMS.
	OutputDir string `mapstructure:"output_directory"`
	// Name is the base name of the exported files: NAME.qcow2, NAME.ova…
	// (Not "name": that is Packer's own label of a post-processor block.)
	Name string `mapstructure:"image_name"`
	// Formats to write: qcow2, ova, vhdx, vmdk.
	Formats []string `mapstructure:"formats"`
	// Disk picks the disk among the builder's files by base name (a
	// filepath.Match pattern); by default the builder's own disk.
	Disk string `mapstructure:"disk"`
	// QemuImg is the qemu-img program (Debian's qemu-utils).
	QemuImg string `mapstructure:"qemu_img"`
	// CPUs and Memory (MiB) go into the OVF descriptor.
	CPUs   int `mapstructure:"cpus"`
	Memory int `mapstructure:"memory"`
	// Firmware the disk boots with, "efi" or "bios"; the OVF tells VMware.
	Firmware string `mapstructure:"firmware"`
	// VMwareOSType is the guest type VMware shows (vmw:osType).
	VMwareOSType string `mapstructure:"vmware_os_type"`

	ctx interpolate.Context
}

type PostProcessor struct {
	config Config
}

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

func (p *PostProcessor) Configure(raws ...interface{}) error {
	err := config.Decode(&p.config, &config.DecodeOpts{
		PluginType:         "avanti-export",
		Interpolate:        true,
		InterpolateContext: &p.config.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{},
	}, raws...)
	if err != nil {
		return err
	}
	c := &p.config
	if c.OutputDir == "" {
		c.OutputDir = "export"
	}
	if c.Name == "" {
		c.Name = "avanti"
	}
	if len(c.Formats) == 0 {
		c.Formats = slices.Clone(DefaultFormats)
	}
	if c.QemuImg == "" {
		c.QemuImg = "qemu-img"
	}
	if c.CPUs == 0 {
		c.CPUs = 2
	}
	if c.Memory == 0 {
		c.Memory = 2048
	}
	if c.Firmware == "" {
		c.Firmware = "efi"
	}
	if c.VMwareOSType == "" {
		c.VMwareOSType = "debian11_64Guest"
	}

	var errs *packersdk.MultiError
	add := func(err error) { errs = packersdk.MultiErrorAppend(errs, err) }
	if !validName.MatchString(c.Name) || len(c.Name) > 64 {
		add(fmt.Errorf("image_name: %q must be 1-64 letters, digits, '.', '_', '+' or '-'", c.Name))
	}
	seen := map[string]bool{}
	for i, f := range c.Formats {
		f = strings.ToLower(strings.TrimSpace(f))
		c.Formats[i] = f
		switch {
		case !slices.Contains(knownFormats, f):
			add(fmt.Errorf("formats: unknown format %q (known: %s)", f, strings.Join(knownFormats, ", ")))
		case seen[f]:
			add(fmt.Errorf("formats: %q listed twice", f))
		}
		seen[f] = true
	}
	if c.Disk != "" {
		if _, err := filepath.Match(c.Disk, ""); err != nil {
			add(fmt.Errorf("disk: %w", err))
		}
	}
	if c.CPUs < 1 || c.CPUs > 128 {
		add(fmt.Errorf("cpus: %d is not between 1 and 128", c.CPUs))
	}
	if c.Memory < 256 {
		add(fmt.Errorf("memory: %d MiB is less than 256", c.Memory))
	}
	if c.Firmware != "efi" && c.Firmware != "bios" {
		add(fmt.Errorf(`firmware: %q must be "efi" or "bios"`, c.Firmware))
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, in packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	c := &p.config
	disk, err := pickDisk(in, c.Disk)
	if err != nil {
		return nil, false, false, err
	}
	q := qemuImg{path: c.QemuImg}
	info, err := q.info(ctx, disk)
	if err != nil {
		return nil, false, false, err
	}
	ui.Say(fmt.Sprintf("avanti-export: %s (%s, %d MiB virtual) → %s", disk, info.Format, info.VirtualSize>>20, c.OutputDir))

	targets := c.targets()
	if err := os.MkdirAll(c.OutputDir, 0o755); err != nil {
		return nil, false, false, err
	}
	if !c.PackerForce {
		for _, t := range append(targets, sumsFile) {
			if _, err := os.Stat(filepath.Join(c.OutputDir, t)); err == nil {
				return nil, false, false, fmt.Errorf("%s already exists in %s (run packer build -force to replace it)", t, c.OutputDir)
			}
		}
	}

	// The formats are written side by side: qemu-img spends its time
	// compressing (qcow2, VMDK) or writing (VHDX), so they overlap well.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	files := make([]string, len(c.Formats))
	errs := make([]error, len(c.Formats))
	var wg sync.WaitGroup
	for i, f := range c.Formats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			out, err := p.write(ctx, q, f, disk, info)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", f, err)
				cancel()
				return
			}
			files[i] = out
			ui.Say(fmt.Sprintf("avanti-export: %s %s in %s", filepath.Base(out), humanSize(out), time.Since(start).Round(time.Second)))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, false, false, err
	}
	sums, err := writeSums(c.OutputDir, files)
	if err != nil {
		return nil, false, false, err
	}
	files = append(files, sums)
	return &Artifact{dir: c.OutputDir, files: files}, false, false, nil
}

// write writes one format and returns the file's path.
func (p *PostProcessor) write(ctx context.Context, q qemuImg, format, disk string, info imageInfo) (string, error) {
	switch format {
	case "qcow2":
		return p.writeQcow2(ctx, q, disk, info)
	case "vhdx":
		return p.writeVHDX(ctx, q, disk, info)
	case "vmdk":
		return p.writeVMDK(ctx, q, disk, info, p.config.Name+".vmdk")
	case "ova":
		return p.writeOVA(ctx, q, disk, info)
	}
	return "", fmt.Errorf("unknown format %q", format)
}

// targets are the file names the configured formats produce.
func (c *Config) targets() []string {
	var names []string
	for _, f := range c.Formats {
		names = append(names, c.Name+"."+f)
	}
	return names
}

// pickDisk finds the disk image among the builder's files: the one matching
// the disk pattern, else the one the builder names as its disk (the qemu
// builder's "diskName" state), else the only image-like file.
func pickDisk(a packersdk.Artifact, pattern string) (string, error) {
	files := a.Files()
	if len(files) == 0 {
		return "", fmt.Errorf("the %s artifact has no files; avanti-export needs a disk image", a.BuilderId())
	}
	if pattern != "" {
		for _, f := range files {
			if ok, _ := filepath.Match(pattern, filepath.Base(f)); ok {
				return f, nil
			}
		}
		return "", fmt.Errorf("no file of the artifact matches disk %q: %s", pattern, strings.Join(files, ", "))
	}
	if name, ok := a.State("diskName").(string); ok && name != "" {
		for _, f := range files {
			if filepath.Base(f) == name {
				return f, nil
			}
		}
	}
	var disks []string
	for _, f := range files {
		if isDiskName(f) {
			disks = append(disks, f)
		}
	}
	switch len(disks) {
	case 1:
		return disks[0], nil
	case 0:
		return "", fmt.Errorf("no disk image among the artifact's files: %s", strings.Join(files, ", "))
	default:
		return "", fmt.Errorf("several disk images (%s): set disk to pick one", strings.Join(disks, ", "))
	}
}

// isDiskName rules out the other files a builder leaves beside its disk
// (UEFI variable stores, logs, checksums, descriptors).
func isDiskName(f string) bool {
	switch strings.ToLower(filepath.Ext(f)) {
	case ".fd", ".log", ".txt", ".json", ".ovf", ".mf", ".sha256", ".iso", ".sig":
		return false
	}
	return !strings.HasPrefix(filepath.Base(f), "efivars")
}

func humanSize(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20))
}
