package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"avanti/appliance/auth"
	"avanti/appliance/config"
	"avanti/appliance/fault"
	"avanti/appliance/server"
	"avanti/appliance/store"
	"avanti/appliance/sysconf"
	"avanti/appliance/tlsca"
)

// consoleUICmd is what the VM's console (tty1) shows instead of a bare
// login prompt: where to reach the appliance, the first-boot setup code,
// the CA's fingerprint, and a menu for the network and time servers, for
// when the appliance cannot be reached from a browser yet.
func consoleUICmd() *cobra.Command {
	return &cobra.Command{
		Use:   "console-ui",
		Short: "The text menu on the VM's console (as root, on a terminal): addresses, setup code, network, time servers",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			// Ctrl-C, Ctrl-\ and Ctrl-Z would only restart the menu: caught
			// and dropped (not ignored: login(1) gets them back at exec).
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, os.Interrupt, syscall.SIGQUIT, syscall.SIGTSTP)
			go func() {
				for range sigs {
				}
			}()
			term := isTerminal(os.Stdin)
			ui := &consoleUI{
				out: os.Stdout, lines: readLines(os.Stdin), version: server.Version,
				dataDir: cfg.DataDir, file: filepath.Join(cfg.DataDir, "system", "system.json"),
				authSet: auth.Settings{MaxFailures: cfg.LoginFailures, LockFor: cfg.LoginLockout,
					SessionIdle: cfg.SessionIdle, SessionAbsolute: cfg.SessionMax, Directory: &cfg.Directory},
				openStore: func(ctx context.Context) (*store.Store, error) {
					ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					defer cancel()
					return store.Open(ctx, cfg.DSN)
				},
				apply:      sysconf.System(log).Apply,
				addresses:  hostAddresses,
				loginShell: execLogin,
				now:        time.Now,
				log:        log,
			}
			if term {
				ui.clear, ui.refresh, ui.idle = true, time.Minute, 5*time.Minute
				ui.noEcho = func(on bool) { setEcho(os.Stdin, !on) }
			}
			defer func() {
				if ui.st != nil {
					ui.st.Close()
				}
			}()
			return ui.run(cmd.Context())
		},
	}
}

// consoleUI is line-based on purpose: numbered menus and prompts read the
// same on a Linux VT, a serial console and in a test.
type consoleUI struct {
	out     io.Writer
	lines   <-chan string // input, closed at the end
	noEcho  func(on bool) // hides a password being typed (a terminal)
	clear   bool          // clear the screen before the status
	refresh time.Duration // redraw the idle status this often (0: never)
	idle    time.Duration // a question unanswered this long gives up (0: never)

	version string
	dataDir string
	file    string // system.json

	openStore  func(context.Context) (*store.Store, error)
	authSet    auth.Settings
	apply      func(context.Context, sysconf.Settings) ([]string, error)
	addresses  func() []ifaceAddr
	loginShell func(io.Writer) error
	now        func() time.Time
	log        *slog.Logger

	st *store.Store // once the database answered
}

type ifaceAddr struct {
	iface  string
	prefix netip.Prefix
}

// cancel, typed at any prompt, goes back to the menu.
const cancel = "."

func readLines(r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- strings.TrimRight(sc.Text(), "\r")
		}
	}()
	return ch
}

func (u *consoleUI) printf(format string, args ...any) { fmt.Fprintf(u.out, format, args...) }

func (u *consoleUI) run(ctx context.Context) error {
	for {
		u.status(ctx)
		u.printf("\n  [1] Network settings   [2] Time servers   [3] Refresh   [4] Login prompt\n\nChoice: ")
		choice, ok, idle := u.choice(ctx)
		if !ok {
			return nil
		}
		if idle {
			continue
		}
		switch strings.TrimSpace(choice) {
		case "1":
			u.network(ctx)
		case "2":
			u.timeServers(ctx)
		case "3", "":
			continue
		case "4":
			if err := u.loginShell(u.out); err != nil {
				u.printf("%v\n", err)
			}
		default:
			u.printf("%q is not on the menu.\n", choice)
		}
		// The end of input shows at the next choice.
		u.printf("\nPress Enter to return to the menu.")
		u.line(ctx)
	}
}

// choice waits for a menu choice; idle reports that the refresh interval
// passed first (addresses change: a DHCP lease, a cable).
func (u *consoleUI) choice(ctx context.Context) (line string, ok, idle bool) {
	var tick <-chan time.Time
	if u.refresh > 0 {
		t := time.NewTimer(u.refresh)
		defer t.Stop()
		tick = t.C
	}
	select {
	case l, ok := <-u.lines:
		return l, ok, false
	case <-tick:
		return "", true, true
	case <-ctx.Done():
		return "", false, false
	}
}

// line reads an answer. A question left unanswered for u.idle gives up,
// so a walked-away administrator's sign-in is not someone else's.
func (u *consoleUI) line(ctx context.Context) (string, bool) {
	var timeout <-chan time.Time
	if u.idle > 0 {
		t := time.NewTimer(u.idle)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case l, ok := <-u.lines:
		return l, ok
	case <-timeout:
		u.printf("\nNo answer for %s: back to the menu, nothing changed.\n", u.idle)
		return "", false
	case <-ctx.Done():
		return "", false
	}
}

// ask prompts until check accepts the answer; Enter takes def, "." gives up.
func (u *consoleUI) ask(ctx context.Context, prompt, def string, check func(string) error) (string, bool) {
	for {
		if def != "" {
			u.printf("%s [%s]: ", prompt, def)
		} else {
			u.printf("%s: ", prompt)
		}
		l, ok := u.line(ctx)
		if !ok {
			return "", false
		}
		l = strings.TrimSpace(l)
		if l == cancel {
			u.printf("Cancelled: nothing changed.\n")
			return "", false
		}
		if l == "" {
			l = def
		}
		if err := check(l); err != nil {
			u.printf("  ! %v\n", err)
			continue
		}
		return l, true
	}
}

func (u *consoleUI) status(ctx context.Context) {
	if u.clear {
		u.printf("\033[H\033[2J")
	} else {
		u.printf("\n\n")
	}
	host, _ := os.Hostname()
	u.printf("Avanti appliance %s - %s\n%s\n", u.version, host, strings.Repeat("=", 72))
	addrs := u.addresses()
	if len(addrs) == 0 {
		u.printf("No network address yet (DHCP may still be asking): see [1].\n")
	} else {
		u.printf("Open in a browser:\n")
		for _, a := range addrs {
			u.printf("  %-42s (%s)\n", consoleURL(a.prefix.Addr(), "/console/"), a.iface)
		}
	}
	s, err := sysconf.Load(u.file)
	switch {
	case os.IsNotExist(err):
		u.printf("Network:      DHCP (not changed since installation)\n")
	case err != nil:
		u.printf("Settings:     %v\n", err)
	default:
		u.printf("Network:      %s\n", describeNetwork(s.Network))
	}
	servers := "Debian's public pool"
	if len(s.NTPServers) > 0 {
		servers = strings.Join(s.NTPServers, " ")
	}
	// The zone the settings ask for, else the system's (this process's
	// time.Local is the one it started with).
	zone := s.Timezone
	if zone == "" {
		b, _ := os.ReadFile("/etc/timezone")
		zone = strings.TrimSpace(string(b))
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" {
		loc, zone = time.UTC, "UTC"
	}
	u.printf("Time:         %s (%s), servers: %s\n", u.now().In(loc).Format("2006-01-02 15:04 MST"), zone, servers)
	if fp, err := tlsca.Fingerprint(filepath.Join(u.dataDir, "tls")); err == nil {
		fp = colonHex(fp)
		u.printf("CA certificate, SHA-256 (compare with your browser's):\n  %s\n  %s\n", fp[:47], fp[48:])
	}
	pending, err := u.pending(ctx)
	switch {
	case err != nil:
		u.printf("Database:     not reachable (%v)\n", err)
	case pending:
		u.printf("\nFIRST-BOOT SETUP IS PENDING. Setup code: %s\n", u.setupCode())
		if len(addrs) > 0 {
			u.printf("  Open %s and enter the code.\n", consoleURL(addrs[0].prefix.Addr(), "/console/setup"))
		}
	default:
		u.printf("First-boot setup: done.\n")
	}
}

func consoleURL(a netip.Addr, path string) string {
	if a.Is6() {
		return "https://[" + a.String() + "]" + path
	}
	return "https://" + a.String() + path
}

func describeNetwork(n *sysconf.Network) string {
	switch {
	case n == nil || n.Mode == sysconf.DHCP:
		return "DHCP"
	case len(n.DNS) > 0:
		return fmt.Sprintf("static %s, gateway %s, DNS %s", n.Address, n.Gateway, strings.Join(n.DNS, " "))
	default:
		return fmt.Sprintf("static %s, gateway %s, no DNS", n.Address, n.Gateway)
	}
}

func colonHex(h string) string {
	var b strings.Builder
	for i := 0; i+1 < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(h[i : i+2]))
	}
	return b.String()
}

var setupCodeRE = regexp.MustCompile(`\d{4}-\d{4}-\d{4}`)

// setupCode is the code the server wrote to data_dir/setup-code.
func (u *consoleUI) setupCode() string {
	b, err := os.ReadFile(filepath.Join(u.dataDir, "setup-code"))
	if c := setupCodeRE.Find(b); err == nil && c != nil {
		return string(c)
	}
	return "(not there yet: the appliance is starting)"
}

func (u *consoleUI) store(ctx context.Context) (*store.Store, error) {
	if u.st == nil {
		st, err := u.openStore(ctx)
		if err != nil {
			return nil, err
		}
		u.st = st
	}
	return u.st, nil
}

// pending reports whether the first-boot setup has yet to be done.
func (u *consoleUI) pending(ctx context.Context) (bool, error) {
	st, err := u.store(ctx)
	if err != nil {
		return false, err
	}
	return st.Empty(ctx)
}

// changer is who changes settings at the console, for the log and audit.
type changer struct {
	name    string
	ownerID int64 // 0 before the first-boot setup: no organisation yet
}

// authorise: before the first-boot setup anyone at the console may change
// settings (they can read the setup code here too); afterwards an
// administrator signs in, with the lockout of the login page.
func (u *consoleUI) authorise(ctx context.Context) (changer, bool) {
	pending, err := u.pending(ctx)
	if err != nil {
		u.printf("The database cannot be reached (%v),\nso no one can be signed in: nothing can be changed here now.\n", err)
		return changer{}, false
	}
	if pending {
		u.printf("First-boot setup is pending: no sign-in needed yet.\n")
		return changer{name: "console (before setup)"}, true
	}
	u.printf("Changing system settings needs an Avanti administrator (\".\" cancels).\n")
	username, ok := u.ask(ctx, "Username", "", func(s string) error {
		if s == "" {
			return fmt.Errorf("the administrator's username")
		}
		return nil
	})
	if !ok {
		return changer{}, false
	}
	u.printf("Password: ")
	if u.noEcho != nil {
		u.noEcho(true)
	}
	password, ok := u.line(ctx)
	if u.noEcho != nil {
		u.noEcho(false)
		u.printf("\n")
	}
	if !ok {
		return changer{}, false
	}
	st, _ := u.store(ctx)
	p, err := auth.Login(ctx, st, u.authSet, username, password, u.now().UTC())
	if err != nil {
		u.log.Warn("console: sign-in refused", "username", username, "err", err)
		if f, ok := fault.As(err); ok {
			u.printf("Refused: %s.\n", f.Message)
		} else {
			u.printf("Refused: the password could not be checked (%v).\n", err)
		}
		return changer{}, false
	}
	// Only the check was wanted, not a session.
	if err := st.DeleteSession(ctx, p.Session); err != nil {
		u.log.Warn("console: end session", "err", err)
	}
	if p.Role() != "admin" {
		u.log.Warn("console: not an administrator", "username", username, "role", p.Role())
		u.printf("Refused: only an administrator may change system settings.\n")
		return changer{}, false
	}
	u.log.Info("console: administrator signed in", "username", username)
	return changer{name: p.Name(), ownerID: p.OwnerID()}, true
}

// current are the settings now in the file (none if it is missing or bad:
// the questions then start from no defaults).
func (u *consoleUI) current() sysconf.Settings {
	s, _ := sysconf.Load(u.file)
	return s
}

func (u *consoleUI) network(ctx context.Context) {
	who, ok := u.authorise(ctx)
	if !ok {
		return
	}
	cur := sysconf.Network{Mode: sysconf.DHCP}
	if n := u.current().Network; n != nil {
		cur = *n
	}
	u.printf("\nNetwork settings: Enter keeps the value in brackets, \".\" cancels.\n")
	def := "d"
	if cur.Mode == sysconf.Static {
		def = "s"
	}
	mode, ok := u.ask(ctx, "DHCP or static address (d/s)", def, func(s string) error {
		if s != "d" && s != "s" {
			return fmt.Errorf("d for DHCP, s for a static address")
		}
		return nil
	})
	if !ok {
		return
	}
	n := sysconf.Network{Mode: sysconf.DHCP}
	if mode == "s" {
		n.Mode = sysconf.Static
		if n.Address, ok = u.ask(ctx, "Address with prefix length, e.g. 10.0.0.5/24", cur.Address, func(s string) error {
			_, err := sysconf.ValidAddress(s)
			return err
		}); !ok {
			return
		}
		if n.Gateway, ok = u.ask(ctx, "Gateway", cur.Gateway, func(s string) error {
			return sysconf.ValidGateway(n.Address, s)
		}); !ok {
			return
		}
		dns, ok := u.ask(ctx, "DNS servers, separated by spaces (\"-\": none)", strings.Join(cur.DNS, " "), func(s string) error {
			return (sysconf.Network{Mode: sysconf.Static, Address: n.Address, Gateway: n.Gateway, DNS: words(s)}).Validate()
		})
		if !ok {
			return
		}
		n.DNS = words(dns)
	}
	if !u.confirm(ctx, "Network: "+describeNetwork(&n)) {
		return
	}
	if n.Mode == sysconf.Static {
		u.printf("Applying: the new address has a minute to come up, or the previous settings come back.\n")
	}
	u.save(ctx, who, func(s *sysconf.Settings) error {
		s.Network = &n
		return nil
	})
}

func (u *consoleUI) timeServers(ctx context.Context) {
	who, ok := u.authorise(ctx)
	if !ok {
		return
	}
	cur := u.current().NTPServers
	u.printf("\nTime servers: host names or addresses, separated by spaces; \"-\": Debian's\npublic pool (needs Internet access); Enter keeps the list in brackets; \".\" cancels.\n")
	def := "-"
	if len(cur) > 0 {
		def = strings.Join(cur, " ")
	}
	list, ok := u.ask(ctx, "Time servers", def, func(s string) error {
		return (sysconf.Settings{NTPServers: words(s)}).Validate()
	})
	if !ok {
		return
	}
	servers := words(list)
	what := "Debian's public pool"
	if len(servers) > 0 {
		what = strings.Join(servers, " ")
	}
	if !u.confirm(ctx, "Time servers: "+what) {
		return
	}
	u.save(ctx, who, func(s *sysconf.Settings) error {
		s.NTPServers = servers
		return nil
	})
}

// words splits a list typed with spaces or commas; "-" is the empty list.
func words(s string) []string {
	if strings.TrimSpace(s) == "-" {
		return nil
	}
	return slices.DeleteFunc(strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }),
		func(w string) bool { return w == "" })
}

func (u *consoleUI) confirm(ctx context.Context, what string) bool {
	u.printf("\n  %s\nApply? (y/n) [n]: ", what)
	l, ok := u.line(ctx)
	if ok && strings.EqualFold(strings.TrimSpace(l), "y") {
		return true
	}
	u.printf("Nothing changed.\n")
	return false
}

// save writes system.json as the setup page does (the other keys kept)
// and applies it at once: the console runs as root.
func (u *consoleUI) save(ctx context.Context, who changer, change func(*sysconf.Settings) error) {
	before := u.current()
	s, err := sysconf.Update(u.file, change)
	if err != nil {
		u.printf("Not saved: %s\n", describe(err))
		return
	}
	u.log.Info("console: system settings saved", "by", who.name, "file", u.file)
	if who.ownerID != 0 && u.st != nil {
		if err := u.st.Audit(ctx, who.ownerID, who.name, "system_settings", "system", 0, before, s, u.now().UTC()); err != nil {
			u.log.Error("audit log", "err", err)
		}
	}
	changed, err := u.apply(ctx, s)
	for _, c := range changed {
		u.printf("Applied: %s\n", c)
	}
	if err != nil {
		u.log.Error("console: apply system settings", "err", err)
		u.printf("Saved, but not applied: %v\n", err)
		return
	}
	if len(changed) == 0 {
		u.printf("Saved; the system already had these settings.\n")
	}
}

// hostAddresses are the addresses people can reach the appliance at.
func hostAddresses() []ifaceAddr {
	var out []ifaceAddr
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok || ip.Unmap().IsLinkLocalUnicast() {
				continue
			}
			ones, _ := n.Mask.Size()
			out = append(out, ifaceAddr{i.Name, netip.PrefixFrom(ip.Unmap(), ones)})
		}
	}
	return out
}

// execLogin replaces the menu with login(1); after logout the service
// starts the menu again.
func execLogin(w io.Writer) error {
	const login = "/bin/login"
	if _, err := os.Stat(login); err != nil || !isTerminal(os.Stdin) {
		return fmt.Errorf("no login prompt here: Alt+F2 has one (Alt+F1 comes back to this menu)")
	}
	fmt.Fprintf(w, "\nLogin prompt: after logout this menu comes back. Alt+F2 has another one.\n\n")
	return syscall.Exec(login, []string{"login"}, []string{"TERM=" + termName()})
}

func termName() string {
	if t := os.Getenv("TERM"); t != "" {
		return t
	}
	return "linux"
}
