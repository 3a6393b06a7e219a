package maint_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"avanti/appliance/maint"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// storeWindows is the appliance's window source, as `avanti maint-agent`
// builds it (appliance/cmd/avanti/ops.go): the database.
type storeWindows struct{ st *store.Store }

func (w storeWindows) OpenWindow(ctx context.Context, now time.Time) (*maint.Window, error) {
	cur, err := w.st.CurrentMaintWindow(ctx, now)
	if err != nil || cur == nil {
		return nil, err
	}
	return &maint.Window{ID: cur.ID, OpenedBy: cur.OpenedBy, Reason: cur.Reason, From: cur.From, Until: cur.Until}, nil
}

// The admin opens and closes the window in the console; the agent hears of
// both from the database alone (nobody calls Wake: the web server cannot
// signal the agent, which runs as another user) and, at its default poll,
// drops the engineer's session and the tunnel within a second or two.
func TestAdminClosingTheWindowInTheConsoleEndsTheTunnelAtOnce(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	cr := env.Demo.Credentials
	admin := env.Login(t, cr.Admin.Username, cr.Admin.Password)
	b := newBenchAgent(t, func(c *maint.Config) { c.Poll = 0 }, func(a *maint.Agent) {
		a.Windows = storeWindows{env.Store}
		a.Clock = env.Clock
	})
	time.Sleep(1500 * time.Millisecond)
	if n := b.sshd.Connections(); n != 0 || b.agent.Status().Connected {
		t.Fatalf("the agent reached the bastion with no window open (%d connections)", n)
	}

	var w struct{ ID int64 }
	if st := admin.JSON("POST", "/api/v1/maintenance/windows", map[string]any{"minutes": 60, "reason": "Ticket 4711: slow call monitor"}, &w); st != 201 {
		t.Fatalf("open window: %d", st)
	}
	b.waitConnected(t)
	c := b.engineerClient(t)
	s, stdin, out := terminal(t, c)
	fmt.Fprintf(stdin, "echo re$((0))ady\n")
	out.waitFor(t, "re0ady", 10*time.Second)

	if st, raw := admin.Do("POST", fmt.Sprintf("/api/v1/maintenance/windows/%d/close", w.ID), nil); st != 200 {
		t.Fatalf("close: %d %s", st, raw)
	}
	closedAt := time.Now()
	ended := make(chan error, 1)
	go func() { ended <- s.Wait() }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the session survived the admin closing the window")
	}
	if d := time.Since(closedAt); d > maint.DefaultPoll+time.Second {
		t.Errorf("the session ended %s after the window was closed", d.Round(time.Millisecond))
	}
	b.audit.waitFor(t, maint.ActionTunnelClose, 1, 2*time.Second)
	if b.agent.Status().Connected {
		t.Fatal("the tunnel is still up after the window was closed")
	}
	if _, err := b.dial(b.engineer); err == nil {
		t.Fatal("a new session after the window was closed")
	}
}
