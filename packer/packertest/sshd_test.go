package packertest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sshServer is the "machine" Packer provisions in this test: an SSH server
// on loopback that runs exec requests with sh on this host and serves SFTP,
// which is all Packer's SSH communicator uses. It accepts one key only.
type sshServer struct {
	addr    string
	keyFile string // the client's private key, OpenSSH format
	ln      net.Listener
	wg      sync.WaitGroup
}

func startSSHServer(t *testing.T) *sshServer {
	t.Helper()
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	hostSigner, err := ssh.NewSignerFromKey(hostKey)
	must(t, err)
	clientPub, clientKey, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	allowed, err := ssh.NewPublicKey(clientPub)
	must(t, err)
	block, err := ssh.MarshalPrivateKey(clientKey, "")
	must(t, err)
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))

	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(allowed.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s := &sshServer{addr: ln.Addr().String(), keyFile: keyFile, ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c, cfg)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *sshServer) port() string {
	_, p, _ := net.SplitHostPort(s.addr)
	return p
}

func (s *sshServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			continue
		}
		go session(ch, requests)
	}
}

// session serves one SSH session: "exec" runs sh -c, "subsystem sftp"
// serves files; environment and pty requests are acknowledged and ignored.
func session(ch ssh.Channel, requests <-chan *ssh.Request) {
	defer ch.Close()
	for req := range requests {
		switch req.Type {
		case "exec":
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				req.Reply(false, nil)
				return
			}
			req.Reply(true, nil)
			cmd := exec.Command("sh", "-c", payload.Command)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			status := uint32(0)
			if err := cmd.Run(); err != nil {
				status = 1
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.ExitCode() > 0 {
					status = uint32(ee.ExitCode())
				}
			}
			exit := make([]byte, 4)
			binary.BigEndian.PutUint32(exit, status)
			ch.SendRequest("exit-status", false, exit)
			return
		case "subsystem":
			var payload struct{ Name string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil || payload.Name != "sftp" {
				req.Reply(false, nil)
				return
			}
			req.Reply(true, nil)
			srv, err := sftp.NewServer(ch)
			if err != nil {
				return
			}
			if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
				return
			}
			return
		default:
			req.Reply(req.WantReply, nil)
		}
	}
}
