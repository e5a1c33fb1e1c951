// Package webvtt formats WebVTT captions.
package webvtt

import (
	"fmt"
	"strings"
	"time"
)

// Cue is one caption.
type Cue struct {
	Start, End time.Duration
	Text       string
}

// Format renders cues as a WebVTT file, numbering them from 1. Cue text is
// escaped ("&", "<", ">", so "-->" cannot end a timing line) and kept on
// one line, since a blank line would end the cue.
func Format(cues []Cue) string {
	var b strings.Builder
	b.WriteString("WEBVTT\n")
	for i, c := range cues {
		end := max(c.End, c.Start)
		fmt.Fprintf(&b, "\n%d\n%s --> %s\n%s\n", i+1, timestamp(c.Start), timestamp(end), Escape(c.Text))
	}
	return b.String()
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes text safe as WebVTT cue text on one line.
func Escape(text string) string {
	return escaper.Replace(strings.Join(strings.Fields(text), " "))
}

// timestamp formats d as hh:mm:ss.ttt, rounded to the millisecond.
func timestamp(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	ms := d.Round(time.Millisecond).Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}
