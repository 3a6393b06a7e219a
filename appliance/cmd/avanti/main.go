// Command avanti is the appliance: its server and its administration
// commands, in one binary.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // agendas are in local time wherever the binary runs

	"github.com/spf13/cobra"

	"avanti/appliance/auth"
	"avanti/appliance/config"
	"avanti/appliance/demo"
	"avanti/appliance/fault"
	"avanti/appliance/server"
	"avanti/appliance/store"
	"avanti/console"
	"avanti/kiosk"
	"avanti/signage"
)

func main() {
	if err := root().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "avanti:", err)
		os.Exit(1)
	}
}

func root() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "avanti",
		Short:         "Avanti, the municipal reception and queue-management appliance",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	config.BindFlags(cmd.PersistentFlags())
	user := &cobra.Command{Use: "user", Short: "Manage staff accounts"}
	user.AddCommand(userAdd())
	device := &cobra.Command{Use: "device", Short: "Manage totems and displays"}
	device.AddCommand(deviceAdd(), devicePair())
	cmd.AddCommand(serve(), migrate(), demoCmd(), setupCmd(), user, device, version(),
		maintAgentCmd(), updateCmd(), backupCmd(), restoreCmd(), alertCmd(), tlsCmd())
	cmd.AddCommand(systemCmd(), consoleUICmd())
	return cmd
}

// setup loads the configuration, the logger and the store.
func setup(cmd *cobra.Command) (config.Config, *store.Store, *slog.Logger, error) {
	cfg, err := config.Load(cmd.Flags())
	if err != nil {
		return cfg, nil, nil, err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return cfg, nil, nil, fmt.Errorf("log_level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	st, err := store.Open(cmd.Context(), cfg.DSN)
	if err != nil {
		return cfg, nil, nil, err
	}
	return cfg, st, log, nil
}

func serve() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Migrate the database and serve the appliance",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg, st, log, err := setup(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
			}
			log.Info("avanti serving", "url", cfg.PublicURL(), "version", server.Version, "api", cfg.PublicURL()+"/api/v1/openapi.yaml")
			srv, err := server.New(cfg, st, nil, log, server.Mounts{"/display/": signage.Handler(), "/kiosk/": kiosk.Handler(), "/console/": console.Handler()})
			if err != nil {
				return err
			}
			return srv.Serve(ctx, ln)
		},
	}
}

func migrate() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, _, err := setup(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(cmd.Context()); err != nil {
				return err
			}
			v, err := st.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Printf("database schema at version %d\n", v)
			return nil
		},
	}
}

func demoCmd() *cobra.Command {
	var ifEmpty bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Load the demo municipality and print its credentials",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, _, err := setup(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			if err := st.Migrate(ctx); err != nil {
				return err
			}
			empty, err := st.Empty(ctx)
			if err != nil {
				return err
			}
			if !empty {
				if !ifEmpty {
					return errors.New("the database already holds data; use --if-empty to skip loading")
				}
				b, err := os.ReadFile(cfg.Credentials)
				if err != nil {
					fmt.Println("The database already holds data; demo credentials file not found at", cfg.Credentials)
					return nil
				}
				fmt.Printf("Demo data already loaded. Credentials (%s):\n%s\n", cfg.Credentials, b)
				return nil
			}
			d, err := demo.Load(ctx, st, time.Now().UTC(), cfg.HorizonDays)
			if err != nil {
				return fmt.Errorf("load demo data: %w", err)
			}
			d.Credentials.BaseURL = cfg.PublicURL()
			d.Credentials.URLs = map[string]string{
				"api":     cfg.PublicURL() + "/api/v1/openapi.yaml",
				"display": cfg.PublicURL() + "/display/?token=" + d.Credentials.DisplayToken,
				"kiosk":   cfg.PublicURL() + "/kiosk/?token=" + d.Credentials.KioskToken,
				"console": cfg.PublicURL() + "/console/",
			}
			b, _ := json.MarshalIndent(d.Credentials, "", "  ")
			if err := os.MkdirAll(filepath.Dir(cfg.Credentials), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(cfg.Credentials, append(b, '\n'), 0o600); err != nil {
				return fmt.Errorf("write credentials: %w", err)
			}
			fmt.Printf("Demo data loaded. Credentials (also in %s):\n%s\n", cfg.Credentials, b)
			return nil
		},
	}
	cmd.Flags().BoolVar(&ifEmpty, "if-empty", false, "load only into an empty database; otherwise print the saved credentials")
	return cmd
}

func userAdd() *cobra.Command {
	var username, role, name, password string
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a staff account (prints a generated password unless --password is given)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, _, err := setup(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			owner, err := st.FirstOwner(ctx)
			if err != nil {
				return err
			}
			generated := password == ""
			if generated {
				password = auth.Token(12)
			} else if err := auth.CheckPasswordRules(password); err != nil {
				return err
			}
			hash, err := auth.HashPassword(password)
			if err != nil {
				return err
			}
			u, err := st.CreateUser(ctx, store.User{OwnerID: owner.ID, Username: username, DisplayName: name, Role: role, PasswordHash: hash}, time.Now().UTC())
			if err != nil {
				return describe(err)
			}
			fmt.Printf("user %s (%s) created with id %d\n", u.Username, u.Role, u.ID)
			if generated {
				fmt.Printf("password: %s\n", password)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "login name (required)")
	cmd.Flags().StringVar(&role, "role", "operator", "admin, backoffice or operator")
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().StringVar(&password, "password", "", "password (at least 10 characters); generated if empty")
	cmd.MarkFlagRequired("username")
	return cmd
}

// setupCmd does the first-boot setup without a browser, for automated
// installs (a cloud-init NoCloud seed runs it).
func setupCmd() *cobra.Command {
	var owner, site, address, tz, username, passwordFile string
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "First-boot setup without the browser: organisation, site and administrator",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, _, err := setup(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			if err := st.Migrate(ctx); err != nil {
				return err
			}
			pw, err := os.ReadFile(passwordFile)
			if err != nil {
				return fmt.Errorf("admin password file: %w", err)
			}
			password := strings.TrimRight(string(pw), "\r\n")
			if err := auth.CheckPasswordRules(password); err != nil {
				return describe(err)
			}
			hash, err := auth.HashPassword(password)
			if err != nil {
				return err
			}
			u, err := st.Initialise(ctx, store.Initial{OwnerName: owner, SiteName: site, Address: address, Timezone: tz,
				AdminUsername: username, PasswordHash: hash}, time.Now().UTC())
			if err != nil {
				return describe(err)
			}
			fmt.Printf("set up: organisation %q, administrator %q\n", owner, u.Username)
			return nil
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "the organisation, e.g. \"COMUNE DI CREMA\" (required)")
	cmd.Flags().StringVar(&site, "site", "Municipio", "the first site's name")
	cmd.Flags().StringVar(&address, "address", "", "the site's address")
	cmd.Flags().StringVar(&tz, "timezone", "Europe/Rome", "the site's time zone")
	cmd.Flags().StringVar(&username, "admin", "admin", "the administrator's username")
	cmd.Flags().StringVar(&passwordFile, "admin-password-file", "", "a file holding the administrator's password (required; never on the command line)")
	cmd.MarkFlagRequired("owner")
	cmd.MarkFlagRequired("admin-password-file")
	return cmd
}

// deviceDefaults are what a new device gets when the command line leaves
// them out: the appliance's organisation, its first room, a dated name.
func deviceDefaults(ctx context.Context, st *store.Store, kind, name string, room int64) (store.Owner, int64, string, error) {
	owner, err := st.FirstOwner(ctx)
	if err != nil {
		return owner, 0, "", err
	}
	if room == 0 {
		if room, err = st.FirstRoom(ctx, owner.ID); err != nil {
			return owner, 0, "", err
		}
	}
	if name == "" {
		name = kind + " " + time.Now().Format("2006-01-02 15:04")
	}
	return owner, room, name, nil
}

func devicePair() *cobra.Command {
	var kind, name string
	var room int64
	cmd := &cobra.Command{
		Use:   "pair CODE",
		Short: "Pair the screen or totem that shows CODE: it gets its own credential",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, st, _, err := setup(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			owner, room, name, err := deviceDefaults(ctx, st, kind, name, room)
			if err != nil {
				return err
			}
			d, err := st.ClaimPairing(ctx, args[0], kind, name, owner.ID, room, time.Now().UTC())
			if err != nil {
				return describe(err)
			}
			fmt.Printf("%s %q paired with id %d; the screen picks up its credential within seconds\n", d.Kind, d.Name, d.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "display", "kiosk or display: what the device showing the code is")
	cmd.Flags().StringVar(&name, "name", "", "a name to recognise the device")
	cmd.Flags().Int64Var(&room, "room", 0, "room id (default: the first room)")
	return cmd
}

func deviceAdd() *cobra.Command {
	var kind, name string
	var room int64
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Register a totem or display and print its token",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, _, err := setup(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			owner, room, name, err := deviceDefaults(ctx, st, kind, name, room)
			if err != nil {
				return err
			}
			token := auth.Token(32)
			d, err := st.CreateDevice(ctx, store.Device{OwnerID: owner.ID, RoomID: room, Kind: kind, Name: name}, token, time.Now().UTC())
			if err != nil {
				return describe(err)
			}
			fmt.Printf("%s %q registered with id %d\ntoken: %s\n", d.Kind, d.Name, d.ID, token)
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "kiosk or display (required)")
	cmd.Flags().StringVar(&name, "name", "", "a name to recognise the device")
	cmd.Flags().Int64Var(&room, "room", 0, "room id (default: the first room)")
	cmd.MarkFlagRequired("kind")
	return cmd
}

func version() *cobra.Command {
	return &cobra.Command{Use: "version", Short: "Print the version", Run: func(*cobra.Command, []string) { fmt.Println(server.Version) }}
}

// describe turns a domain error into a sentence for the terminal.
func describe(err error) error {
	if f, ok := fault.As(err); ok {
		if f.Field != "" {
			return fmt.Errorf("%s: %s", strings.ReplaceAll(f.Field, "_", "-"), f.Message)
		}
		return errors.New(f.Message)
	}
	return err
}
