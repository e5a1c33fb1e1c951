package runner

import (
	"strconv"
	"strings"
	"testing"
)

func TestPerturbNumbers(t *testing.T) {
	bounds := schemaBounds(`{"properties":{"n":{"type":"integer","minimum":0,"maximum":10},
		"x":{"type":"number","exclusiveMaximum":1},"big":{"type":"number"}}}`)
	original := `{"n":10,"x":0.99,"big":250.25,"s":"a"}`
	seen := map[float64]bool{}
	for i := range 50 {
		got := perturbNumbers(`{"s":"b","n":3,"x":0.5,"big":1}`, original, bounds, 0.2, i)
		keys, vals, ok := objectFields(got)
		if !ok || strings.Join(keys, ",") != "s,n,x,big" || string(vals[0]) != `"b"` {
			t.Fatalf("%s: keys or text fields changed", got)
		}
		n, err := strconv.Atoi(string(vals[1]))
		if err != nil || n < 8 || n > 10 {
			t.Errorf("%s: n must be an integer from 8 to 10 (10 ± 2, at most the maximum)", got)
		}
		x, _ := strconv.ParseFloat(string(vals[2]), 64)
		if x >= 1 || x < 0.79 {
			t.Errorf("%s: x must be 0.99 ± 0.2 and under the exclusive maximum 1", got)
		}
		big, _ := strconv.ParseFloat(string(vals[3]), 64)
		if big < 200.2 || big > 300.3 {
			t.Errorf("%s: big must be 250.25 ± 20 %%", got)
		}
		seen[big] = true
	}
	if len(seen) < 25 {
		t.Errorf("50 records drew only %d values of big: the draw does not vary", len(seen))
	}
	for _, bad := range []string{`{"n":3} trailing`, `[1]`, `{"n":`} {
		if got := perturbNumbers(bad, original, bounds, 0.2, 0); got != bad {
			t.Errorf("perturbNumbers(%q) = %q, want it unchanged", bad, got)
		}
	}
}
