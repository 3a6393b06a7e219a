package maint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"avanti/appliance/atomicfile"
)

// Inbound is the alternative to the reverse tunnel: the vendor connects to
// the appliance's own sshd, from one source address, with a key, and only
// while a window is open. The agent writes two files and reloads what
// reads them:
//
//   - an nftables table (its own, replaced whole on each write) that drops
//     every packet to the SSH port except from the source address, and those
//     too once the window's end has passed (`meta time`, so the rule expires
//     even if the agent is not running);
//   - an sshd_config.d snippet of Match blocks: key-only from the source
//     address while the window is open; no way to authenticate otherwise.
//
// The image's main ruleset must accept the SSH port: this table only ever
// narrows it.
type Inbound struct {
	Enabled bool `yaml:"enabled"`
	// SourceAddress is the one address (or prefix, e.g. 203.0.113.0/28)
	// the vendor connects from.
	SourceAddress string `yaml:"source_address"`
	// Port is sshd's port; default 22.
	Port int `yaml:"port"`
	// User, if set, limits the sshd Match blocks to this account (the
	// vendor's); empty applies them to every account.
	User string `yaml:"user"`
	// AuthorizedKeysFile, if set, is the engineers' keys for sshd.
	AuthorizedKeysFile string `yaml:"authorized_keys_file"`
	// NftablesFile and SSHDFile are where the agent writes.
	NftablesFile string `yaml:"nftables_file"`
	SSHDFile     string `yaml:"sshd_file"`
}

// Default locations: the image loads /etc/nftables.d/*.nft after its main
// ruleset, and Debian's sshd_config includes sshd_config.d/*.conf first, so
// that 05- puts these Match blocks before any other.
const (
	DefaultNftablesFile = "/etc/nftables.d/avanti-maint.nft"
	DefaultSSHDFile     = "/etc/ssh/sshd_config.d/05-avanti-maint.conf"
)

func (in Inbound) defaults() Inbound {
	if in.Port == 0 {
		in.Port = 22
	}
	if in.NftablesFile == "" {
		in.NftablesFile = DefaultNftablesFile
	}
	if in.SSHDFile == "" {
		in.SSHDFile = DefaultSSHDFile
	}
	return in
}

var sshdUser = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

func (in Inbound) validate() error {
	var errs []error
	if _, err := sourcePrefix(in.SourceAddress); err != nil {
		errs = append(errs, fmt.Errorf("maint: inbound.source_address: %w", err))
	}
	if in.Port <= 0 || in.Port > 65535 {
		errs = append(errs, fmt.Errorf("maint: inbound.port %d", in.Port))
	}
	if in.User != "" && !sshdUser.MatchString(in.User) {
		errs = append(errs, fmt.Errorf("maint: inbound.user %q is not an account name", in.User))
	}
	if in.AuthorizedKeysFile != "" && (!filepath.IsAbs(in.AuthorizedKeysFile) || strings.ContainsAny(in.AuthorizedKeysFile, " \t\n\"")) {
		errs = append(errs, fmt.Errorf("maint: inbound.authorized_keys_file %q: want an absolute path without spaces", in.AuthorizedKeysFile))
	}
	return errors.Join(errs...)
}

// sourcePrefix reads an address or a prefix.
func sourcePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("empty: one source address is required")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Bits() == 0 {
			return netip.Prefix{}, fmt.Errorf("%s allows every address", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// prefixString writes a single address without its /32 or /128.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

const generatedBy = "written by avanti maint-agent; do not edit, it is rewritten when a maintenance window opens or closes"

// describe is the comment line about the state the files are in.
func describe(w *Window) string {
	if w == nil {
		return "no maintenance window is open: no SSH from outside"
	}
	return fmt.Sprintf("maintenance window %d open until %s (opened by %s: %s)",
		w.ID, w.Until.UTC().Format(time.RFC3339), oneLine(w.OpenedBy), oneLine(w.Reason))
}

// oneLine keeps a free text on its comment line.
func oneLine(s string) string {
	return clip(strings.Join(strings.Fields(s), " "), 120)
}

// NftablesRules renders the nftables file for the window open now (nil:
// none). Load it with `nft -f`: it replaces the table avanti_maint whole.
func NftablesRules(in Inbound, w *Window) (string, error) {
	in = in.defaults()
	if err := in.validate(); err != nil {
		return "", err
	}
	src, _ := sourcePrefix(in.SourceAddress)
	family := "ip"
	if src.Addr().Is6() {
		family = "ip6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Avanti remote maintenance: %s.\n# %s.\n", generatedBy, describe(w))
	// Declaring the table first makes the delete succeed when it did not
	// exist yet: the idiom for replacing a table in one transaction.
	b.WriteString("table inet avanti_maint\ndelete table inet avanti_maint\n\n")
	b.WriteString("table inet avanti_maint {\n")
	b.WriteString("\tchain input {\n")
	b.WriteString("\t\ttype filter hook input priority filter - 10; policy accept;\n")
	b.WriteString("\t\tiif \"lo\" accept\n")
	if w != nil {
		fmt.Fprintf(&b, "\t\t# until %s\n", w.Until.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "\t\ttcp dport %d %s saddr %s meta time < %d accept\n", in.Port, family, prefixString(src), w.Until.Unix())
	}
	fmt.Fprintf(&b, "\t\ttcp dport %d drop\n", in.Port)
	b.WriteString("\t}\n}\n")
	return b.String(), nil
}

// SSHDMatch renders the sshd_config.d snippet for the window open now (nil:
// none). sshd applies the first value it meets for each keyword among the
// Match blocks that apply, so the allowing block comes first.
func SSHDMatch(in Inbound, w *Window) (string, error) {
	in = in.defaults()
	if err := in.validate(); err != nil {
		return "", err
	}
	src, _ := sourcePrefix(in.SourceAddress)
	var b strings.Builder
	fmt.Fprintf(&b, "# Avanti remote maintenance: %s.\n# %s.\n", generatedBy, describe(w))
	user := ""
	if in.User != "" {
		user = "User " + in.User + " "
	}
	if w != nil {
		fmt.Fprintf(&b, "\n# Key-only SSH from %s until %s.\n", prefixString(src), w.Until.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "Match %sAddress %s\n", user, prefixString(src))
		b.WriteString("\tPubkeyAuthentication yes\n")
		b.WriteString("\tAuthenticationMethods publickey\n")
		b.WriteString("\tPasswordAuthentication no\n")
		b.WriteString("\tKbdInteractiveAuthentication no\n")
		if in.AuthorizedKeysFile != "" {
			fmt.Fprintf(&b, "\tAuthorizedKeysFile %s\n", in.AuthorizedKeysFile)
		}
	}
	if w != nil {
		b.WriteString("\n# Anyone else: no way to authenticate.\n")
	} else {
		b.WriteString("\n# No way to authenticate.\n")
	}
	if in.User != "" {
		fmt.Fprintf(&b, "Match User %s\n", in.User)
	} else {
		b.WriteString("Match all\n")
	}
	b.WriteString("\tPubkeyAuthentication no\n")
	b.WriteString("\tPasswordAuthentication no\n")
	b.WriteString("\tKbdInteractiveAuthentication no\n")
	b.WriteString("\tHostbasedAuthentication no\n")
	b.WriteString("\tGSSAPIAuthentication no\n")
	return b.String(), nil
}

// inboundState remembers what was written last, to reload only on change.
type inboundState struct {
	nft, sshd string
	ok        bool
}

// applyInbound writes the two files for w and reloads if they changed.
func (a *Agent) applyInbound(ctx context.Context, in Inbound, w *Window, now time.Time, st *inboundState) {
	nft, err := NftablesRules(in, w)
	if err != nil {
		a.Log.Error("maint: inbound", "err", err)
		return
	}
	sshd, _ := SSHDMatch(in, w)
	if st.ok && st.nft == nft && st.sshd == sshd {
		return
	}
	if err := WriteInbound(in, w); err != nil {
		a.Log.Error("maint: inbound", "err", err)
		st.ok = false
		return
	}
	reload := a.Reload
	if reload == nil {
		reload = func(ctx context.Context) error { return defaultReload(ctx, in.defaults()) }
	}
	if err := reload(ctx); err != nil {
		a.Log.Error("maint: inbound reload", "err", err)
		st.ok = false
		return
	}
	*st = inboundState{nft: nft, sshd: sshd, ok: true}
	a.Log.Info("maint: inbound SSH", "state", describe(w), "source", in.SourceAddress)
}

// WriteInbound writes both files for w (nil: closed), each atomically and
// only if its content changed.
func WriteInbound(in Inbound, w *Window) error {
	in = in.defaults()
	nft, err := NftablesRules(in, w)
	if err != nil {
		return err
	}
	sshd, err := SSHDMatch(in, w)
	if err != nil {
		return err
	}
	for _, f := range []struct{ path, content string }{{in.NftablesFile, nft}, {in.SSHDFile, sshd}} {
		if old, err := os.ReadFile(f.path); err == nil && bytes.Equal(old, []byte(f.content)) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		if err := atomicfile.Write(f.path, []byte(f.content), 0o644); err != nil {
			return fmt.Errorf("maint: write %s: %w", f.path, err)
		}
	}
	return nil
}

// defaultReload loads the nftables file and has sshd reread its
// configuration (sessions already open stay, but their packets meet the
// new rules).
func defaultReload(ctx context.Context, in Inbound) error {
	for _, args := range [][]string{{"nft", "-f", in.NftablesFile}, {"systemctl", "try-reload-or-restart", "ssh"}} {
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}
