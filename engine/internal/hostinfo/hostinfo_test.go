package hostinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestHostInfo(t *testing.T) {
	if CPUName() == "" {
		t.Error("empty CPU name")
	}
	l := LoadAvg()
	if runtime.GOOS == "linux" && len(strings.Fields(l)) != 3 {
		t.Errorf("LoadAvg() = %q, want three figures on Linux", l)
	}
}
