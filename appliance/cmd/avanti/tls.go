package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"avanti/appliance/config"
	"avanti/appliance/tlsca"
)

// tlsCmd manages the HTTPS certificate of an appliance with
// tls_cert_file: auto, as the console's PUT /api/v1/tls does.
func tlsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tls", Short: "The HTTPS certificate (with tls_cert_file: auto)"}
	var certFile, keyFile string
	install := &cobra.Command{
		Use:   "install --cert FILE --key FILE",
		Short: "Serve a certificate from the municipal CA instead of the appliance's own (taken up without a restart)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			if cfg.TLSCertFile != "auto" {
				return fmt.Errorf("tls_cert_file is %q: the certificate is the one the settings name; change it there", cfg.TLSCertFile)
			}
			certPEM, err := os.ReadFile(certFile)
			if err != nil {
				return fmt.Errorf("certificate: %w", err)
			}
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("key: %w", err)
			}
			if err := tlsca.Install(filepath.Join(cfg.DataDir, "tls"), certPEM, keyPEM, time.Now()); err != nil {
				return err
			}
			fmt.Println("installed: the appliance serves it from the next connection on")
			return nil
		},
	}
	install.Flags().StringVar(&certFile, "cert", "", "PEM certificate chain, the server's certificate first")
	install.Flags().StringVar(&keyFile, "key", "", "its PEM private key, unencrypted")
	install.MarkFlagRequired("cert")
	install.MarkFlagRequired("key")
	fingerprint := &cobra.Command{
		Use:   "fingerprint",
		Short: "Print the SHA-256 fingerprint of the appliance's own CA certificate (to compare with what a PC downloaded)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			fp, err := tlsca.Fingerprint(filepath.Join(cfg.DataDir, "tls"))
			if err != nil {
				return fmt.Errorf("no CA of the appliance's own in %s: %w", filepath.Join(cfg.DataDir, "tls"), err)
			}
			fmt.Println(fp)
			return nil
		},
	}
	cmd.AddCommand(install, fingerprint)
	return cmd
}
