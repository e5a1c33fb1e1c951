package harness

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-ai/chorus/bench/internal/stats"
)

// result is one side's figures for one round of a load.
type result struct {
	p50, p99 time.Duration
	perSec   float64
}

// load makes n calls with conc of them at once and returns their latency
// percentiles and the calls completed per second.
func load(ctx context.Context, n, conc int, call func(context.Context) error) (result, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := call(ctx); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return result{}, firstErr
	}
	return result{
		p50:    stats.Percentile(lat, 50),
		p99:    stats.Percentile(lat, 99),
		perSec: float64(n) / elapsed.Seconds(),
	}, nil
}

// comparison collects, round by round, a candidate's and its baseline's
// figures under one load.
type comparison struct {
	base, cand []result
}

// interleave runs rounds rounds of baseline and candidate, alternating
// which goes first so that drift in the machine's load hits both.
func interleave(ctx context.Context, rounds, n, conc int, base, cand func(context.Context) error) (comparison, error) {
	var c comparison
	for r := range rounds {
		order := []bool{false, true}
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, isCand := range order {
			f := base
			if isCand {
				f = cand
			}
			res, err := load(ctx, n, conc, f)
			if err != nil {
				return c, err
			}
			if isCand {
				c.cand = append(c.cand, res)
			} else {
				c.base = append(c.base, res)
			}
		}
	}
	return c, nil
}

// durations picks one figure from each round.
func pick(rs []result, f func(result) float64) []float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return v
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rows turns a comparison into table rows: p50 and p99 latency (with the
// time the candidate adds), and throughput.
func (c comparison) rows(section, what, unit string) []Row {
	lat := func(name string, f func(result) time.Duration) Row {
		var ratios, added []float64
		for i := range c.base {
			b, k := ms(f(c.base[i])), ms(f(c.cand[i]))
			ratios = append(ratios, stats.Ratio(k, b))
			added = append(added, k-b)
		}
		return Row{
			Section:  section,
			Name:     what + ", " + name,
			Baseline: fmtMS(stats.SpreadOf(pick(c.base, func(r result) float64 { return ms(f(r)) })).Median),
			Cand:     fmtMS(stats.SpreadOf(pick(c.cand, func(r result) float64 { return ms(f(r)) })).Median),
			Ratio:    stats.SpreadOf(ratios),
			Added:    stats.SpreadOf(added),
			HasAdded: true,
		}
	}
	var tput []float64
	for i := range c.base {
		tput = append(tput, stats.Ratio(c.cand[i].perSec, c.base[i].perSec))
	}
	return []Row{
		lat("p50", func(r result) time.Duration { return r.p50 }),
		lat("p99", func(r result) time.Duration { return r.p99 }),
		{
			Section:  section,
			Name:     what + ", " + unit + "/s",
			Baseline: fmtRate(stats.SpreadOf(pick(c.base, func(r result) float64 { return r.perSec })).Median),
			Cand:     fmtRate(stats.SpreadOf(pick(c.cand, func(r result) float64 { return r.perSec })).Median),
			Ratio:    stats.SpreadOf(tput),
		},
	}
}
