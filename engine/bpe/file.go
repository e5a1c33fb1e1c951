package bpe

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile saves v as JSON at path (a run's tokenizer.json), making its
// directory.
func (v *Vocab) WriteFile(path string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// ReadFile loads a vocabulary that WriteFile saved.
func ReadFile(path string) (*Vocab, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := &Vocab{}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
