package engine

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func generateTokens(t *testing.T, m *Model, req TokenRequest) []int32 {
	t.Helper()
	var emitted []int32
	out, err := m.GenerateTokens(context.Background(), req, func(id int32) error {
		emitted = append(emitted, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out, emitted) {
		t.Fatalf("returned %v, emitted %v", out, emitted)
	}
	return out
}

func TestGenerateTokensAllow(t *testing.T) {
	m := newTestModel(t)
	prompt := m.Encode("Once upon a time")
	allow := []int32{10, 11, 12, 13, 300}
	tests := []struct {
		name string
		req  TokenRequest
	}{
		{"greedy", TokenRequest{Prompt: prompt, MaxTokens: 20, Allow: allow}},
		{"sampled", TokenRequest{Prompt: prompt, MaxTokens: 20, Temperature: 1.5, TopK: 3, Seed: 4, Allow: allow}},
		{"guided", TokenRequest{Prompt: prompt, MaxTokens: 20, Temperature: 1, Seed: 4, Allow: allow,
			Guidance: 3, Unconditional: m.Encode("")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := generateTokens(t, m, tc.req)
			if len(out) != tc.req.MaxTokens {
				t.Fatalf("%d tokens, want %d", len(out), tc.req.MaxTokens)
			}
			for _, id := range out {
				if !slices.Contains(allow, id) {
					t.Fatalf("sampled %d, outside the allowed %v", id, allow)
				}
			}
			if again := generateTokens(t, m, tc.req); !slices.Equal(again, out) {
				t.Errorf("the same request gave %v, then %v", out, again)
			}
		})
	}
}

func TestGenerateTokensGuidanceChangesOutput(t *testing.T) {
	m := newTestModel(t)
	req := TokenRequest{Prompt: m.Encode("The cat sat"), MaxTokens: 24}
	plain := generateTokens(t, m, req)
	req.Guidance, req.Unconditional = 1, m.Encode("")
	if one := generateTokens(t, m, req); !slices.Equal(one, plain) {
		t.Errorf("guidance 1 gave %v, the unguided model %v", one, plain)
	}
	req.Guidance = 8
	if strong := generateTokens(t, m, req); slices.Equal(strong, plain) {
		t.Error("guidance 8 did not change a greedy continuation")
	}
}

func TestGenerateTokensInvalid(t *testing.T) {
	m := newTestModel(t)
	p := m.Encode("hello")
	tests := []struct {
		name string
		req  TokenRequest
		want error
	}{
		{"no prompt", TokenRequest{MaxTokens: 3}, ErrInvalidRequest},
		{"no tokens asked", TokenRequest{Prompt: p}, ErrInvalidRequest},
		{"allowed token outside the vocabulary", TokenRequest{Prompt: p, MaxTokens: 3, Allow: []int32{100000}}, ErrInvalidRequest},
		{"prompt token outside the vocabulary", TokenRequest{Prompt: []int32{-1}, MaxTokens: 3}, ErrInvalidRequest},
		{"longer than the context", TokenRequest{Prompt: p, MaxTokens: 10000}, ErrPromptTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.GenerateTokens(context.Background(), tc.req, func(int32) error { return nil })
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestGenerateTokensCancel(t *testing.T) {
	m := newTestModel(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	out, err := m.GenerateTokens(ctx, TokenRequest{Prompt: m.Encode("hi"), MaxTokens: 100}, func(int32) error {
		if n++; n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || len(out) != 5 {
		t.Errorf("%d tokens, error %v; want 5 and context.Canceled", len(out), err)
	}
}
