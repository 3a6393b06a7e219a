package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// probeLimit caps one health probe, so a hung request cannot eat the whole
// timeout.
const probeLimit = 10 * time.Second

// probeCommand fetches url inside the machine and fails unless it answers
// 2xx. curl is preferred; wget is the fallback of a minimal Debian.
func probeCommand(url string, limit time.Duration) string {
	secs := int(limit.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	u := quote(url)
	return fmt.Sprintf("if command -v curl >/dev/null 2>&1; then curl -fsSk --max-time %d -o /dev/null %s; "+
		"else wget -q --no-check-certificate -T %d -O /dev/null %s; fi", secs, u, secs, u)
}

// waitHealthy probes url from inside the machine until it answers, the
// timeout passes or ctx ends.
func waitHealthy(ctx context.Context, comm packersdk.Communicator, url string, timeout, interval time.Duration) error {
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var last string
	for attempt := 1; ; attempt++ {
		limit := min(time.Until(deadline), probeLimit)
		out, status, err := probe(ctx, comm, probeCommand(url, limit))
		switch {
		case err == nil && status == 0:
			return nil
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("exit status %d", status)
			if out != "" {
				last += ": " + out
			}
		}
		wait := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			wait.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the appliance did not answer %s within %s (%d probes, last: %s)", url, timeout, attempt, last)
			}
			return ctx.Err()
		case <-wait.C:
		}
	}
}

// probe runs command quietly and returns its combined output and exit status.
func probe(ctx context.Context, comm packersdk.Communicator, command string) (string, int, error) {
	var out bytes.Buffer
	cmd := &packersdk.RemoteCmd{Command: command, Stdout: &out, Stderr: &out}
	if err := comm.Start(ctx, cmd); err != nil {
		return "", 0, err
	}
	done := make(chan int, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case st := <-done:
		return strings.TrimSpace(out.String()), st, nil
	case <-ctx.Done():
		return "", 0, ctx.Err()
	}
}

// diagnoseCommand shows the failed units with the end of their journals,
// then the appliance's own state: what a failed build needs to say why.
const diagnoseCommand = `command -v systemctl >/dev/null 2>&1 || exit 0
s=; [ "$(id -u)" -eq 0 ] || s='sudo -n'
$s systemctl --no-pager --failed
for u in $($s systemctl --failed --plain --no-legend | awk '{print $1}'); do $s journalctl --no-pager -b -n 20 -u "$u"; done
$s systemctl --no-pager --lines=0 status avanti mariadb
$s journalctl --no-pager -b -n 40 -u avanti
true`

// diagnose runs diagnoseCommand; best effort, bounded in time.
func diagnose(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ui.Say("avanti: what systemd knows, for diagnosis:")
	_ = (&packersdk.RemoteCmd{Command: diagnoseCommand}).RunWithUi(ctx, comm, ui)
}
