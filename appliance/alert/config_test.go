package alert_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"avanti/appliance/config"
)

func TestMailBlockOfTheConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "avanti.yaml")
	os.WriteFile(path, []byte(`
mail:
  host: smtp.comune.example.it
  from: "Avanti <avanti@comune.example.it>"
  username: avanti
  ca_file: ""
  to: [ced@comune.example.it]
`), 0o600)
	t.Setenv("AVANTI_CONFIG", path)
	t.Setenv("AVANTI_MAIL_PASSWORD", password)
	cfg, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Mail
	if !m.Enabled() || m.Host != "smtp.comune.example.it" || m.Username != "avanti" || string(m.Password) != password ||
		len(m.To) != 1 || cfg.AlertStatePath() != filepath.Join(cfg.DataDir, "alerts.json") {
		t.Fatalf("mail %+v", m)
	}

	os.WriteFile(path, []byte("mail: {host: smtp.example.it, tls: none, username: avanti, from: a@example.it, to: [b@example.it]}\n"), 0o600)
	if _, err := config.Load(nil); err == nil || !strings.HasPrefix(err.Error(), "mail: username:") {
		t.Fatalf("login over plaintext accepted: %v", err)
	}
}
