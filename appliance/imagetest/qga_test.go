package imagetest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"
)

// guest runs commands inside the VM through the QEMU guest agent (the
// image's qemu-guest-agent, on the virtio-serial port boot-test gives it):
// what the hypervisor's admin can do too, and the sealed image has no SSH.
type guest struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialGuest(t *testing.T, socket string) *guest {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		g, err := tryGuest(socket)
		if err == nil {
			t.Cleanup(func() { g.conn.Close() })
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("QEMU guest agent on %s: %v", socket, err)
		}
		time.Sleep(2 * time.Second)
	}
}

// tryGuest connects and synchronises: the agent may have half-read
// garbage from an earlier client, guest-sync with a fresh id resets it.
func tryGuest(socket string) (*guest, error) {
	conn, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return nil, err
	}
	g := &guest{conn: conn, r: bufio.NewReader(conn)}
	id := time.Now().UnixNano() % 1e9
	var got int64
	if err := g.call("guest-sync", map[string]any{"id": id}, &got); err != nil {
		conn.Close()
		return nil, err
	}
	if got != id {
		conn.Close()
		return nil, fmt.Errorf("guest-sync answered %d, want %d", got, id)
	}
	return g, nil
}

func (g *guest) call(cmd string, args, out any) error {
	g.conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	if err := json.NewEncoder(g.conn).Encode(req); err != nil {
		return err
	}
	for {
		line, err := g.r.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if json.Unmarshal(line, &resp) != nil {
			continue // a partial line left from before the sync
		}
		if resp.Error != nil {
			return fmt.Errorf("%s: %s: %s", cmd, resp.Error.Class, resp.Error.Desc)
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(resp.Return, out)
	}
}

// run executes a command in the VM as root and returns its exit code and
// its output (stdout then stderr).
func (g *guest) run(t *testing.T, path string, args ...string) (int, string) {
	t.Helper()
	var started struct {
		PID int `json:"pid"`
	}
	if err := g.call("guest-exec", map[string]any{"path": path, "arg": args, "capture-output": true}, &started); err != nil {
		t.Fatalf("guest-exec %s %v: %v", path, args, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var st struct {
			Exited   bool   `json:"exited"`
			ExitCode int    `json:"exitcode"`
			Out      string `json:"out-data"`
			Err      string `json:"err-data"`
		}
		if err := g.call("guest-exec-status", map[string]any{"pid": started.PID}, &st); err != nil {
			t.Fatalf("guest-exec-status: %v", err)
		}
		if st.Exited {
			out, _ := base64.StdEncoding.DecodeString(st.Out)
			errb, _ := base64.StdEncoding.DecodeString(st.Err)
			return st.ExitCode, string(out) + string(errb)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %v still running after a minute", path, args)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
