package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// IdemState is what is known of an Idempotency-Key.
type IdemState int

const (
	IdemNew      IdemState = iota // first time: go ahead, then call IdemFinish
	IdemDone                      // answered before: replay Status and Body
	IdemPending                   // another request with the key is in flight
	IdemMismatch                  // the key was used for a different request
)

// IdemRecord is the stored answer to a keyed request.
type IdemRecord struct {
	State  IdemState
	Status int
	Body   []byte
}

// IdemBegin claims key for principal, or tells what happened to it. The
// primary key makes the claim atomic between concurrent retries.
func (s *Store) IdemBegin(ctx context.Context, principal, key string, requestHash []byte, now time.Time) (IdemRecord, error) {
	_, err := s.db.ExecContext(ctx, `INSERT INTO idempotency_keys (principal, idem_key, request_hash, state, created_at)
		VALUES (?, ?, ?, 'pending', ?)`, principal, key, requestHash, now)
	if err == nil {
		return IdemRecord{State: IdemNew}, nil
	}
	if !isDuplicate(err) {
		return IdemRecord{}, fmt.Errorf("idempotency key: %w", err)
	}
	var hash []byte
	var state string
	var rec IdemRecord
	err = s.db.QueryRowContext(ctx, `SELECT request_hash, state, status_code, response FROM idempotency_keys
		WHERE principal = ? AND idem_key = ?`, principal, key).Scan(&hash, &state, &rec.Status, &rec.Body)
	if errors.Is(err, sql.ErrNoRows) {
		// Released meanwhile (the first attempt failed): claim it again.
		return s.IdemBegin(ctx, principal, key, requestHash, now)
	}
	if err != nil {
		return IdemRecord{}, fmt.Errorf("idempotency key: %w", err)
	}
	switch {
	case string(hash) != string(requestHash):
		rec.State = IdemMismatch
	case state == "pending":
		rec.State = IdemPending
	default:
		rec.State = IdemDone
	}
	return rec, nil
}

// IdemFinish stores the answer for replays.
func (s *Store) IdemFinish(ctx context.Context, principal, key string, status int, body []byte) error {
	_, err := s.db.ExecContext(ctx, `UPDATE idempotency_keys SET state = 'done', status_code = ?, response = ?
		WHERE principal = ? AND idem_key = ?`, status, body, principal, key)
	return wrap("store idempotent response", err)
}

// IdemRelease forgets a claimed key whose request failed on our side, so a
// retry can run it again.
func (s *Store) IdemRelease(ctx context.Context, principal, key string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE principal = ? AND idem_key = ?`, principal, key)
	return wrap("release idempotency key", err)
}

// IdemPurge forgets keys older than keep.
func (s *Store) IdemPurge(ctx context.Context, now time.Time, keep time.Duration) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, now.Add(-keep))
	return wrap("purge idempotency keys", err)
}
