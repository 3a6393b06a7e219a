package export

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// qemuImg runs Debian's qemu-img.
type qemuImg struct{ path string }

type imageInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	ActualSize  int64  `json:"actual-size"`
}

func (q qemuImg) run(ctx context.Context, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, q.path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%s %s: %s", q.path, strings.Join(args, " "), msg)
	}
	return stdout.Bytes(), nil
}

func (q qemuImg) info(ctx context.Context, path string) (imageInfo, error) {
	var info imageInfo
	out, err := q.run(ctx, "info", "--output=json", path)
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return info, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	if info.VirtualSize <= 0 {
		return info, fmt.Errorf("qemu-img info %s: no virtual size", path)
	}
	return info, nil
}

// populated is how many bytes of the disk hold data: what a hypervisor
// allocates when it imports the disk thin (the OVF's populatedSize).
func (q qemuImg) populated(ctx context.Context, path, format string) (int64, error) {
	out, err := q.run(ctx, "map", "--output=json", "-f", format, path)
	if err != nil {
		return 0, err
	}
	var extents []struct {
		Length int64 `json:"length"`
		Data   bool  `json:"data"`
	}
	if err := json.Unmarshal(out, &extents); err != nil {
		return 0, fmt.Errorf("qemu-img map %s: %w", path, err)
	}
	var n int64
	for _, e := range extents {
		if e.Data {
			n += e.Length
		}
	}
	return n, nil
}

// convert writes src (of format from) to dst as format to with the given
// extra arguments. It writes dst.partial and renames it when qemu-img is
// done, so an interrupted export never leaves a plausible broken file.
func (q qemuImg) convert(ctx context.Context, src, from, dst, to string, extra ...string) error {
	tmp := dst + ".partial"
	args := append([]string{"convert", "-f", from, "-O", to}, extra...)
	args = append(args, src, tmp)
	if _, err := q.run(ctx, args...); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
