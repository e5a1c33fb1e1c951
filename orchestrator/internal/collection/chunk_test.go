package collection

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name          string
		text          string
		size, overlap int
		want          []string
	}{
		{name: "empty", text: "  \n ", size: 100, overlap: 20, want: nil},
		{name: "one chunk", text: "One  two. Three\n\n four.", size: 100, overlap: 20, want: []string{"One two.\nThree\nfour."}},
		{
			name: "split with overlap", text: "Alpha one. Beta two. Gamma three. Delta four.", size: 22, overlap: 11,
			want: []string{"Alpha one.\nBeta two.", "Beta two.\nGamma three.", "Delta four."},
		},
		{
			name: "no overlap", text: "Alpha one. Beta two. Gamma three.", size: 22, overlap: 0,
			want: []string{"Alpha one.\nBeta two.", "Gamma three."},
		},
		{
			name: "long sentence cut between words", text: "aaaa bbbb cccc dddd eeee.", size: 10, overlap: 0,
			want: []string{"aaaa bbbb", "cccc dddd", "eeee."},
		},
		{name: "long word cut between runes", text: "ééééé", size: 5, overlap: 0, want: []string{"éé", "éé", "é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Split(tt.text, tt.size, tt.overlap)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Split(%q, %d, %d) = %q, want %q", tt.text, tt.size, tt.overlap, got, tt.want)
			}
		})
	}
}

// TestChunkBounds checks the invariants on a long text: every chunk fits,
// is valid UTF-8, and every sentence appears in some chunk.
func TestSplitBounds(t *testing.T) {
	var b strings.Builder
	for i := range 300 {
		b.WriteString(strings.Repeat("word ", i%40+1))
		b.WriteString("ends here. ")
	}
	for _, size := range []int{64, 200, 1000} {
		chunks := Split(b.String(), size, size/4)
		if len(chunks) < 2 {
			t.Fatalf("size %d: %d chunks", size, len(chunks))
		}
		for i, c := range chunks {
			if len(c) > size || c == "" || !utf8.ValidString(c) {
				t.Errorf("size %d: chunk %d is %d bytes (or invalid): %q", size, i, len(c), c)
			}
		}
		joined := strings.Join(strings.Fields(strings.Join(chunks, " ")), " ")
		if strings.Count(joined, "ends here.") < 300 {
			t.Errorf("size %d: %d of 300 sentences kept", size, strings.Count(joined, "ends here."))
		}
	}
}
