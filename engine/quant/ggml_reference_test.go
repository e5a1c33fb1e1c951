package quant

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// ggmlRefTypes are the types checked against ggml's own dequantization and
// dot kernels (testdata/reference/kernels.json).
var ggmlRefTypes = []Type{F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS}

const ggmlRefLen = 512

// ggmlRefRow is the fixed row and activation the reference was taken on.
func ggmlRefRow(t testing.TB, wt Type) (row []byte, x []float32) {
	r := rand.New(rand.NewPCG(uint64(wt), 99))
	w := randVec(r, ggmlRefLen, 0.05)
	x = randVec(r, ggmlRefLen, 1)
	row, err := Quantize(wt, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	return row, x
}

// TestWriteKernelInputs writes each type's row and activation for the
// reference program (a small C program against ggml, kept outside this
// repository): uint32 type, uint32 n, uint32 row bytes, the row, n float32.
func TestWriteKernelInputs(t *testing.T) {
	dir := os.Getenv("CHORUS_WRITE_KERNEL_INPUTS")
	if dir == "" {
		t.Skip("set CHORUS_WRITE_KERNEL_INPUTS=dir to write the kernel reference inputs")
	}
	for _, wt := range ggmlRefTypes {
		row, x := ggmlRefRow(t, wt)
		b := binary.LittleEndian.AppendUint32(nil, uint32(wt))
		b = binary.LittleEndian.AppendUint32(b, ggmlRefLen)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(row)))
		b = append(b, row...)
		for _, v := range x {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		if err := os.WriteFile(filepath.Join(dir, wt.String()+".bin"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type ggmlKernelRef struct {
	RowSHA256 string    `json:"row_sha256"`
	Dequant   []float32 `json:"dequant"`
	Dot       float32   `json:"dot"`
}

// TestKernelsMatchGGML compares, per type, the dequantized row with
// ggml's to_float (bit for bit: the block layouts and scale conventions)
// and the dot product with ggml's vec_dot after its own activation
// quantization (within float rounding: the sums run in other orders).
func TestKernelsMatchGGML(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "reference", "kernels.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		SystemInfo string                   `json:"system_info"`
		Types      map[string]ggmlKernelRef `json:"types"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	for _, wt := range ggmlRefTypes {
		t.Run(wt.String(), func(t *testing.T) {
			want, ok := ref.Types[wt.String()]
			if !ok || len(want.Dequant) != ggmlRefLen {
				t.Fatalf("no reference for %v", wt)
			}
			row, x := ggmlRefRow(t, wt)
			h := sha256.Sum256(row)
			if got := hex.EncodeToString(h[:]); got != want.RowSHA256 {
				t.Fatalf("row sha256 %s, the reference was taken on %s", got, want.RowSHA256)
			}
			deq := make([]float32, ggmlRefLen)
			if err := Dequantize(wt, row, deq); err != nil {
				t.Fatal(err)
			}
			var mag float64
			for i, v := range deq {
				if v != want.Dequant[i] {
					t.Fatalf("value %d: %g, ggml %g", i, v, want.Dequant[i])
				}
				mag += math.Abs(float64(v) * float64(x[i]))
			}
			var v Vec
			if err := v.Prepare(wt, x); err != nil {
				t.Fatal(err)
			}
			got := v.Dot(row)
			d := math.Abs(float64(got - want.Dot))
			if d > 1e-6*mag {
				t.Errorf("dot %.9g, ggml %.9g: difference %.2e of the magnitude sum", got, want.Dot, d/mag)
			}
			t.Logf("dequantization identical; dot %.9g, ggml %.9g (difference %.1e of Σ|w·x|)", got, want.Dot, d/mag)
		})
	}
}
