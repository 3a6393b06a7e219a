package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"avanti/appliance/benchkit"
)

// commitRate is the server's rate of small durable commits with workers
// concurrent clients through the store's own pool: each transaction is
// begun as the store begins them (READ COMMITTED), inserts one row into a
// table with an auto-increment key, and commits.
func commitRate(ctx context.Context, db *sql.DB, workers int, d time.Duration) (baselineResult, error) {
	if err := warmPool(ctx, db); err != nil {
		return baselineResult{}, err
	}
	var (
		mu      sync.Mutex
		all     benchkit.Latencies
		firstEr error
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Go(func() {
			var lat benchkit.Latencies
			payload := fmt.Sprintf("worker %d commit benchmark payload", w)
			for n := 0; time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				t0 := time.Now()
				err := func() error {
					tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
					if err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, `INSERT INTO bench_commits (worker, n, created_at, payload) VALUES (?, ?, ?, ?)`,
						w, n, t0.UTC(), payload); err != nil {
						tx.Rollback()
						return err
					}
					return tx.Commit()
				}()
				if err != nil {
					mu.Lock()
					if firstEr == nil {
						firstEr = fmt.Errorf("baseline commit: %w", err)
					}
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstEr != nil {
		return baselineResult{}, firstEr
	}
	if err := ctx.Err(); err != nil {
		return baselineResult{}, err
	}
	return baselineResult{workers: workers, commits: len(all), elapsed: elapsed,
		rate: float64(len(all)) / elapsed.Seconds(), lat: all}, nil
}
