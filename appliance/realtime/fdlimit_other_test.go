//go:build !linux

package realtime

import "testing"

// needFiles trusts the platform's limit where there is no Linux rlimit.
func needFiles(testing.TB, uint64) {}
