package export

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// sumsFile lists the SHA-256 of every exported file, in sha256sum's format.
const sumsFile = "SHA256SUMS"

// writeQcow2 writes NAME.qcow2, compressed: for Proxmox and plain KVM.
func (p *PostProcessor) writeQcow2(ctx context.Context, q qemuImg, disk string, info imageInfo) (string, error) {
	out := filepath.Join(p.config.OutputDir, p.config.Name+".qcow2")
	return out, q.convert(ctx, disk, info.Format, out, "qcow2", "-c")
}

// writeVHDX writes NAME.vhdx, dynamically sized: for Hyper-V.
func (p *PostProcessor) writeVHDX(ctx context.Context, q qemuImg, disk string, info imageInfo) (string, error) {
	out := filepath.Join(p.config.OutputDir, p.config.Name+".vhdx")
	return out, q.convert(ctx, disk, info.Format, out, "vhdx", "-o", "subformat=dynamic")
}

// writeVMDK writes a stream-optimised VMDK (compressed, the only kind an
// OVA may carry) for a disk on an LSI Logic SCSI controller.
func (p *PostProcessor) writeVMDK(ctx context.Context, q qemuImg, disk string, info imageInfo, name string) (string, error) {
	out := filepath.Join(p.config.OutputDir, name)
	return out, q.convert(ctx, disk, info.Format, out, "vmdk", "-o", "subformat=streamOptimized,adapter_type=lsilogic")
}

// writeOVA writes NAME.ova: a tar of the OVF descriptor, then the manifest,
// then the disk — the order VMware insists on, so it can read the
// descriptor before the disk streams by.
func (p *PostProcessor) writeOVA(ctx context.Context, q qemuImg, disk string, info imageInfo) (string, error) {
	c := &p.config
	diskName := c.Name + "-disk1.vmdk"
	vmdk, err := p.writeVMDK(ctx, q, disk, info, "."+diskName)
	if err != nil {
		return "", err
	}
	defer os.Remove(vmdk)
	vmdkInfo, err := os.Stat(vmdk)
	if err != nil {
		return "", err
	}
	populated, err := q.populated(ctx, disk, info.Format)
	if err != nil {
		return "", err
	}
	ovf, err := descriptor(ovfParams{
		Name:          c.Name,
		DiskFile:      diskName,
		DiskFileSize:  vmdkInfo.Size(),
		Capacity:      info.VirtualSize,
		PopulatedSize: populated,
		CPUs:          c.CPUs,
		MemoryMiB:     c.Memory,
		Firmware:      c.Firmware,
		VMwareOSType:  c.VMwareOSType,
	})
	if err != nil {
		return "", err
	}
	vmdkSum, err := fileSHA256(vmdk)
	if err != nil {
		return "", err
	}
	ovfName, mfName := c.Name+".ovf", c.Name+".mf"
	ovfSum := sha256.Sum256(ovf)
	// The spelling VMware's own exports use: no space before the '='.
	mf := fmt.Sprintf("SHA256(%s)= %x\nSHA256(%s)= %s\n", ovfName, ovfSum, diskName, vmdkSum)

	out := filepath.Join(c.OutputDir, c.Name+".ova")
	tmp := out + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := addTarFile(tw, ovfName, int64(len(ovf)), strings.NewReader(string(ovf))); err != nil {
		return "", err
	}
	if err := addTarFile(tw, mfName, int64(len(mf)), strings.NewReader(mf)); err != nil {
		return "", err
	}
	vf, err := os.Open(vmdk)
	if err != nil {
		return "", err
	}
	defer vf.Close()
	if err := addTarFile(tw, diskName, vmdkInfo.Size(), vf); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}

// addTarFile adds one regular file in the ustar format (OVF 1.0 requires it:
// no PAX or GNU extensions, which some importers reject).
func addTarFile(tw *tar.Writer, name string, size int64, r io.Reader) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		Uname:    "root",
		Gname:    "root",
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	n, err := io.Copy(tw, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s: wrote %d of %d bytes", name, n, size)
	}
	return err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeSums writes SHA256SUMS for files (all in dir), checkable with
// `sha256sum -c SHA256SUMS` from inside dir.
func writeSums(dir string, files []string) (string, error) {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		sum, err := fileSHA256(filepath.Join(dir, n))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, n)
	}
	out := filepath.Join(dir, sumsFile)
	return out, os.WriteFile(out, []byte(b.String()), 0o644)
}
