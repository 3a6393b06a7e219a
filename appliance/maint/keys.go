package maint

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"avanti/appliance/atomicfile"
)

// Key file names in Config.KeyDir.
const (
	privateKeyFile = "id_ed25519"
	publicKeyFile  = "id_ed25519.pub"
)

// LoadOrCreateKey returns the appliance's key pair from dir, making it
// (ed25519, private key 0600 in OpenSSH format) the first time.
func LoadOrCreateKey(dir string) (ssh.Signer, error) {
	path := filepath.Join(dir, privateKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return createKey(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("maint: read key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("maint: %s: %w", path, err)
	}
	return s, nil
}

func createKey(dir string) (ssh.Signer, error) {
	// The directory is readable (the public key is for showing), the
	// private key is not.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("maint: key dir: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	comment := "avanti-appliance@" + host
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	pubLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment + "\n"
	// The public half first, the private one last and by rename: a key
	// pair is only ever seen whole.
	if err := atomicfile.Write(filepath.Join(dir, publicKeyFile), []byte(pubLine), 0o644); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, privateKeyFile), pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

// PublicKey returns the appliance's public key as an authorized_keys line
// (for the console and the bastion's authorized_keys). It reads only the
// public half when it is there, so a process that may not read the private
// key (the web server) can show it; otherwise it makes the key pair.
func PublicKey(dir string) (string, error) {
	if line, ok := readPublicKey(dir); ok {
		return line, nil
	}
	s, err := LoadOrCreateKey(dir)
	if err != nil {
		return "", err
	}
	if line, ok := readPublicKey(dir); ok { // made just now, with its comment
		return line, nil
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey()))), nil
}

func readPublicKey(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, publicKeyFile))
	if err != nil {
		return "", false
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey(b); err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// Fingerprint is the SHA256:… fingerprint of an authorized_keys line, as
// ssh-keygen -l prints it.
func Fingerprint(authorizedKey string) (string, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return "", err
	}
	return ssh.FingerprintSHA256(k), nil
}

// parsePinnedKey reads a host key given as "type base64 [comment]" or as a
// known_hosts line.
func parsePinnedKey(s string) (ssh.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty: the bastion's host key must be pinned")
	}
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err == nil {
		return k, nil
	}
	_, _, k, _, _, err := ssh.ParseKnownHosts([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("not a public key nor a known_hosts line: %w", err)
	}
	return k, nil
}

// authorizedKey is an engineer's key and the comment naming them.
type authorizedKey struct {
	key     ssh.PublicKey
	comment string
}

// parseAuthorizedKeys reads authorized_keys content: blank lines and #
// comments are skipped; options are not supported (and refused, so that
// nobody believes a from= restriction applies).
func parseAuthorizedKeys(b []byte) ([]authorizedKey, error) {
	var keys []authorizedKey
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		if len(options) > 0 {
			return nil, fmt.Errorf("line %d: options (%s) are not supported", n+1, strings.Join(options, ","))
		}
		keys = append(keys, authorizedKey{k, comment})
	}
	return keys, nil
}
