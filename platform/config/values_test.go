package config

import (
	"slices"
	"testing"
)

func TestList(t *testing.T) {
	var l List
	if err := l.Set(" a, ,b ,c,"); err != nil || !slices.Equal(l, List{"a", "b", "c"}) || l.String() != "a,b,c" {
		t.Errorf("List.Set = %v, %q", err, l)
	}
	if err := l.Set(""); err != nil || len(l) != 0 {
		t.Errorf("List.Set(\"\") left %q", l)
	}
}
