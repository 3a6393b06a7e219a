package alert

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"avanti/appliance/backup"
)

// The messages are for the municipality's administrators: Italian first,
// English below, like everything staff read.

func (b *Backups) subject(it, en string) string {
	name := "Avanti"
	if u, err := url.Parse(b.opt.URL); err == nil && u.Hostname() != "" {
		name += " " + u.Hostname()
	}
	return fmt.Sprintf("[%s] %s / %s", name, it, en)
}

func (b *Backups) appliance() string {
	if b.opt.URL == "" {
		return "Avanti"
	}
	return "Avanti (" + b.opt.URL + ")"
}

func (b *Backups) timeIT(t time.Time) string {
	return t.In(b.opt.Location).Format("02/01/2006 15:04 MST")
}

func (b *Backups) timeEN(t time.Time) string {
	return t.In(b.opt.Location).Format("2006-01-02 15:04 MST")
}

func (b *Backups) staleMessage(s backup.Status, st *alertState, reminder bool, readErr error) Message {
	var it, en strings.Builder
	since := staleSince(s, st)
	fmt.Fprintf(&it, "L'appliance %s non ha un backup verificato delle ultime %d ore.\n\n", b.appliance(), int(backup.StaleAfter.Hours()))
	fmt.Fprintf(&en, "The appliance %s has no verified backup from the last %d hours.\n\n", b.appliance(), int(backup.StaleAfter.Hours()))
	if s.LastVerified != nil {
		fmt.Fprintf(&it, "Ultimo backup verificato: %s (%s)\n", b.timeIT(s.LastVerified.CreatedAt), s.LastVerified.Name)
		fmt.Fprintf(&en, "Last verified backup:     %s (%s)\n", b.timeEN(s.LastVerified.CreatedAt), s.LastVerified.Name)
	} else {
		fmt.Fprintf(&it, "Ultimo backup verificato: nessuno\n")
		fmt.Fprintf(&en, "Last verified backup:     none\n")
	}
	fmt.Fprintf(&it, "Situazione anomala dal:   %s\n", b.timeIT(since))
	fmt.Fprintf(&en, "Stale since:              %s\n", b.timeEN(since))
	if l := s.LastBackup; l != nil && (s.LastVerified == nil || l.Name != s.LastVerified.Name) {
		fmt.Fprintf(&it, "Ultimo backup (non verificato): %s (%s)\n", b.timeIT(l.CreatedAt), l.Name)
		fmt.Fprintf(&en, "Last backup (not verified):     %s (%s)\n", b.timeEN(l.CreatedAt), l.Name)
	}
	if v := s.LastVerification; v != nil && !v.OK {
		fmt.Fprintf(&it, "Ultima verifica, fallita: %s (%s): %s\n", b.timeIT(v.VerifiedAt), v.Name, v.Error)
		fmt.Fprintf(&en, "Last verification, failed: %s (%s): %s\n", b.timeEN(v.VerifiedAt), v.Name, v.Error)
	}
	if readErr != nil {
		fmt.Fprintf(&it, "La cartella dei backup non si legge: %v\n", readErr)
		fmt.Fprintf(&en, "The backup directory cannot be read: %v\n", readErr)
	}
	it.WriteString(`
Cosa fare:
- sull'appliance, eseguire "avanti backup status": mostra l'ultimo backup,
  l'ultimo verificato e l'esito dell'ultima verifica;
- nella console, aprire la pagina Backup;
- controllare che la cartella dei backup (o il disco di rete su cui si
  trova) sia raggiungibile e abbia spazio libero; "avanti backup run" fa
  subito un backup e lo verifica.

Questo avviso si ripete ogni giorno finché un backup non è verificato; un
ultimo messaggio dirà quando i backup sono di nuovo verificati.
`)
	en.WriteString(`
What to do:
- on the appliance, run "avanti backup status": it shows the last backup,
  the last verified one and the result of the last verification;
- in the console, open the Backups page;
- check that the backup directory (or the network share it is on) is
  reachable and has free space; "avanti backup run" takes a backup now and
  verifies it.

This alert is repeated every day until a backup is verified; a last
message will say when backups are verified again.
`)
	subjIT, subjEN := "Nessun backup verificato da oltre 26 ore", "No verified backup for over 26 hours"
	if reminder {
		subjIT, subjEN = "Promemoria: "+subjIT, "Reminder: "+subjEN
	}
	return Message{Subject: b.subject(subjIT, subjEN), Body: it.String() + "\n-- English --\n\n" + en.String()}
}

func (b *Backups) recoveredMessage(s backup.Status) Message {
	var it, en strings.Builder
	fmt.Fprintf(&it, "I backup dell'appliance %s sono di nuovo verificati.\n\n", b.appliance())
	fmt.Fprintf(&en, "The backups of the appliance %s are verified again.\n\n", b.appliance())
	if v := s.LastVerified; v != nil {
		fmt.Fprintf(&it, "Ultimo backup verificato: %s (%s), verificato il %s.\n", b.timeIT(v.CreatedAt), v.Name, b.timeIT(v.VerifiedAt))
		fmt.Fprintf(&en, "Last verified backup: %s (%s), verified at %s.\n", b.timeEN(v.CreatedAt), v.Name, b.timeEN(v.VerifiedAt))
	}
	it.WriteString("\nNon serve fare altro.\n")
	en.WriteString("\nNothing else needs doing.\n")
	return Message{Subject: b.subject("Backup di nuovo verificati", "Backups verified again"),
		Body: it.String() + "\n-- English --\n\n" + en.String()}
}

// TestMessage is what "avanti alert test" sends.
func TestMessage(publicURL string) Message {
	b := NewBackups(Options{URL: publicURL})
	app := b.appliance()
	return Message{
		Subject: b.subject("Messaggio di prova", "Test message"),
		Body: "Questo messaggio di prova conferma che " + app + " può inviare avvisi agli amministratori.\n" +
			"\n-- English --\n\n" +
			"This test message confirms that " + app + " can send alerts to its administrators.\n",
	}
}
