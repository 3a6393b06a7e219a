package backup

import (
	"path/filepath"
	"time"
)

// StaleAfter is how old the last verified backup may be before Stale
// raises the alert.
const StaleAfter = 26 * time.Hour

// ShipStaleAfter is how long binlog shipping may go without reporting
// before ShipStale raises the alert (the recovery point objective).
const ShipStaleAfter = 5 * time.Minute

// Status is what the console shows about backups.
type Status struct {
	Backups    int         `json:"backups"`
	TotalBytes int64       `json:"total_bytes"`
	LastBackup *BackupInfo `json:"last_backup,omitempty"`
	// LastVerified is the newest backup whose last verification passed.
	LastVerified *BackupInfo `json:"last_verified,omitempty"`
	// LastVerification is the newest verification of any backup, passed
	// or failed.
	LastVerification *Verification `json:"last_verification,omitempty"`
	Sizes            []SizePoint   `json:"sizes"` // oldest first
	Offsite          OffsiteStatus `json:"offsite"`
	Binlogs          *ShipStatus   `json:"binlogs,omitempty"` // nil: never shipped
}

// BackupInfo sums up one backup.
type BackupInfo struct {
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	Size       int64     `json:"size"`
	Encrypted  bool      `json:"encrypted"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
}

// SizePoint is one backup's archive size, for the size trend.
type SizePoint struct {
	At    time.Time `json:"at"`
	Bytes int64     `json:"bytes"`
}

// OffsiteStatus is the state of the off-site copy of backups.
type OffsiteStatus struct {
	Configured bool `json:"configured"`
	LastCopy
}

// ReadStatus reads the state of the backups in opt.Dir; it touches no
// database or network.
func ReadStatus(opt Options) (Status, error) {
	var s Status
	s.Offsite.Configured = opt.Offsite != nil
	all, err := backups(opt.Dir)
	if err != nil {
		return s, err
	}
	s.Backups = len(all)
	for _, m := range all {
		s.TotalBytes += m.Size
		s.Sizes = append(s.Sizes, SizePoint{At: m.CreatedAt, Bytes: m.Size})
		info := &BackupInfo{Name: m.Name, CreatedAt: m.CreatedAt, Size: m.Size, Encrypted: m.Encrypted}
		var v Verification
		if readJSON(filepath.Join(opt.Dir, m.Name+verifiedExt), &v) == nil {
			if s.LastVerification == nil || v.VerifiedAt.After(s.LastVerification.VerifiedAt) {
				vv := v
				s.LastVerification = &vv
			}
			if v.OK {
				info.VerifiedAt = v.VerifiedAt
				s.LastVerified = info
			}
		}
		s.LastBackup = info
	}
	readJSON(filepath.Join(opt.Dir, "offsite.json"), &s.Offsite.LastCopy)
	var ship ShipStatus
	if readJSON(filepath.Join(opt.Dir, binlogDir, "ship.json"), &ship) == nil {
		s.Binlogs = &ship
	}
	return s, nil
}

// Stale says whether the alert is due: the newest verified backup was taken
// more than StaleAfter before now, or there is none.
func Stale(s Status, now time.Time) bool {
	return s.LastVerified == nil || now.Sub(s.LastVerified.CreatedAt) > StaleAfter
}

// ShipStale says whether binlog shipping, once started, is not running, has
// not reported for ShipStaleAfter, or reports an error (its own or its
// off-site copy's): more than the recovery point objective of bookings could
// be lost.
func ShipStale(s Status, now time.Time) bool {
	if s.Binlogs == nil {
		return false
	}
	b := s.Binlogs
	return !b.Running || b.Err != "" || b.Offsite.Err != "" || now.Sub(b.UpdatedAt) > ShipStaleAfter
}
