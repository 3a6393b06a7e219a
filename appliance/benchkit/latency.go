package benchkit

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Latencies is a set of measured durations. They may be negative where a
// figure is the difference of two moments seen by different parties (an
// event read before the HTTP response that caused it).
type Latencies []time.Duration

// P is the q-th percentile (nearest rank); 0 when empty.
func (l Latencies) P(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(math.Ceil(q/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Max is the largest duration; 0 when empty.
func (l Latencies) Max() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return slices.Max(l)
}

// Min is the smallest duration; 0 when empty.
func (l Latencies) Min() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return slices.Min(l)
}

// Below is the share of l under d, in percent; 0 when empty.
func (l Latencies) Below(d time.Duration) float64 {
	if len(l) == 0 {
		return 0
	}
	n := 0
	for _, x := range l {
		if x < d {
			n++
		}
	}
	return 100 * float64(n) / float64(len(l))
}

// Millis formats d in milliseconds with three significant figures or so:
// "241 ms", "42.0 ms", "4.80 ms", "-1.97 ms".
func Millis(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%s%.0f ms", sign, float64(d)/1e6)
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%s%.1f ms", sign, float64(d)/1e6)
	default:
		return fmt.Sprintf("%s%.2f ms", sign, float64(d)/1e6)
	}
}
