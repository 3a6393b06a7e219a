package update

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
)

// ExecMigrate is a Migrate hook: it runs `BINARY migrate` with this
// process's environment (so the same configuration file and DSN).
func ExecMigrate(ctx context.Context, binary string) error {
	return run(ctx, binary, "migrate")
}

// ExecVersion is a Preflight hook: `BINARY version` must print version
// (a binary for another architecture, or a truncated one, fails here).
func ExecVersion(ctx context.Context, binary, version string) error {
	out, err := exec.CommandContext(ctx, binary, "version").Output()
	if err != nil {
		return fmt.Errorf("%s version: %w", binary, err)
	}
	if got := strings.TrimSpace(string(out)); got != version {
		return fmt.Errorf("%s version says %q, the manifest %q", binary, got, version)
	}
	return nil
}

// SystemctlRestart is a Restart hook for a systemd unit ("avanti").
func SystemctlRestart(unit string) func(ctx context.Context) error {
	return func(ctx context.Context) error { return run(ctx, "systemctl", "restart", unit) }
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		out = bytes.TrimSpace(out)
		if len(out) > 2000 {
			out = append([]byte("…"), out[len(out)-2000:]...)
		}
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// HTTPHealth is a Health hook on the appliance's /healthz (e.g.
// https://127.0.0.1/healthz): healthy is a 200 answer whose status is "ok"
// and whose version, when both it and the version asked for are known, is
// that version — so that an old process still answering does not pass for
// the new one.
func HTTPHealth(client *http.Client, url string) func(ctx context.Context, version string) error {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context, version string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var h struct {
			Status  string `json:"status"`
			Version string `json:"version"`
		}
		json.Unmarshal(body, &h)
		switch {
		case resp.StatusCode != http.StatusOK || h.Status != "ok":
			return fmt.Errorf("%s: %s %s", url, resp.Status, bytes.TrimSpace(body))
		case version != "" && h.Version != "" && h.Version != version:
			return fmt.Errorf("%s: version %s runs, not %s", url, h.Version, version)
		}
		return nil
	}
}
