package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"avanti/appliance/backup"
	"avanti/appliance/config"
	"avanti/appliance/maint"
	"avanti/appliance/server"
	"avanti/appliance/store"
	"avanti/appliance/update"
)

// maintAgentCmd runs the remote-maintenance agent: it waits for a window
// opened by an admin and only then dials the vendor's bastion.
func maintAgentCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "maint-agent",
		Short: "Run the remote-maintenance agent (connects only while a maintenance window is open)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg, st, log, err := setup(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			mc := cfg.Maint
			mc.KeyDir = cfg.MaintKeyDir()
			if mc.RecordDir == "" {
				mc.RecordDir = filepath.Join(mc.KeyDir, "recordings")
			}
			// The key exists before any window, and before the agent is
			// configured, so the console can show it to give to the vendor.
			if _, err := maint.LoadOrCreateKey(mc.KeyDir); err != nil {
				return err
			}
			if !mc.Enabled() {
				fmt.Println("maint-agent: no bastion or inbound SSH configured: nothing to do")
				return nil
			}
			a := &maint.Agent{Config: mc, Windows: windows{st}, Commands: selfCommands{cfg}, Audit: auditSink{st}, Log: log}
			// The agent asks the database every second (maint.DefaultPoll);
			// SIGHUP makes it ask now.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			go func() {
				for range hup {
					a.Wake()
				}
			}()
			return a.Run(ctx)
		},
	}
}

// windows reads maintenance windows from the database.
type windows struct{ st *store.Store }

func (w windows) OpenWindow(ctx context.Context, now time.Time) (*maint.Window, error) {
	cur, err := w.st.CurrentMaintWindow(ctx, now)
	if err != nil || cur == nil {
		return nil, err
	}
	return &maint.Window{ID: cur.ID, OpenedBy: cur.OpenedBy, Reason: cur.Reason, From: cur.From, Until: cur.Until}, nil
}

// auditSink writes the agent's events into the appliance's audit log.
type auditSink struct{ st *store.Store }

func (a auditSink) Record(ctx context.Context, e maint.Event) error {
	owner, err := a.st.FirstOwner(ctx)
	if err != nil {
		return err
	}
	return a.st.Audit(ctx, owner.ID, e.Actor(), e.Action, "maint_window", e.Window.ID, nil, e, e.At)
}

// selfCommands are the maintenance commands, run as this same binary's
// subcommands (or the system's tools), so an engineer gets exactly what an
// administrator at the console would.
type selfCommands struct{ cfg config.Config }

func run(ctx context.Context, out io.Writer, name string, args ...string) error {
	c := exec.CommandContext(ctx, name, args...)
	c.Stdout, c.Stderr = out, out
	return c.Run()
}

func self() string {
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return "avanti"
}

func (s selfCommands) Status(ctx context.Context, out io.Writer) error {
	fmt.Fprintf(out, "avanti %s\n", server.Version)
	return run(ctx, out, "systemctl", "--no-pager", "status", "avanti")
}

func (s selfCommands) Logs(ctx context.Context, out io.Writer, lines int) error {
	return run(ctx, out, "journalctl", "--no-pager", "-u", "avanti", "-n", strconv.Itoa(lines))
}

func (s selfCommands) BackupNow(ctx context.Context, out io.Writer) error {
	return run(ctx, out, self(), "backup", "run")
}

func (s selfCommands) VerifyBackup(ctx context.Context, out io.Writer) error {
	return run(ctx, out, self(), "backup", "verify")
}

func (s selfCommands) ApplyUpdate(ctx context.Context, out io.Writer, bundle string) error {
	return run(ctx, out, self(), "update", "apply", bundle)
}

func (s selfCommands) Restart(ctx context.Context, out io.Writer) error {
	return run(ctx, out, "systemctl", "restart", "avanti")
}

func updateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "update", Short: "Signed updates: apply a bundle, sign one, see the history"}
	var allowDowngrade bool
	apply := &cobra.Command{
		Use:   "apply BUNDLE",
		Short: "Install an update bundle signed by the vendor; rolls back if the new version is not healthy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, st, _, err := setup(cmd)
			if err != nil {
				return err
			}
			st.Close()
			var keys []ed25519.PublicKey
			for _, k := range cfg.Update.PublicKeys {
				pk, err := update.ParsePublicKey(k)
				if err != nil {
					return fmt.Errorf("update.public_keys: %w", err)
				}
				keys = append(keys, pk)
			}
			if len(keys) == 0 {
				return errors.New("no update.public_keys in the configuration: no bundle can be trusted")
			}
			scheme := "http"
			if cfg.TLSCertFile != "" {
				scheme = "https"
			}
			// The appliance checks its own health on its own certificate.
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
			e, err := update.Apply(cmd.Context(), args[0], update.Options{
				PublicKeys: keys, BinaryPath: self(), CurrentVersion: server.Version, AllowDowngrade: allowDowngrade,
				Preflight: update.ExecVersion, Backup: preUpdateBackup(cfg), Migrate: update.ExecMigrate,
				Restart: update.SystemctlRestart("avanti"), Health: update.HTTPHealth(client, scheme+"://"+localAddr(cfg.Listen)+"/healthz"),
				History: update.FileHistory{Path: cfg.UpdateHistoryPath()}, Progress: os.Stdout,
			})
			fmt.Printf("%s %s → %s: %s\n", e.At.Format(time.RFC3339), e.From, e.Version, e.Result)
			return err
		},
	}
	apply.Flags().BoolVar(&allowDowngrade, "allow-downgrade", false, "accept a bundle older than the running version")
	var keyFile, version, out string
	sign := &cobra.Command{
		Use:   "sign DIR",
		Short: "Make a bundle of DIR (avanti binary, provisioning/) signed with the vendor's key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			k, err := update.ParsePrivateKey(b)
			if err != nil {
				return err
			}
			m, err := update.SignFile(out, args[0], version, k, time.Now().UTC())
			if err != nil {
				return err
			}
			fmt.Printf("%s: version %s, %d files, signed by %s\n", out, m.Version, len(m.Files), update.KeyID(k.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	sign.Flags().StringVar(&keyFile, "key", "", "the vendor's private key (PEM, from update keygen)")
	sign.Flags().StringVar(&version, "version", "", "the bundle's version")
	sign.Flags().StringVar(&out, "out", "avanti-update.tar.gz", "the bundle to write")
	sign.MarkFlagRequired("key")
	sign.MarkFlagRequired("version")
	keygen := &cobra.Command{
		Use:   "keygen FILE",
		Short: "Make a vendor signing key: the private key to FILE, the public key (for update.public_keys) printed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			b, err := update.MarshalPrivateKey(priv)
			if err != nil {
				return err
			}
			if err := os.WriteFile(args[0], b, 0o600); err != nil {
				return err
			}
			fmt.Println(update.MarshalPublicKey(pub))
			return nil
		},
	}
	history := &cobra.Command{
		Use:   "history",
		Short: "Every update attempt, newest first",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			list, err := update.FileHistory{Path: cfg.UpdateHistoryPath()}.List()
			if err != nil {
				return err
			}
			for _, e := range list {
				fmt.Printf("%s  %s → %s  %s  %s\n", e.At.Format(time.RFC3339), e.From, e.Version, e.Result, e.Reason)
			}
			return nil
		},
	}
	cmd.AddCommand(apply, sign, keygen, history)
	return cmd
}

// localAddr is the listen address as the appliance itself reaches it.
func localAddr(listen string) string {
	if len(listen) > 0 && listen[0] == ':' {
		return "127.0.0.1" + listen
	}
	if h, p, ok := cutHostPort(listen); ok && (h == "0.0.0.0" || h == "") {
		return "127.0.0.1:" + p
	}
	return listen
}

func cutHostPort(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// backupOptions turns the configuration into the backup library's options.
func backupOptions(cfg config.Config) backup.Options {
	o := backup.Options{DSN: cfg.DSN, DataDir: cfg.DataDir, ConfigFile: cfg.ConfigFilePath, Dir: cfg.BackupDir(),
		Recipients: cfg.Backup.Recipients, Identities: cfg.Backup.Identities, AppVersion: server.Version,
		Retention: backup.Retention{Daily: cfg.Backup.Daily, Weekly: cfg.Backup.Weekly, Monthly: cfg.Backup.Monthly},
		Log:       slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if off := cfg.Backup.Offsite; off != nil && off.Addr != "" {
		o.Offsite = &backup.SFTPTarget{Addr: off.Addr, User: off.User, KeyFile: off.KeyFile, HostKey: off.HostKey, Path: off.Path}
	}
	return o
}

// keepOwner gives what a command run as root created in each directory (and
// the directory itself) to the owner of the directory above it. The
// backups and the data directory belong to the appliance's user (the
// server, the backup timer and the binlog shipping run as avanti); a backup
// taken as root (an administrator, the maintenance agent's backup-now, an
// update's backup first) would otherwise leave files the next nightly
// backup cannot lock or read, or certificates the server cannot load after
// a restore.
func keepOwner(dirs ...string) {
	if os.Geteuid() != 0 {
		return
	}
	for _, dir := range dirs {
		fi, err := os.Stat(filepath.Dir(dir))
		if err != nil {
			continue
		}
		owner, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || owner.Uid == 0 {
			continue
		}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
					os.Lchown(p, int(owner.Uid), int(owner.Gid))
				}
			}
			return nil
		})
	}
}

// progressBar prints a progress line to stderr, for a person at a terminal.
func progressBar(what string) func(done, total int64) {
	last := time.Time{}
	return func(done, total int64) {
		if time.Since(last) < 200*time.Millisecond && done < total {
			return
		}
		last = time.Now()
		pct := 0
		if total > 0 {
			pct = int(done * 100 / total)
		}
		bar := make([]byte, 30)
		for i := range bar {
			bar[i] = ' '
			if i < pct*30/100 {
				bar[i] = '#'
			}
		}
		fmt.Fprintf(os.Stderr, "\r%s [%s] %3d%% %d MB", what, bar, pct, done>>20)
		if done >= total && total > 0 {
			fmt.Fprintln(os.Stderr)
		}
	}
}

// preUpdateBackup takes a backup before an update and says how to restore
// it if the new version fails.
func preUpdateBackup(cfg config.Config) func(ctx context.Context) (func(ctx context.Context) error, error) {
	return func(ctx context.Context) (func(ctx context.Context) error, error) {
		o := backupOptions(cfg)
		m, err := backup.Run(ctx, o)
		keepOwner(o.Dir)
		if err != nil {
			return nil, err
		}
		// The snapshot alone: replaying the binary logs would replay the
		// failed update's own migrations.
		return func(ctx context.Context) error {
			_, err := backup.RestoreSnapshot(ctx, o, m.Name, false)
			keepOwner(restoredDirs(o)...)
			return err
		}, nil
	}
}

func backupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Backups: take one (verified), verify, status, ship binary logs"}
	var noVerify bool
	runCmd := &cobra.Command{
		Use:   "run",
		Short: "Take a consistent backup while the appliance serves, verify it, copy it off site, apply retention",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			o := backupOptions(cfg)
			o.Progress = progressBar("backup")
			defer keepOwner(o.Dir)
			m, err := backup.Run(cmd.Context(), o)
			// A failed off-site copy still leaves a complete local backup:
			// verify it, then report the copy's failure.
			offsiteErr := error(nil)
			if errors.Is(err, backup.ErrOffsite) {
				offsiteErr, err = err, nil
			}
			if err != nil {
				return err
			}
			fmt.Printf("backup %s: %s\n", m.Name, filepath.Join(o.Dir, m.Archive))
			if !noVerify {
				v, err := backup.Verify(cmd.Context(), o, filepath.Join(o.Dir, m.Archive))
				if err != nil {
					return fmt.Errorf("verify %s: %w", m.Name, err)
				}
				fmt.Printf("verified: %+v\n", v.OK)
			}
			if offsiteErr != nil {
				return fmt.Errorf("off-site copy: %w", offsiteErr)
			}
			if o.Offsite != nil {
				// Again, for the verification record.
				if err := backup.Offsite(cmd.Context(), o); err != nil {
					return fmt.Errorf("off-site copy: %w", err)
				}
				fmt.Println("copied off site")
			}
			return nil
		},
	}
	runCmd.Flags().BoolVar(&noVerify, "no-verify", false, "skip the restore test (the timer always verifies)")
	verifyCmd := &cobra.Command{
		Use:   "verify [ARCHIVE]",
		Short: "Restore a backup (default: the latest) into a scratch database and compare it table by table",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			o := backupOptions(cfg)
			archive, err := archiveArg(o, args)
			if err != nil {
				return err
			}
			defer keepOwner(o.Dir)
			v, err := backup.Verify(cmd.Context(), o, archive)
			if err != nil {
				return err
			}
			fmt.Printf("%s verified: %v\n", filepath.Base(archive), v.OK)
			return nil
		},
	}
	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "Last backup, last verified backup, off-site copy",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			s, err := backup.ReadStatus(backupOptions(cfg))
			if err != nil {
				return err
			}
			fmt.Printf("%+v\nstale: %v\n", s, backup.Stale(s, time.Now()))
			return nil
		},
	}
	shipCmd := &cobra.Command{
		Use:   "ship-binlogs",
		Short: "Copy the database's binary logs continuously (point-in-time recovery); runs until stopped",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			o := backupOptions(cfg)
			defer keepOwner(o.Dir)
			return backup.ShipBinlogs(ctx, o)
		},
	}
	cmd.AddCommand(runCmd, verifyCmd, statusCmd, shipCmd)
	return cmd
}

func restoreCmd() *cobra.Command {
	var to string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "restore [ARCHIVE]",
		Short: "Restore the latest backup (or ARCHIVE), up to the latest moment or --to a point in time",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			o := backupOptions(cfg)
			o.Progress = progressBar("restore")
			archive, err := archiveArg(o, args)
			if err != nil {
				return err
			}
			defer keepOwner(restoredDirs(o)...)
			var target time.Time
			if to != "" {
				if target, err = time.Parse(time.RFC3339, to); err != nil {
					return fmt.Errorf("--to: a time such as 2026-12-02T10:15:00+01:00: %w", err)
				}
			}
			plan, err := backup.Restore(cmd.Context(), o, archive, target, dryRun)
			if err != nil {
				return err
			}
			fmt.Printf("%+v\n", plan)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "restore up to this moment (RFC 3339), replaying the binary logs")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be restored, change nothing")
	return cmd
}

// restoredDirs are where a restore writes files: the backups (its lock) and
// the data directory's backed-up parts (not all of it: the maintenance
// agent's key directory there is root's on purpose).
func restoredDirs(o backup.Options) []string {
	dirs := []string{o.Dir}
	for _, d := range backup.DataSubdirs {
		dirs = append(dirs, filepath.Join(o.DataDir, d))
	}
	return dirs
}

// archiveArg is the archive named, or "" (the backup library's "latest").
func archiveArg(_ backup.Options, args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	return "", nil
}
