package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"avanti/appliance/alert"
	"avanti/appliance/config"
)

func alertCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "alert", Short: "E-mail alerts to the administrators"}
	cmd.AddCommand(&cobra.Command{
		Use:   "test",
		Short: "Send a test e-mail to the alerts' recipients, to check the mail settings",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			if !cfg.Mail.Enabled() {
				return errors.New("no mail.host in the configuration: see Settings in the README")
			}
			if err := alert.Send(cmd.Context(), cfg.Mail, alert.TestMessage(cfg.PublicURL()), time.Now()); err != nil {
				return err
			}
			fmt.Printf("test message sent to %s through %s\n", strings.Join(cfg.Mail.To, ", "), cfg.Mail.Host)
			return nil
		},
	})
	return cmd
}
