package maint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// commandHelp lists the maintenance commands, for `help` and mistakes.
const commandHelp = `maintenance commands (ssh … COMMAND):
  status               the appliance's version, health and backups
  logs [LINES]         the last lines of the logs (default 200)
  backup-now           take a backup now
  verify-backup        restore the latest backup into a scratch database and compare
  apply-update PATH    install an update bundle (PATH on the appliance, or - to send it on stdin)
  restart              restart the appliance's service
  help                 this list
a terminal (ssh -t … without a command) opens a shell.
`

// maxBundleSize bounds an update bundle sent through the session.
const maxBundleSize = 2 << 30

// errNoCommands answers when the agent was started without Commands.
var errNoCommands = errors.New("not available on this agent")

// command runs one maintenance command line; no shell is involved, so
// nothing but these commands can run this way.
func (a *Agent) command(ctx context.Context, c *channel, line string, rec *recorder) int {
	out := io.MultiWriter(rec, c.ch)
	errOut := io.MultiWriter(rec, c.ch.Stderr())
	args := strings.Fields(line)
	if len(args) == 0 {
		args = []string{"help"}
	}
	cmds := a.Commands
	var err error
	switch name, rest := args[0], args[1:]; {
	case name == "help" && len(rest) == 0:
		io.WriteString(out, commandHelp)
		return 0
	case cmds == nil:
		err = errNoCommands
	case name == "status" && len(rest) == 0:
		err = cmds.Status(ctx, out)
	case name == "logs" && len(rest) <= 1:
		lines := 200
		if len(rest) == 1 {
			n, perr := strconv.Atoi(rest[0])
			if perr != nil || n <= 0 || n > 100000 {
				fmt.Fprintf(errOut, "logs: %q is not a number of lines\n", rest[0])
				return 2
			}
			lines = n
		}
		err = cmds.Logs(ctx, out, lines)
	case name == "backup-now" && len(rest) == 0:
		err = cmds.BackupNow(ctx, out)
	case name == "verify-backup" && len(rest) == 0:
		err = cmds.VerifyBackup(ctx, out)
	case name == "restart" && len(rest) == 0:
		err = cmds.Restart(ctx, out)
	case name == "apply-update" && len(rest) == 1:
		path := rest[0]
		if path == "-" {
			var cleanup func()
			path, cleanup, err = receiveBundle(c.ch)
			if err != nil {
				fmt.Fprintf(errOut, "apply-update: receiving the bundle: %v\n", err)
				return 1
			}
			defer cleanup()
		}
		err = cmds.ApplyUpdate(ctx, out, path)
	default:
		fmt.Fprintf(errOut, "unknown command %q\n%s", clip(line, 80), commandHelp)
		return 127
	}
	if err != nil {
		fmt.Fprintf(errOut, "%s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// receiveBundle copies stdin into a temporary file (not into the
// recording).
func receiveBundle(r io.Reader) (string, func(), error) {
	f, err := os.CreateTemp("", "avanti-update-*.bundle")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.Remove(f.Name()) }
	n, err := io.Copy(f, io.LimitReader(r, maxBundleSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxBundleSize {
		err = fmt.Errorf("larger than %d bytes", maxBundleSize)
	}
	if err == nil && n == 0 {
		err = errors.New("nothing on stdin")
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}
