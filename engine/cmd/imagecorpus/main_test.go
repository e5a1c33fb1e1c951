package main

import (
	"os"
	"strings"
	"testing"
)

func TestCaptionText(t *testing.T) {
	tests := []struct {
		name     string
		caption  string
		keywords []string
		want     string
	}{
		{"keywords the name lacks", "red heart", []string{"heart", "love", "Red"}, "red heart, love"},
		{"at most maxKeywords", "x", []string{"a", "b", "c", "d", "e", "f", "g", "h"}, "x, a, b, c, d, e, f"},
		{"none", "tree", nil, "tree"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := captionText(tc.caption, tc.keywords); got != tc.want {
				t.Errorf("captionText = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFileTitleAndCleanText(t *testing.T) {
	if got := fileTitle("clipart/animals/birds/contour_bat_01"); got != "contour bat" {
		t.Errorf("fileTitle = %q", got)
	}
	if got := cleanText("  Tom &amp;  Jerry\n"); got != "tom & jerry" {
		t.Errorf("cleanText = %q", got)
	}
	if got := stripVS("\u2764\uFE0F"); got != "\u2764" {
		t.Errorf("stripVS = %q", got)
	}
}

// TestNotoColorEmoji reads the Debian font when it is installed (make image-corpus installs
// it): every bitmap is a PNG, and ligatures name multi-character sequences.
func TestNotoColorEmoji(t *testing.T) {
	data, err := os.ReadFile(emojiFont)
	if err != nil {
		t.Skipf("fonts-noto-color-emoji is not installed: %v", err)
	}
	f, err := parseFont(data)
	if err != nil {
		t.Fatal(err)
	}
	bm, err := f.bitmaps()
	if err != nil {
		t.Fatal(err)
	}
	if len(bm) < 3000 {
		t.Errorf("%d bitmaps, want the font's ~3,900", len(bm))
	}
	for g, png := range bm {
		if !strings.HasPrefix(string(png), "\x89PNG\r\n\x1a\n") {
			t.Fatalf("glyph %d: not a PNG", g)
		}
	}
	seqs, err := f.sequences()
	if err != nil {
		t.Fatal(err)
	}
	byText := map[string]bool{}
	for g, s := range seqs {
		byText[string(s)] = true
		for _, alt := range f.alternatives[g] {
			byText[string(alt)] = true
		}
	}
	for _, want := range []string{"\u2764", "\U0001F600", "\U0001F1EB\U0001F1F7", "\U0001F44D\U0001F3FD"} {
		if !byText[want] {
			t.Errorf("no glyph for %q", want)
		}
	}
	if _, err := parseFont(data[:40]); err == nil {
		t.Error("a truncated font parsed")
	}
}
