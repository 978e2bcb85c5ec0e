package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the nearest-rank percentile p (0 < p <= 100) of sorted:
// the smallest sample such that at least p % of the samples are <= it. No
// interpolation, so every reported figure is a latency that was observed.
// It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Summarize sorts d in place and returns its nearest-rank percentiles.
func Summarize(d []time.Duration) Latency {
	slices.Sort(d)
	if len(d) == 0 {
		return Latency{}
	}
	return Latency{
		P50: ms(Percentile(d, 50)),
		P95: ms(Percentile(d, 95)),
		P99: ms(Percentile(d, 99)),
		Max: ms(d[len(d)-1]),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median returns the median of xs (the mean of the middle two for an even
// count); 0 for none. Used to combine repeated runs, not single samples.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
