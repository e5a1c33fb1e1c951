package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func randVec(r *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * scale
	}
	return x
}

func TestF16(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   float32
		want uint16
	}{
		{name: "zero", in: 0, want: 0},
		{name: "one", in: 1, want: 0x3c00},
		{name: "minus two", in: -2, want: 0xc000},
		{name: "max half", in: 65504, want: 0x7bff},
		{name: "overflow", in: 1e6, want: 0x7c00},
		{name: "smallest subnormal", in: 5.960464477539063e-08, want: 0x0001},
		{name: "tie to even down", in: 1 + 1.0/2048, want: 0x3c00},
		{name: "tie to even up", in: 1 + 3.0/2048, want: 0x3c02},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := F32ToF16(tc.in); got != tc.want {
				t.Errorf("F32ToF16(%g) = %#04x, want %#04x", tc.in, got, tc.want)
			}
		})
	}
	// Every finite half must survive a round trip through float32.
	for h := range 1 << 16 {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		if got := F32ToF16(F16ToF32(uint16(h))); got != uint16(h) {
			t.Fatalf("round trip of %#04x gave %#04x", h, got)
		}
	}
}

func TestRowBytes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		typ     Type
		n       int
		want    int
		wantErr error
	}{
		{name: "f32", typ: F32, n: 3, want: 12},
		{name: "f16", typ: F16, n: 3, want: 6},
		{name: "q8_0", typ: Q8_0, n: 64, want: 68},
		{name: "q4_0", typ: Q4_0, n: 64, want: 36},
		{name: "q4_k", typ: Q4_K, n: 512, want: 288},
		{name: "q6_k", typ: Q6_K, n: 256, want: 210},
		{name: "partial block", typ: Q8_0, n: 33, wantErr: ErrShape},
		{name: "unknown type", typ: Type(99), n: 32, wantErr: ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.typ.RowBytes(tc.n)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("RowBytes = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestQ4_0Layout pins the nibble order: low nibbles are values 0-15 of the
// block, high nibbles 16-31, each offset by 8.
func TestQ4_0Layout(t *testing.T) {
	blk := make([]byte, blockQ4_0)
	put16(blk, F32ToF16(0.5))
	for j := range 16 {
		blk[2+j] = byte(j) | byte(15-j)<<4
	}
	got := make([]float32, 32)
	if err := Dequantize(Q4_0, blk, got); err != nil {
		t.Fatal(err)
	}
	for j := range 16 {
		if want := 0.5 * float32(j-8); got[j] != want {
			t.Errorf("value %d = %g, want %g", j, got[j], want)
		}
		if want := 0.5 * float32(7-j); got[16+j] != want {
			t.Errorf("value %d = %g, want %g", 16+j, got[16+j], want)
		}
	}
}

func TestQuantizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randVec(r, 4*QK_K, 1)
	for _, tc := range []struct {
		typ    Type
		maxErr float64 // largest error allowed, relative to max |x|
	}{
		{typ: F32, maxErr: 0},
		{typ: F16, maxErr: 1e-3},
		{typ: Q8_0, maxErr: 1.0 / 127},
		{typ: Q4_0, maxErr: 1.0 / 8},
		{typ: Q4_K, maxErr: 0.15},
		{typ: Q6_K, maxErr: 1.0 / 24},
		{typ: BF16, maxErr: 1.0 / 256},
		{typ: Q4_1, maxErr: 1.0 / 14},
		{typ: Q5_0, maxErr: 1.0 / 15},
		{typ: Q5_1, maxErr: 1.0 / 29},
		{typ: Q2_K, maxErr: 0.4},
		{typ: Q3_K, maxErr: 0.25},
		{typ: Q5_K, maxErr: 0.08},
		{typ: IQ4_NL, maxErr: 0.1},
		{typ: IQ4_XS, maxErr: 0.12},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			enc, err := Quantize(tc.typ, x, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := tc.typ.RowBytes(len(x)); len(enc) != want {
				t.Fatalf("encoded %d bytes, want %d", len(enc), want)
			}
			y := make([]float32, len(x))
			if err := Dequantize(tc.typ, enc, y); err != nil {
				t.Fatal(err)
			}
			var amax, worst float64
			for i := range x {
				amax = max(amax, math.Abs(float64(x[i])))
				worst = max(worst, math.Abs(float64(x[i]-y[i])))
			}
			if worst > tc.maxErr*amax {
				t.Errorf("max error %g, want at most %g", worst, tc.maxErr*amax)
			}
		})
	}
}

// dotRef is the exact dot product of the dequantized row with the
// activation as the kernel sees it (after its own quantization).
func dotRef(t *testing.T, wt Type, row []byte, v *Vec) float64 {
	t.Helper()
	w := make([]float32, v.n)
	if err := Dequantize(wt, row, w); err != nil {
		t.Fatal(err)
	}
	a := make([]float32, v.n)
	switch wt {
	case F32, F16, BF16:
		copy(a, v.f)
	case Q8_0, Q4_0, Q5_0, IQ4_NL:
		for i := range a {
			a[i] = float32(v.q[i]) * v.d[i/QK8_0]
		}
	case Q4_1, Q5_1:
		// w = d*q + m; the kernel takes Σa from the activation's sum term.
		bb := wt.BlockBytes()
		var s float64
		for b := range v.n / QK8_0 {
			m := float64(F16ToF32(le16(row[b*bb+2:])))
			for i := b * QK8_0; i < (b+1)*QK8_0; i++ {
				s += (float64(w[i]) - m) * float64(v.q[i]) * float64(v.d[b])
			}
			s += m * float64(v.sums[b])
		}
		return s
	default:
		for i := range a {
			a[i] = float32(v.q[i]) * v.d[i/QK_K]
		}
	}
	var s float64
	for i := range w {
		s += float64(w[i]) * float64(a[i])
	}
	return s
}

// TestKernels compares every dot kernel (assembly where the CPU has it)
// with the portable one and with an exact float64 reference, on random
// rows of many lengths, odd block counts and tails included.
func TestKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, wt := range []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS} {
		bl := wt.BlockLen()
		lens := []int{32, 64, 96, 256, 576, 1536, 2048 + 32*3}
		if bl == 1 {
			lens = append(lens, 1, 7, 31, 33, 63, 65, 100, 577, 1000)
		}
		if bl == QK_K {
			lens = []int{256, 512, 768, 1536, 2560}
		}
		for _, n := range lens {
			x := randVec(r, n, 1)
			w := randVec(r, n, 0.05)
			row, err := Quantize(wt, w, nil)
			if err != nil {
				t.Fatal(err)
			}
			var v Vec
			if err := v.Prepare(wt, x); err != nil {
				t.Fatal(err)
			}
			got := float64(v.Dot(row))
			port, exact := portableDot(row, &v)
			if exact && float32(got) != port {
				t.Errorf("%v n=%d: kernel %g, portable %g", wt, n, got, port)
			}
			ref := dotRef(t, wt, row, &v)
			// Float32 accumulation in different orders: allow a few ulps of
			// the sum of magnitudes.
			tol := 1e-5*math.Sqrt(float64(n))*0.05*4 + 1e-6
			if math.Abs(got-ref) > tol || math.Abs(float64(port)-ref) > tol {
				t.Errorf("%v n=%d: kernel %g, portable %g, reference %g (tol %g)", wt, n, got, port, ref, tol)
			}
		}
	}
}

// portableDot is the portable kernel of v's weight type on row, and whether
// the assembly kernels must equal it bit for bit (the integer kernels whose
// float part is the portable one's); the others sum in ggml's order.
func portableDot(row []byte, v *Vec) (port float32, exact bool) {
	switch v.wt {
	case F32:
		port = dotF32Go(row, v.f)
	case F16:
		port = dotF16Go(row, v.f)
	case Q8_0:
		port = dotQ8_0Go(row, v.q, v.d)
	case Q4_0:
		port = dotQ4_0Go(row, v.q, v.d)
	case Q4_K:
		port, exact = dotQ4KGo(row, v.q, v.d, v.bsums), true
	case Q6_K:
		port, exact = dotQ6KGo(row, v.q, v.d), true
	case BF16:
		port = dotBF16Go(row, v.f)
	case Q4_1:
		port = dotQ4_1Go(row, v.q, v.d, v.sums)
	case Q5_0:
		port = dotQ5_0Go(row, v.q, v.d)
	case Q5_1:
		port = dotQ5_1Go(row, v.q, v.d, v.sums)
	case IQ4_NL:
		port = dotIQ4NLGo(row, v.q, v.d)
	case Q2_K:
		port, exact = dotQ2KGo(row, v.q, v.d, v.bsums), true
	case Q3_K:
		port, exact = dotQ3KGo(row, v.q, v.d), true
	case Q5_K:
		port, exact = dotQ5KGo(row, v.q, v.d, v.bsums), true
	case IQ4_XS:
		port, exact = dotIQ4XSGo(row, v.q, v.d), true
	}
	return port, exact
}

// TestActivationQuant pins the activation rounding to ggml's x86 path:
// half-to-even rounding of x*127/amax and a half-precision scale.
func TestActivationQuant(t *testing.T) {
	x := make([]float32, 32)
	x[0] = 127
	x[1] = 0.5  // 0.5 rounds to 0 (even), roundf would give 1
	x[2] = -1.5 // -2
	x[3] = 2.5  // 2
	var v Vec
	if err := v.Prepare(Q8_0, x); err != nil {
		t.Fatal(err)
	}
	if want := []int8{127, 0, -2, 2}; v.q[0] != want[0] || v.q[1] != want[1] || v.q[2] != want[2] || v.q[3] != want[3] {
		t.Errorf("quants %v, want %v", v.q[:4], want)
	}
	if v.d[0] != 1 {
		t.Errorf("scale %g, want 1", v.d[0])
	}
}

func TestPrepareErrors(t *testing.T) {
	var v Vec
	if err := v.Prepare(Q4_K, make([]float32, 100)); !errors.Is(err, ErrShape) {
		t.Errorf("Prepare(Q4_K, 100 values) = %v, want ErrShape", err)
	}
	if err := v.Prepare(Type(77), make([]float32, 32)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Prepare(type 77) = %v, want ErrUnsupported", err)
	}
}

func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 1536
	for _, wt := range []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS} {
		x := randVec(r, n, 1)
		row, _ := Quantize(wt, randVec(r, n, 0.05), nil)
		var v Vec
		_ = v.Prepare(wt, x)
		b.Run(wt.String(), func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			for b.Loop() {
				v.Dot(row)
			}
		})
	}
}

// TestDot4 checks the four-vector kernels against four single-vector calls:
// they must agree bit for bit.
func TestDot4(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, wt := range []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS} {
		for _, n := range []int{256, 512, 1536} {
			row, err := Quantize(wt, randVec(r, n, 0.05), nil)
			if err != nil {
				t.Fatal(err)
			}
			var vs [4]*Vec
			for i := range vs {
				vs[i] = new(Vec)
				if err := vs[i].Prepare(wt, randVec(r, n, 1)); err != nil {
					t.Fatal(err)
				}
			}
			var got [4]float32
			Dot4(row, &vs, &got)
			// Dot4Rows over three copies of the row must agree with Dot4.
			rows := append(append(append([]byte(nil), row...), row...), row...)
			var outs [4][]float32
			for k := range outs {
				outs[k] = make([]float32, 2)
			}
			Dot4Rows(rows, len(row), 1, 3, &vs, &outs)
			single := make([]float32, 2)
			vs[2].DotRows(rows, len(row), 1, 3, single)
			if want := vs[2].Dot(row); single[0] != want || single[1] != want {
				t.Errorf("%v n=%d: DotRows %v, Dot %g", wt, n, single, want)
			}
			for k := range outs {
				if outs[k][0] != got[k] || outs[k][1] != got[k] {
					t.Errorf("%v n=%d: Dot4Rows %v, Dot4 %g", wt, n, outs[k], got[k])
				}
			}
			for i, v := range vs {
				want := v.Dot(row)
				// Float rows are summed in another order in batches.
				tol := float32(0)
				if wt == F32 || wt == F16 {
					tol = 1e-5 * (abs32(want) + 1)
				}
				if abs32(got[i]-want) > tol {
					t.Errorf("%v n=%d vector %d: Dot4 %g, Dot %g", wt, n, i, got[i], want)
				}
			}
		}
	}
}

// TestVNNIMatchesAVX2 runs the Q8_0/Q4_0 kernels with and without VNNI:
// the integer sums are exact either way, so results must be identical.
func TestVNNIMatchesAVX2(t *testing.T) {
	if !useVNNI {
		t.Skip("no AVX512-VNNI on this CPU")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, wt := range []Type{Q8_0, Q4_0} {
		for _, n := range []int{32, 64, 96, 576, 1536} {
			row, _ := Quantize(wt, randVec(r, n, 0.05), nil)
			xs := [4][]float32{randVec(r, n, 1), randVec(r, n, 1), randVec(r, n, 1), randVec(r, n, 1)}
			run := func(vnniOff bool) (single float32, four [4]float32) {
				disableVNNI = vnniOff
				defer func() { disableVNNI = false }()
				var vs [4]*Vec
				for i := range vs {
					vs[i] = new(Vec)
					if err := vs[i].Prepare(wt, xs[i]); err != nil {
						t.Fatal(err)
					}
				}
				Dot4(row, &vs, &four)
				return vs[0].Dot(row), four
			}
			s1, f1 := run(false)
			s2, f2 := run(true)
			if s1 != s2 || f1 != f2 {
				t.Errorf("%v n=%d: VNNI %g %v, AVX2 %g %v", wt, n, s1, f1, s2, f2)
			}
		}
	}
}

func TestAxpyAndDotF32(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 64, 100} {
		x, y := randVec(r, n, 1), randVec(r, n, 1)
		dst := append([]float32(nil), y...)
		Axpy(dst, x, 0.5)
		var ref float64
		for i := range x {
			if want := y[i] + 0.5*x[i]; math.Abs(float64(dst[i]-want)) > 1e-6 {
				t.Fatalf("n=%d: Axpy[%d] = %g, want %g", n, i, dst[i], want)
			}
			ref += float64(x[i]) * float64(y[i])
		}
		if got := DotF32(x, y); math.Abs(float64(got)-ref) > 1e-4 {
			t.Errorf("n=%d: DotF32 = %g, want %g", n, got, ref)
		}
		h := make([]uint16, n)
		var href float64
		for i := range h {
			h[i] = F32ToF16(x[i])
			href += float64(F16ToF32(h[i])) * float64(y[i])
		}
		if got := DotF16(h, y); math.Abs(float64(got)-href) > 1e-4 {
			t.Errorf("n=%d: DotF16 = %g, want %g", n, got, href)
		}
		hd := append([]float32(nil), y...)
		AxpyF16(hd, h, 2)
		for i := range hd {
			if want := y[i] + 2*F16ToF32(h[i]); math.Abs(float64(hd[i]-want)) > 1e-5 {
				t.Fatalf("n=%d: AxpyF16[%d] = %g, want %g", n, i, hd[i], want)
			}
		}
	}
}

// TestF16Slices checks the vector conversions against F32ToF16 on random
// values of every magnitude, subnormal halves, overflow and ties included.
func TestF16Slices(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	n := 1003
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(50)-30)))
	}
	x[0], x[1], x[2], x[3] = 1+1.0/2048, 1+3.0/2048, 1e6, -5.960464477539063e-08
	h := make([]uint16, n)
	ToF16(h, x)
	y := append([]float32(nil), x...)
	RoundF16s(y)
	for i, v := range x {
		if want := F32ToF16(v); h[i] != want || y[i] != F16ToF32(want) {
			t.Fatalf("%g: ToF16 %#04x, RoundF16s %g; want %#04x", v, h[i], y[i], want)
		}
	}
}

// TestActivationQuantAsm checks the assembly activation quantizer (and the
// VNNI lane sums it writes) against the Go one, bit for bit.
func TestActivationQuantAsm(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	n := 32 * 37
	x := randVec(r, n, 3)
	for i := 64; i < 96; i++ {
		x[i] = 0 // an all-zero block
	}
	x[100] = 127 * 0.5 // ties
	for _, wt := range []Type{Q8_0, Q4_0} {
		var v Vec
		if err := v.Prepare(wt, x); err != nil {
			t.Fatal(err)
		}
		for b := range n / QK8_0 {
			var q [32]int8
			d := quantActQ8_0(x[b*32:(b+1)*32], q[:])
			if d != v.d[b] || q != [32]int8(v.q[b*32:(b+1)*32]) {
				t.Fatalf("%v block %d: d %g q %v, want d %g q %v", wt, b, v.d[b], v.q[b*32:(b+1)*32], d, q)
			}
			if len(v.aux) == 0 {
				continue
			}
			off := int32(128)
			if wt == Q4_0 {
				off = 8
			}
			for l := range 8 {
				want := -off * (int32(q[4*l]) + int32(q[4*l+1]) + int32(q[4*l+2]) + int32(q[4*l+3]))
				if got := v.aux[b*auxWords+l]; got != want {
					t.Fatalf("%v block %d lane %d: aux %d, want %d", wt, b, l, got, want)
				}
			}
			if math.Float32frombits(uint32(v.aux[b*auxWords+8])) != d {
				t.Fatalf("%v block %d: aux scale %g, want %g", wt, b, math.Float32frombits(uint32(v.aux[b*auxWords+8])), d)
			}
		}
	}
}

// TestKQuantPaths runs both assembly paths of Q4_K and Q6_K (whole row,
// per super-block) against the portable kernels.
func TestKQuantPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, tc := range []struct {
		wt Type
		n  int
	}{{Q4_K, 256}, {Q4_K, 768}, {Q4_K, 2048}, {Q6_K, 256}, {Q6_K, 768}, {Q6_K, 2048}} {
		wt, n := tc.wt, tc.n
		row, _ := Quantize(wt, randVec(r, n, 0.05), nil)
		var v Vec
		if err := v.Prepare(wt, randVec(r, n, 1)); err != nil {
			t.Fatal(err)
		}
		want, _ := portableDot(row, &v)
		for _, perBlock := range []bool{false, true} {
			disableQ4KRow = perBlock
			got := v.Dot(row)
			disableQ4KRow = false
			if got != want {
				t.Errorf("%v n=%d per-block=%v: %g, portable %g", wt, n, perBlock, got, want)
			}
		}
	}
}
