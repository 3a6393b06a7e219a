package backup

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// debPackage is the Debian package that installs each client program.
var debPackage = map[string]string{
	"mariadb-binlog": "mariadb-client",
	"mariadb":        "mariadb-client-core",
}

// lookTool finds a MariaDB client program.
func lookTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed: install Debian's %s package (`make test` and the appliance image do)",
			ErrMissingTool, name, debPackage[name])
	}
	return p, nil
}

// clientDefaults writes a MariaDB option file with the connection settings
// of dsn, for the client programs (so the password is on no command line),
// and returns its path and a function that removes it.
func clientDefaults(dsn, _ string) (string, func(), error) {
	cfg, err := dbConfig(dsn)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	b.WriteString("[client]\n")
	switch cfg.Net {
	case "unix":
		fmt.Fprintf(&b, "socket=%s\n", optQuote(cfg.Addr))
	default:
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			host, port = cfg.Addr, "3306"
		}
		if host == "" || host == "localhost" {
			host = "127.0.0.1"
		}
		fmt.Fprintf(&b, "host=%s\nport=%s\nprotocol=tcp\n", optQuote(host), port)
	}
	if cfg.User != "" {
		fmt.Fprintf(&b, "user=%s\n", optQuote(cfg.User))
	}
	if cfg.Passwd != "" {
		fmt.Fprintf(&b, "password=%s\n", optQuote(cfg.Passwd))
	}
	f, err := os.CreateTemp("", "avanti-backup-*.cnf")
	if err != nil {
		return "", nil, err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", nil, err
	}
	return f.Name(), func() { os.Remove(f.Name()) }, nil
}

// optQuote quotes a value for a MariaDB option file.
func optQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
