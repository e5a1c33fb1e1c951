package llama

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/quant"
)

// TestConfigArchs checks what ConfigFromGGUF makes of each architecture's
// keys and defaults (llama.cpp's, see config.go).
func TestConfigArchs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		spec  Synthetic
		extra map[string]any
		check func(t *testing.T, c Config)
	}{
		{name: "gemma2 defaults", spec: archSpec("gemma2", nil), check: func(t *testing.T, c Config) {
			if c.AttnSoftCap != 50 || c.FinalSoftCap != 30 || c.SlidingWindow != 4096 || c.SWAPattern != 2 {
				t.Errorf("caps %g/%g, window %d every %d", c.AttnSoftCap, c.FinalSoftCap, c.SlidingWindow, c.SWAPattern)
			}
			if !c.Windowed(0) || c.Windowed(1) || !c.Windowed(2) {
				t.Error("gemma2 windows even layers")
			}
			if c.EmbedScale != 16 || c.AttnScale != 0.125 || !c.QueryPreScale || c.FFNAct != ActGELU || !c.PostNorms {
				t.Errorf("embedding scale %g, attention scale %g (pre %v), act %s", c.EmbedScale, c.AttnScale, c.QueryPreScale, c.FFNAct)
			}
		}},
		{name: "gemma2 27B scale", spec: archSpec("gemma2", func(sp *Synthetic) { sp.HeadDim = 128 }),
			extra: map[string]any{"gemma2.block_count": uint32(46)}, check: func(t *testing.T, c Config) {
				// 46 layers: 1/sqrt(embedding/heads) = 1/8, not 1/sqrt(128).
				if c.AttnScale != 0.125 {
					t.Errorf("attention scale %g", c.AttnScale)
				}
			}},
		{name: "gemma3 window and local rope", spec: gemma3Spec, check: func(t *testing.T, c Config) {
			for il, want := range []bool{true, true, true, true, true, false, true} {
				if c.Windowed(il) != want {
					t.Errorf("layer %d windowed %v", il, !want)
				}
			}
			if c.RopeBase != 1e6 || c.RopeFreqScale != 0.5 || c.RopeBaseSWA != 10000 || c.RopeFreqScaleSWA != 1 {
				t.Errorf("rope %g/%g, local %g/%g", c.RopeBase, c.RopeFreqScale, c.RopeBaseSWA, c.RopeFreqScaleSWA)
			}
			if c.AttnSoftCap != 0 || c.FinalSoftCap != 0 || !c.QKNorm || c.HeadDim != 96 {
				t.Errorf("caps %g/%g, q/k norms %v, head %d", c.AttnSoftCap, c.FinalSoftCap, c.QKNorm, c.HeadDim)
			}
		}},
		{name: "gemma3 without a window", spec: archSpec("gemma3", nil), check: func(t *testing.T, c Config) {
			if c.Windowed(0) || c.RopeBaseSWA != c.RopeBase {
				t.Error("no sliding_window key: every layer global")
			}
		}},
		{name: "phi3 ignores its window", spec: phi3Spec, extra: map[string]any{"phi3.attention.sliding_window": uint32(8)},
			check: func(t *testing.T, c Config) {
				if c.SlidingWindow != 0 || !c.QueryPreScale || !c.RopeNeox {
					t.Errorf("window %d", c.SlidingWindow)
				}
			}},
		{name: "llama window", spec: archSpec("llama", func(sp *Synthetic) { sp.SlidingWindow = 16 }), check: func(t *testing.T, c Config) {
			if c.SlidingWindow != 16 || !c.Windowed(0) || !c.Windowed(2) {
				t.Errorf("window %d", c.SlidingWindow)
			}
		}},
		{name: "qwen2 ignores a window", spec: qwen2Spec(quant.Q8_0), extra: map[string]any{"qwen2.attention.sliding_window": uint32(8)},
			check: func(t *testing.T, c Config) {
				if c.Windowed(0) {
					t.Error("qwen2 windowed")
				}
			}},
		{name: "yarn", spec: yarnSpec, extra: map[string]any{"llama.rope.scaling.yarn_beta_fast": float32(16)}, check: func(t *testing.T, c Config) {
			if c.RopeScaling != RopeScalingYarn || c.RopeFreqScale != 0.25 || c.RopeOrigContext != 64 || c.YarnBetaFast != 16 || c.YarnBetaSlow != 1 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "linear factor without a type", spec: archSpec("llama", nil), extra: map[string]any{"llama.rope.scaling.factor": float32(4)},
			check: func(t *testing.T, c Config) {
				if c.RopeScaling != RopeScalingLinear || c.RopeFreqScale != 0.25 {
					t.Errorf("%s %g", c.RopeScaling, c.RopeFreqScale)
				}
			}},
		{name: "type none overrides a factor", spec: archSpec("llama", nil),
			extra: map[string]any{"llama.rope.scaling.factor": float32(4), "llama.rope.scaling.type": "none"},
			check: func(t *testing.T, c Config) {
				if c.RopeScaling != RopeScalingNone || c.RopeFreqScale != 1 {
					t.Errorf("%s %g", c.RopeScaling, c.RopeFreqScale)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := tc.spec.Build()
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.extra {
				if err := w.Set(k, v); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "m.gguf")
			if err := w.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c, err := ConfigFromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestYarnRope checks the YaRN rope set against the formulas written out in
// float64: llama.cpp's magnitude 1 + 0.1·ln(factor) and the ramp between
// the correction dimensions.
func TestYarnRope(t *testing.T) {
	c := Config{RopeDim: 64, RopeScaling: RopeScalingYarn, RopeFreqScale: 0.25, RopeOrigContext: 64,
		YarnBetaFast: 32, YarnBetaSlow: 1, RopeAttnFactor: 1}
	r := newRopeSet(&c, 10000, 0.25)
	if want := 1 + 0.1*math.Log(4); math.Abs(float64(r.mscale)-want) > 1e-6 {
		t.Errorf("magnitude %g, want %g", r.mscale, want)
	}
	corr := func(beta float64) float64 { return 64 * math.Log(64/(beta*2*math.Pi)) / (2 * math.Log(10000)) }
	if lo, hi := math.Max(0, math.Floor(corr(32))), math.Min(63, math.Ceil(corr(1))); float64(r.corr[0]) != lo || float64(r.corr[1]) != hi {
		t.Errorf("correction dims %v, want [%g %g]", r.corr, lo, hi)
	}
	if r.extFactor != 1 || r.freqScale != 0.25 {
		t.Errorf("ext factor %g, freq scale %g", r.extFactor, r.freqScale)
	}
}
