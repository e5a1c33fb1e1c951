package harness

import "testing"

func TestParseGoBench(t *testing.T) {
	out := []byte(`goos: linux
goarch: amd64
BenchmarkVoiceoverBeforeX-2   	    99	    1 ns/op	  2 B/op	      3 allocs/op
BenchmarkVoiceoverBefore-2   	    1382	    778631 ns/op	  336056 B/op	      46 allocs/op
PASS
`)
	got, ok := parseGoBench(out, "BenchmarkVoiceoverBefore")
	if want := (benchFigures{ns: 778631, bytes: 336056, allocs: 46}); !ok || got != want {
		t.Errorf("parseGoBench = %+v, %v; want %+v", got, ok, want)
	}
	if _, ok := parseGoBench([]byte("BenchmarkVoiceoverBefore-2 10 5 ns/op\n"), "BenchmarkVoiceoverBefore"); ok {
		t.Error("a line without -benchmem's figures was read")
	}
}

func TestOptimRows(t *testing.T) {
	before := []benchFigures{{ns: 2e6, bytes: 40960, allocs: 10}, {ns: 4e6, bytes: 40960, allocs: 10}}
	after := []benchFigures{{ns: 1e6, bytes: 10240, allocs: 5}, {ns: 1e6, bytes: 1000, allocs: 5}}
	rows := optimRows("x", before, after)
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	if r := rows[0]; r.Ratio.Min != 0.25 || r.Ratio.Max != 0.5 || r.Baseline != "3.000 ms" || r.Cand != "1.000 ms" {
		t.Errorf("time row %+v", r)
	}
	if r := rows[1]; r.Ratio.Min != 1000.0/40960 || r.Ratio.Max != 0.25 || r.Baseline != "40 KiB" || r.Cand != "5620 B" {
		t.Errorf("bytes row %+v", r)
	}
	if r := rows[2]; r.Ratio.Median != 0.5 || r.Cand != "5" {
		t.Errorf("allocs row %+v", r)
	}
}
