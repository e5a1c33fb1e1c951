// Package stats provides the benchmark harness's arithmetic: percentiles
// of latency samples, and the min, median and max of a figure repeated
// over rounds.
package stats

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of samples by the
// nearest-rank method: the smallest sample with at least p% of the samples
// at or below it. It returns 0 for no samples.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Ratio returns candidate/baseline, or NaN when the baseline is zero.
func Ratio(candidate, baseline float64) float64 {
	if baseline == 0 {
		return math.NaN()
	}
	return candidate / baseline
}

// Spread is a figure measured once per round: its smallest, median and
// largest value.
type Spread struct {
	Min, Median, Max float64
	N                int
}

// SpreadOf returns the spread of values (the median of an even count is
// the mean of the middle two). The zero Spread stands for no values.
func SpreadOf(values []float64) Spread {
	if len(values) == 0 {
		return Spread{}
	}
	v := slices.Clone(values)
	slices.Sort(v)
	n := len(v)
	med := v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return Spread{Min: v[0], Median: med, Max: v[n-1], N: n}
}
