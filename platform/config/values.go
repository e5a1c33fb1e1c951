package config

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Flag values that check themselves, so that a bad setting fails while
// flags are parsed (app.Main then exits 2 naming the flag or variable)
// rather than when the server first uses it. Use them through a pointer
// conversion: fs.Var((*config.PositiveInt)(&cfg.Concurrency), ...).

// PositiveInt is an int flag that must be at least 1.
type PositiveInt int

func (p *PositiveInt) String() string { return strconv.Itoa(int(*p)) }

// Set implements flag.Value.
func (p *PositiveInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return errors.New("must be a whole number of at least 1")
	}
	*p = PositiveInt(n)
	return nil
}

// HTTPURL is an http or https URL flag; empty is allowed (it usually turns
// the thing off).
type HTTPURL string

func (u *HTTPURL) String() string { return string(*u) }

// Set implements flag.Value.
func (u *HTTPURL) Set(s string) error {
	if s != "" {
		p, err := url.Parse(s)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return errors.New("must be an http or https URL such as http://127.0.0.1:8000/v1")
		}
	}
	*u = HTTPURL(s)
	return nil
}

// List is a comma-separated flag; blank items are dropped.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *List) Set(s string) error {
	*l = nil
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, f)
		}
	}
	return nil
}
