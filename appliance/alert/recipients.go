package alert

import (
	"context"
	"errors"
	"net/mail"
	"strings"
)

// WithRecipients is c sending to c.To and the addresses more, each once
// (compared without case), in that order; an address that does not parse
// is left out.
func WithRecipients(c MailConfig, more []string) MailConfig {
	var to []string
	seen := map[string]bool{}
	for _, s := range append(append([]string(nil), c.To...), more...) {
		a, err := mail.ParseAddress(s)
		if err != nil {
			continue
		}
		if k := strings.ToLower(a.Address); !seen[k] {
			seen[k] = true
			to = append(to, s)
		}
	}
	c.To = to
	return c
}

// errNobody: neither mail.to nor any active administrator has an address.
var errNobody = errors.New("nobody to send the alert to: no mail.to in the configuration and no active administrator with an e-mail address")

// mailConfig is the mail configuration with the recipients of this moment:
// mail.to and the active administrators' addresses, read at each send, so
// that an address set in the console counts without a restart. When the
// administrators cannot be read, mail.to alone still gets the alert.
func (b *Backups) mailConfig(ctx context.Context) (MailConfig, error) {
	var admins []string
	if b.opt.Recipients != nil {
		var err error
		if admins, err = b.opt.Recipients(ctx); err != nil {
			if len(b.opt.Mail.To) == 0 {
				return MailConfig{}, err
			}
			b.opt.Logger.Warn("backup alert: cannot read the administrators' addresses; sending to mail.to only", "err", err)
		}
	}
	c := WithRecipients(b.opt.Mail, admins)
	if len(c.To) == 0 {
		return c, errNobody
	}
	return c, nil
}
