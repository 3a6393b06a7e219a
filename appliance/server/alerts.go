package server

import (
	"context"

	"avanti/appliance/alert"
	"avanti/appliance/backup"
)

// alerts e-mails the admins about backups that are no longer verified,
// while the server runs: mail.to and the active admins' addresses. Without
// mail.host it does nothing (the metric and the console still tell).
func (s *Server) alerts(ctx context.Context) {
	if !s.Config.Mail.Enabled() {
		s.log.Info("alerts by e-mail off: no mail.host in the configuration")
		return
	}
	dir := s.Config.BackupDir()
	alert.NewBackups(alert.Options{
		Mail:       s.Config.Mail,
		Recipients: s.Store.AdminEmails,
		Status:     func() (backup.Status, error) { return backup.ReadStatus(backup.Options{Dir: dir}) },
		StateFile:  s.Config.AlertStatePath(),
		Clock:      s.Clock,
		URL:        s.Config.PublicURL(),
		Logger:     s.log,
	}).Run(ctx)
}
