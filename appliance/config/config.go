// Package config reads the appliance's settings: defaults, then an optional
// YAML file, then AVANTI_* environment variables, then command-line flags,
// each overriding the one before.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"avanti/appliance/alert"
	"avanti/appliance/directory"
	"avanti/appliance/maint"
)

// Config is every setting of the appliance. The yaml tag is the key in the
// config file; the environment variable is AVANTI_ + the key upper-cased.
type Config struct {
	DSN           string        `yaml:"dsn" help:"MariaDB/MySQL DSN (go-sql-driver format), e.g. user:pass@tcp(127.0.0.1:3306)/avanti"`
	Listen        string        `yaml:"listen" help:"address the HTTP server listens on"`
	BaseURL       string        `yaml:"base_url" help:"URL citizens and devices reach the appliance at (printed URLs, QR codes)"`
	HorizonDays   int           `yaml:"horizon_days" help:"how many days of slots are precomputed"`
	RetentionDays int           `yaml:"retention_days" help:"days after an appointment before the citizen's personal data is erased"`
	SessionIdle   time.Duration `yaml:"session_idle" help:"staff sessions end after this much inactivity"`
	SessionMax    time.Duration `yaml:"session_max" help:"staff sessions end after this long in any case"`
	CookieSecure  string        `yaml:"cookie_secure" help:"Secure flag of the session cookie: auto (when served over HTTPS), always, never"`
	LogLevel      string        `yaml:"log_level" help:"debug, info, warn or error"`
	MetricsToken  string        `yaml:"metrics_token" help:"if set, /metrics needs Authorization: Bearer <token>"`
	LoginFailures int           `yaml:"login_failures" help:"failed passwords before an account is locked"`
	LoginLockout  time.Duration `yaml:"login_lockout" help:"how long a locked account stays locked"`
	Credentials   string        `yaml:"credentials_file" help:"where 'avanti demo' writes the demo credentials"`
	DataDir       string        `yaml:"data_dir" help:"where the appliance keeps uploaded media and the cache of spoken announcements"`
	TLSCertFile   string        `yaml:"tls_cert_file" help:"PEM certificate (chain) to serve HTTPS with; \"auto\": the appliance's own CA and certificate in data_dir/tls; empty serves plain HTTP"`
	TLSKeyFile    string        `yaml:"tls_key_file" help:"PEM private key of tls_cert_file"`
	RedirectHTTP  string        `yaml:"redirect_http" help:"with HTTPS, an address (e.g. :80) that answers plain HTTP with a redirect to HTTPS"`
	// Directory is the municipality's LDAP / Active Directory, set in the
	// config file only (it has a map of groups); its bind password may
	// also come from AVANTI_DIRECTORY_BIND_PASSWORD, never from a flag.
	Directory directory.Config `yaml:"directory" flag:"-"`
	// Maint is the remote-maintenance agent (off unless a bastion or
	// inbound SSH is configured); Update the keys updates must be signed
	// with. Both from the config file only.
	Maint          maint.Config `yaml:"maint" flag:"-"`
	Update         UpdateConfig `yaml:"update" flag:"-"`
	Backup         BackupConfig `yaml:"backup" flag:"-"`
	ConfigFilePath string       `yaml:"-"`

	// Mail is the SMTP server the alerts to the admins go through, from
	// the config file only; its password may also come from
	// AVANTI_MAIL_PASSWORD, never from a flag.
	Mail alert.MailConfig `yaml:"mail" flag:"-"`
}

// Default is the configuration before any file, environment or flag.
func Default() Config {
	return Config{
		DSN:           "avanti:avanti@tcp(127.0.0.1:3307)/avanti",
		Listen:        "127.0.0.1:8080",
		HorizonDays:   180,
		RetentionDays: 30,
		SessionIdle:   2 * time.Hour,
		SessionMax:    12 * time.Hour,
		CookieSecure:  "auto",
		LogLevel:      "info",
		LoginFailures: 5,
		LoginLockout:  15 * time.Minute,
		Credentials:   "var/demo-credentials.json",
		DataDir:       "var",
	}
}

// BindFlags declares one flag per setting on fs, plus --config.
func BindFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML config file (also AVANTI_CONFIG)")
	v := reflect.ValueOf(Default())
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("yaml")
		if key == "-" || f.Tag.Get("flag") == "-" {
			continue
		}
		help := f.Tag.Get("help") + " (env AVANTI_" + strings.ToUpper(key) + ")"
		fs.String(strings.ReplaceAll(key, "_", "-"), "", help+fmt.Sprintf(" [default %v]", v.Field(i).Interface()))
	}
}

// Load builds the configuration from its four layers.
func Load(fs *pflag.FlagSet) (Config, error) {
	cfg := Default()
	path := os.Getenv("AVANTI_CONFIG")
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
			path = f.Value.String()
		}
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", path, err)
		}
		cfg.ConfigFilePath = path
	}
	v := reflect.ValueOf(&cfg).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		key := t.Field(i).Tag.Get("yaml")
		if key == "-" || t.Field(i).Tag.Get("flag") == "-" {
			continue
		}
		if s, ok := os.LookupEnv("AVANTI_" + strings.ToUpper(key)); ok {
			if err := set(v.Field(i), s); err != nil {
				return cfg, fmt.Errorf("AVANTI_%s: %w", strings.ToUpper(key), err)
			}
		}
		if fs != nil {
			if f := fs.Lookup(strings.ReplaceAll(key, "_", "-")); f != nil && f.Changed {
				if err := set(v.Field(i), f.Value.String()); err != nil {
					return cfg, fmt.Errorf("--%s: %w", f.Name, err)
				}
			}
		}
	}
	if s, ok := os.LookupEnv("AVANTI_DIRECTORY_BIND_PASSWORD"); ok {
		cfg.Directory.BindPassword = s
	}
	if s, ok := os.LookupEnv("AVANTI_MAIL_PASSWORD"); ok {
		cfg.Mail.Password = alert.Secret(s)
	}
	return cfg, cfg.validate()
}

func set(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case string:
		f.SetString(s)
	case int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		f.SetInt(int64(n))
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 90m or 2h, got %q", s)
		}
		f.SetInt(int64(d))
	}
	return nil
}

func (c Config) validate() error {
	switch {
	case c.DSN == "":
		return fmt.Errorf("dsn: required")
	case c.HorizonDays < 1 || c.HorizonDays > 731:
		return fmt.Errorf("horizon_days: must be 1 to 731")
	case c.RetentionDays < 1:
		return fmt.Errorf("retention_days: must be at least 1")
	case c.CookieSecure != "auto" && c.CookieSecure != "always" && c.CookieSecure != "never":
		return fmt.Errorf("cookie_secure: must be auto, always or never")
	}
	if (c.TLSCertFile == "" || c.TLSCertFile == "auto") != (c.TLSKeyFile == "") {
		return fmt.Errorf("tls_cert_file and tls_key_file: give both, or neither (or tls_cert_file: auto)")
	}
	if c.Directory.URL != "" {
		if err := c.Directory.Validate(); err != nil {
			return fmt.Errorf("directory: %w", err)
		}
	}
	if c.Mail.Enabled() {
		if err := c.Mail.Validate(); err != nil {
			return fmt.Errorf("mail: %w", err)
		}
	}
	return nil
}

// BackupConfig says where backups go and how they are kept.
type BackupConfig struct {
	Dir        string   `yaml:"dir"`        // local directory (or NFS/SMB mount); default data_dir/backups
	Recipients []string `yaml:"recipients"` // age or SSH public keys to encrypt to; empty: not encrypted
	Identities []string `yaml:"identities"` // keys (or files) that decrypt, for verify and restore
	Daily      int      `yaml:"keep_daily"`
	Weekly     int      `yaml:"keep_weekly"`
	Monthly    int      `yaml:"keep_monthly"`
	Offsite    *struct {
		Addr    string `yaml:"addr"` // host:port of the municipality's SFTP server
		User    string `yaml:"user"`
		KeyFile string `yaml:"key_file"` // the appliance's SSH private key
		HostKey string `yaml:"host_key"` // pinned: authorized_keys line or SHA256 fingerprint
		Path    string `yaml:"path"`
	} `yaml:"offsite"`
}

// BackupDir is where backups are kept.
func (c Config) BackupDir() string {
	if c.Backup.Dir != "" {
		return c.Backup.Dir
	}
	return filepath.Join(c.DataDir, "backups")
}

// UpdateConfig says which vendor keys an update bundle must be signed with.
type UpdateConfig struct {
	PublicKeys []string `yaml:"public_keys"` // ed25519, base64 or PEM
	History    string   `yaml:"history"`     // default data_dir/update-history.jsonl
}

// AlertStatePath is where the alerts remember what they last sent.
func (c Config) AlertStatePath() string {
	return filepath.Join(c.DataDir, "alerts.json")
}

// MaintKeyDir is where the maintenance agent keeps its key pair.
func (c Config) MaintKeyDir() string {
	if c.Maint.KeyDir != "" {
		return c.Maint.KeyDir
	}
	return filepath.Join(c.DataDir, "maint")
}

// UpdateHistoryPath is the update log.
func (c Config) UpdateHistoryPath() string {
	if c.Update.History != "" {
		return c.Update.History
	}
	return filepath.Join(c.DataDir, "update-history.jsonl")
}

// PublicURL is where people reach the appliance.
func (c Config) PublicURL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	if c.TLSCertFile != "" {
		return "https://" + c.Listen
	}
	return "http://" + c.Listen
}
