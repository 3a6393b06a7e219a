package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"avanti/appliance/atomicfile"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SFTPTarget is the municipality's backup server.
type SFTPTarget struct {
	Addr string // host:port; port 22 when omitted
	User string
	// KeyFile is the appliance's SSH private key (OpenSSH or PEM format,
	// without passphrase); its public key goes into the server's
	// authorized_keys.
	KeyFile string
	// HostKey pins the server's host key: a line as in authorized_keys or
	// known_hosts ("ssh-ed25519 AAAA…"), or a fingerprint ("SHA256:…", as
	// ssh-keygen -lf prints it). Required: a server presenting another key
	// is refused with ErrHostKeyMismatch before anything is sent.
	HostKey string
	// Path is the directory on the server the backups go to (binlogs go
	// to Path/binlogs).
	Path string
	// Timeout bounds connecting and the handshake; default 30 seconds.
	Timeout time.Duration
}

type offsiteConn struct {
	t    *SFTPTarget
	ssh  *ssh.Client
	sftp *sftp.Client
	stop func() bool
	done chan struct{}
}

func (c *offsiteConn) close() {
	c.stop()
	close(c.done)
	c.sftp.Close()
	c.ssh.Close()
}

// keepAlive closes the connection when the server stops answering, as
// OpenSSH's ServerAliveInterval does: a silent network must not hang a
// copy forever.
func keepAlive(client *ssh.Client, conn net.Conn, every time.Duration, done chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		answered := make(chan struct{})
		go func() {
			client.SendRequest("keepalive@openssh.com", true, nil)
			close(answered)
		}()
		select {
		case <-done:
			return
		case <-answered:
		case <-time.After(3 * every):
			conn.Close()
			return
		}
	}
}

// pin parses SFTPTarget.HostKey into the fingerprint to compare with and,
// when a whole key was given, the algorithms to ask the server for.
func pin(hostKey string) (string, []string, error) {
	s := strings.TrimSpace(hostKey)
	if s == "" {
		return "", nil, errors.New("off-site: no pinned host key (HostKey): refusing to connect to an unknown server")
	}
	if strings.HasPrefix(s, "SHA256:") {
		return s, nil, nil
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		var kerr error
		_, _, key, _, _, kerr = ssh.ParseKnownHosts([]byte(s))
		if kerr != nil {
			return "", nil, fmt.Errorf("off-site: pinned host key: %w", err)
		}
	}
	algos := []string{key.Type()}
	if key.Type() == ssh.KeyAlgoRSA {
		algos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return ssh.FingerprintSHA256(key), algos, nil
}

func addrWithPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return net.JoinHostPort(addr, "22")
	}
	return addr
}

// dialOffsite connects to the backup server, refusing a host key other
// than the pinned one.
func dialOffsite(ctx context.Context, t *SFTPTarget) (*offsiteConn, error) {
	want, algos, err := pin(t.HostKey)
	if err != nil {
		return nil, err
	}
	return dial(ctx, t, algos, func(key ssh.PublicKey) error {
		if got := ssh.FingerprintSHA256(key); got != want {
			return fmt.Errorf("%w: %s presented %s %s, but %s is pinned: refusing to connect "+
				"(if the server's key was changed on purpose, pin the new one)", ErrHostKeyMismatch, t.Addr, key.Type(), got, want)
		}
		return nil
	})
}

func dial(ctx context.Context, t *SFTPTarget, algos []string, check func(ssh.PublicKey) error) (*offsiteConn, error) {
	if t.Addr == "" || t.User == "" || t.KeyFile == "" {
		return nil, errors.New("off-site: address, user and key file are required")
	}
	pem, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("off-site: key file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("off-site: key file %s: %w", t.KeyFile, err)
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var keyErr error
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyAlgorithms: algos,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			keyErr = check(key)
			return keyErr
		},
		Timeout: timeout,
	}
	addr := addrWithPort(t.Addr)
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("off-site: connect to %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(timeout))
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		stop()
		conn.Close()
		if keyErr != nil {
			return nil, keyErr
		}
		return nil, fmt.Errorf("off-site: %s: %w", addr, err)
	}
	conn.SetDeadline(time.Time{})
	client := ssh.NewClient(sc, chans, reqs)
	sf, err := sftp.NewClient(client)
	if err != nil {
		stop()
		client.Close()
		return nil, fmt.Errorf("off-site: start SFTP on %s: %w", addr, err)
	}
	c := &offsiteConn{t: t, ssh: client, sftp: sf, stop: stop, done: make(chan struct{})}
	go keepAlive(client, conn, 10*time.Second, c.done)
	return c, nil
}

// ProbeOffsite connects to a backup server without a pinned key and
// returns the host key it presents (authorized_keys format) and its
// fingerprint, for an administrator to compare with the server's own
// (ssh-keygen -lf) and pin; err says whether the appliance's key was
// accepted too.
func ProbeOffsite(ctx context.Context, t SFTPTarget) (hostKey, fingerprint string, err error) {
	var presented ssh.PublicKey
	c, err := dial(ctx, &t, nil, func(k ssh.PublicKey) error { presented = k; return nil })
	if c != nil {
		c.close()
	}
	if presented != nil {
		hostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(presented)))
		fingerprint = ssh.FingerprintSHA256(presented)
	}
	return hostKey, fingerprint, err
}

// upload copies a local file to remote atomically: it is written as
// remote.part, fsynced where the server can, checked for size and renamed.
func (c *offsiteConn) upload(local, remote string) error {
	lf, err := os.Open(local)
	if err != nil {
		return err
	}
	defer lf.Close()
	info, err := lf.Stat()
	if err != nil {
		return err
	}
	part := remote + ".part"
	f, err := c.sftp.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("create %s: %w", part, err)
	}
	f.Chmod(0o600) // backups hold personal data
	if _, err := io.Copy(f, lf); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", part, err)
	}
	if err := syncRemote(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", part, err)
	}
	if ri, err := c.sftp.Stat(part); err != nil || ri.Size() != info.Size() {
		return fmt.Errorf("write %s: the server has %v bytes of %d", part, sizeOf(ri), info.Size())
	}
	if err := c.sftp.PosixRename(part, remote); err != nil {
		// Servers without the posix-rename extension refuse to rename
		// over an existing file.
		c.sftp.Remove(remote)
		if err := c.sftp.Rename(part, remote); err != nil {
			return fmt.Errorf("rename %s: %w", part, err)
		}
	}
	return nil
}

func sizeOf(fi os.FileInfo) any {
	if fi == nil {
		return "no"
	}
	return fi.Size()
}

func syncRemote(f *sftp.File) error {
	err := f.Sync()
	var se *sftp.StatusError
	if err != nil && !(errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported) {
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	return nil
}

// list returns the regular files of a remote directory.
func (c *offsiteConn) list(dir string) (map[string]os.FileInfo, error) {
	entries, err := c.sftp.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]os.FileInfo{}
	for _, e := range entries {
		if e.Mode().IsRegular() {
			out[e.Name()] = e
		}
	}
	return out, nil
}

// Offsite copies to the off-site server every local backup it lacks (the
// archive first, then its manifest and verification), and applies the
// retention there too. Run does it after each backup; the state is kept in
// Dir/offsite.json for ReadStatus. Errors wrap ErrOffsite.
func Offsite(ctx context.Context, opt Options) error {
	if err := opt.check(); err != nil {
		return err
	}
	if opt.Offsite == nil {
		return errors.New("off-site: no off-site server configured")
	}
	unlock, err := lockDir(opt.Dir, false)
	if err != nil {
		return err
	}
	defer unlock()
	return syncOffsite(ctx, &opt)
}

func syncOffsite(ctx context.Context, opt *Options) error {
	var st LastCopy
	readJSON(filepath.Join(opt.Dir, "offsite.json"), &st)
	name, err := copyOffsite(ctx, opt)
	now := opt.now().UTC()
	if err != nil {
		st.Err, st.ErrAt = err.Error(), now
		opt.log().Warn("off-site copy failed", "err", err)
	} else {
		st.At, st.Name, st.Err = now, name, ""
	}
	if werr := writeJSON(filepath.Join(opt.Dir, "offsite.json"), st); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOffsite, err)
	}
	return nil
}

func copyOffsite(ctx context.Context, opt *Options) (string, error) {
	all, err := backups(opt.Dir)
	if err != nil {
		return "", err
	}
	c, err := dialOffsite(ctx, opt.Offsite)
	if err != nil {
		return "", err
	}
	defer c.close()
	root := opt.Offsite.Path
	if root == "" {
		root = "."
	}
	if err := c.sftp.MkdirAll(root); err != nil {
		return "", fmt.Errorf("off-site: create %s: %w", root, err)
	}
	remote, err := c.list(root)
	if err != nil {
		return "", fmt.Errorf("off-site: list %s: %w", root, err)
	}
	last := ""
	for _, m := range all {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		files := []string{m.Archive, m.Name + manifestExt, m.Name + verifiedExt}
		for i, f := range files {
			local := filepath.Join(opt.Dir, f)
			info, err := os.Stat(local)
			if err != nil {
				if i == 2 && os.IsNotExist(err) {
					continue
				}
				return last, err
			}
			// Archives and manifests never change; a verification is
			// sent again when it was made after the copy there.
			if r, ok := remote[f]; ok && r.Size() == info.Size() && (i < 2 || !info.ModTime().After(r.ModTime())) {
				continue
			}
			if err := c.upload(local, path.Join(root, f)); err != nil {
				return last, fmt.Errorf("off-site: %w", err)
			}
		}
		last = m.Name
	}
	if err := pruneRemote(c, root, opt, all); err != nil {
		return last, fmt.Errorf("off-site: retention: %w", err)
	}
	return last, nil
}

// pruneRemote applies the retention to the backups on the server, keeping
// also every backup still kept locally, and removes the binlogs older than
// the oldest backup kept there.
func pruneRemote(c *offsiteConn, root string, opt *Options, local []Manifest) error {
	files, err := c.list(root)
	if err != nil {
		return err
	}
	byName := map[string][]string{}
	for f := range files {
		if n, ok := nameOf(strings.TrimSuffix(f, ".part")); ok {
			byName[n] = append(byName[n], f)
		}
	}
	var names []string
	for n := range byName {
		names = append(names, n)
	}
	keep := keepNames(names, opt.Retention, nil)
	for _, m := range local {
		keep[m.Name] = true
	}
	for n, fs := range byName {
		if keep[n] {
			continue
		}
		for _, f := range fs {
			if err := c.sftp.Remove(path.Join(root, f)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	// Binlogs: those before the oldest kept backup's position are no use.
	var oldest *BinlogPos
	for _, n := range sortedKeys(keep) {
		if !keep[n] {
			continue
		}
		var m Manifest
		if err := readJSON(filepath.Join(opt.Dir, n+manifestExt), &m); err != nil {
			if err := c.readJSON(path.Join(root, n+manifestExt), &m); err != nil {
				return nil // cannot tell: keep every binlog
			}
		}
		if m.Binlog != nil {
			oldest = m.Binlog
		}
		break
	}
	if oldest == nil {
		return nil
	}
	bdir := path.Join(root, binlogDir)
	remoteLogs, err := c.list(bdir)
	if err != nil {
		return nil // none shipped
	}
	base, seq, _ := splitBinlogName(oldest.File)
	for f := range remoteLogs {
		if b, s, ok := splitBinlogName(f); ok && b == base && s < seq {
			c.sftp.Remove(path.Join(bdir, f))
		}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortNames(out)
	return out
}

func (c *offsiteConn) readJSON(p string, v any) error {
	f, err := c.sftp.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// appendBinlogs sends what is new in the local binlog files: binlogs only
// grow, so each file is appended to from the size the server has.
func (c *offsiteConn) appendBinlogs(dir string, sent map[string]int64) error {
	local, err := localBinlogs(dir)
	if err != nil {
		return err
	}
	rdir := path.Join(c.t.Path, binlogDir)
	if c.t.Path == "" {
		rdir = binlogDir
	}
	if err := c.sftp.MkdirAll(rdir); err != nil {
		return err
	}
	for _, f := range local {
		have, ok := sent[f.name]
		if !ok {
			if fi, err := c.sftp.Stat(path.Join(rdir, f.name)); err == nil {
				have = fi.Size()
			}
		}
		if f.size <= have {
			sent[f.name] = have
			continue
		}
		if err := c.appendFile(filepath.Join(dir, binlogDir, f.name), path.Join(rdir, f.name), have, f.size); err != nil {
			delete(sent, f.name)
			return err
		}
		sent[f.name] = f.size
	}
	return nil
}

func (c *offsiteConn) appendFile(local, remote string, from, to int64) error {
	lf, err := os.Open(local)
	if err != nil {
		return err
	}
	defer lf.Close()
	f, err := c.sftp.OpenFile(remote, os.O_WRONLY|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("open %s: %w", remote, err)
	}
	if from == 0 {
		f.Chmod(0o600)
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	if _, err := io.Copy(f, io.NewSectionReader(lf, from, to-from)); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", remote, err)
	}
	if err := syncRemote(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (s *shipper) shipOffsite(ctx context.Context, c *offsiteConn) *offsiteConn {
	record := func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.status.Offsite.Err, s.status.Offsite.ErrAt = err.Error(), s.opt.now().UTC()
			s.opt.log().Warn("binlogs: off-site copy", "err", err)
			return
		}
		s.status.Offsite.At, s.status.Offsite.Err = s.opt.now().UTC(), ""
		s.status.Offsite.Name = s.status.LastFile
	}
	if c == nil {
		var err error
		if c, err = dialOffsite(ctx, s.opt.Offsite); err != nil {
			record(err)
			return nil
		}
	}
	if s.offsite == nil {
		s.offsite = map[string]int64{}
	}
	if err := c.appendBinlogs(s.opt.Dir, s.offsite); err != nil {
		record(err)
		c.close()
		return nil
	}
	record(nil)
	return c
}

// Fetch copies from the off-site server the backups (archives, manifests,
// verifications) and binlogs that Dir lacks: the first step of a restore
// onto a fresh appliance after the old one was lost. It returns the names
// of the files copied.
func Fetch(ctx context.Context, opt Options) ([]string, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	if opt.Offsite == nil {
		return nil, errors.New("off-site: no off-site server configured")
	}
	if err := os.MkdirAll(filepath.Join(opt.Dir, binlogDir), 0o700); err != nil {
		return nil, err
	}
	unlock, err := lockDir(opt.Dir, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c, err := dialOffsite(ctx, opt.Offsite)
	if err != nil {
		return nil, err
	}
	defer c.close()
	root := opt.Offsite.Path
	if root == "" {
		root = "."
	}
	var got []string
	for _, sub := range []string{"", binlogDir} {
		rdir := path.Join(root, sub)
		files, err := c.list(rdir)
		if err != nil {
			if sub == binlogDir {
				continue
			}
			return got, fmt.Errorf("off-site: list %s: %w", rdir, err)
		}
		// Archives before manifests, so a manifest never points at
		// nothing if the copy stops midway.
		var names []string
		for f := range files {
			names = append(names, f)
		}
		sortForFetch(names)
		for _, f := range names {
			if sub == "" {
				if _, ok := nameOf(f); !ok {
					continue
				}
			} else if _, _, ok := splitBinlogName(f); !ok {
				continue
			}
			local := filepath.Join(opt.Dir, sub, f)
			if fi, err := os.Stat(local); err == nil && fi.Size() >= files[f].Size() {
				continue
			}
			if err := c.download(ctx, path.Join(rdir, f), local); err != nil {
				return got, fmt.Errorf("off-site: %w", err)
			}
			got = append(got, path.Join(sub, f))
		}
	}
	return got, nil
}

func sortForFetch(names []string) {
	rank := func(s string) int {
		switch {
		case strings.HasSuffix(s, verifiedExt):
			return 2
		case strings.HasSuffix(s, manifestExt):
			return 1
		}
		return 0
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && (rank(names[j]) < rank(names[j-1]) || rank(names[j]) == rank(names[j-1]) && names[j] < names[j-1]); j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
}

func (c *offsiteConn) download(ctx context.Context, remote, local string) error {
	rf, err := c.sftp.Open(remote)
	if err != nil {
		return err
	}
	defer rf.Close()
	f, err := atomicfile.Create(local, 0o600)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := io.Copy(f, rf); err != nil {
		return fmt.Errorf("read %s: %w", remote, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return f.Commit()
}
