package config

import (
	"slices"
	"testing"
)

func TestValues(t *testing.T) {
	var n PositiveInt
	for _, bad := range []string{"0", "-3", "two", ""} {
		if err := n.Set(bad); err == nil {
			t.Errorf("PositiveInt.Set(%q) = nil, want an error", bad)
		}
	}
	if err := n.Set("4"); err != nil || n != 4 || n.String() != "4" {
		t.Errorf("PositiveInt.Set(4) = %v, n = %d", err, n)
	}

	var u HTTPURL
	for _, bad := range []string{"127.0.0.1:8000", "ftp://x/v1", "http://", "://"} {
		if err := u.Set(bad); err == nil {
			t.Errorf("HTTPURL.Set(%q) = nil, want an error", bad)
		}
	}
	for _, good := range []string{"", "http://127.0.0.1:8000/v1", "https://api.example.com/v1"} {
		if err := u.Set(good); err != nil || u.String() != good {
			t.Errorf("HTTPURL.Set(%q) = %v, value %q", good, err, u)
		}
	}

	var l List
	if err := l.Set(" a, ,b ,c,"); err != nil || !slices.Equal(l, List{"a", "b", "c"}) || l.String() != "a,b,c" {
		t.Errorf("List.Set = %v, %q", err, l)
	}
	if err := l.Set(""); err != nil || len(l) != 0 {
		t.Errorf("List.Set(\"\") left %q", l)
	}
}
