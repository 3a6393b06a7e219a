package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"avanti/appliance/alert"
)

func alertCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "alert", Short: "E-mail alerts to the administrators"}
	cmd.AddCommand(&cobra.Command{
		Use:   "test",
		Short: "Send a test e-mail to the alerts' recipients, to check the mail settings",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, _, err := setup(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if !cfg.Mail.Enabled() {
				return errors.New("no mail.host in the configuration: see Settings in the README")
			}
			// The alerts' recipients: mail.to and the active admins' addresses.
			admins, err := st.AdminEmails(cmd.Context())
			if err != nil {
				fmt.Fprintf(os.Stderr, "the administrators' addresses cannot be read (%v): sending to mail.to only\n", err)
			}
			mc := alert.WithRecipients(cfg.Mail, admins)
			if err := alert.Send(cmd.Context(), mc, alert.TestMessage(cfg.PublicURL()), time.Now()); err != nil {
				return err
			}
			fmt.Printf("test message sent to %s through %s\n", strings.Join(mc.To, ", "), mc.Host)
			return nil
		},
	})
	return cmd
}
