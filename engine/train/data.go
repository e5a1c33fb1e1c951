package train

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// ErrCheckpoint reports a checkpoint file that cannot be read back.
var ErrCheckpoint = errors.New("train: bad checkpoint")

// Dataset is a token stream cut into windows of Context+1 tokens (consecutive windows
// overlap by one token, so every token is a target once per epoch).
type Dataset struct {
	Tokens []int32
	T      int
	perm   []int32
	epoch  int
}

// Cursor is a position in the dataset: which shuffled epoch, and how many of its windows
// were used.
type Cursor struct {
	Seed  uint64 `json:"seed"`
	Epoch int    `json:"epoch"`
	Pos   int    `json:"pos"`
}

// NewDataset wraps tokens for sequences of context tokens.
func NewDataset(tokens []int32, context int) (*Dataset, error) {
	if len(tokens) < context+1 {
		return nil, fmt.Errorf("%w: %d tokens, fewer than one window of %d", ErrConfig, len(tokens), context+1)
	}
	return &Dataset{Tokens: tokens, T: context, epoch: -1}, nil
}

// Windows is the number of windows in an epoch.
func (d *Dataset) Windows() int { return (len(d.Tokens) - 1) / d.T }

func (d *Dataset) permutation(seed uint64, epoch int) []int32 {
	if d.epoch == epoch && d.perm != nil {
		return d.perm
	}
	n := d.Windows()
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(i)
	}
	r := NewRNG(seed ^ (uint64(epoch)+1)*0xd1b54a32d192ed03)
	for i := n - 1; i > 0; i-- {
		j := int(r.Uint64() % uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	d.perm, d.epoch = p, epoch
	return p
}

// Next fills each sequence of batch with the next window and advances c.
func (d *Dataset) Next(c *Cursor, batch [][]int32) error {
	for _, seq := range batch {
		if len(seq) != d.T+1 {
			return fmt.Errorf("%w: sequence of %d tokens for context %d", ErrConfig, len(seq), d.T)
		}
		p := d.permutation(c.Seed, c.Epoch)
		start := int(p[c.Pos]) * d.T
		copy(seq, d.Tokens[start:start+d.T+1])
		if c.Pos++; c.Pos == len(p) {
			c.Epoch, c.Pos = c.Epoch+1, 0
		}
	}
	return nil
}

const checkpointMagic = "CHORUSCKPT1\n"

// Save writes s to path atomically (a temporary file renamed over it).
func (s *State) Save(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ckpt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	hdr, err := json.Marshal(s)
	if err != nil {
		tmp.Close()
		return err
	}
	w.WriteString(checkpointMagic)
	binary.Write(w, binary.LittleEndian, uint32(len(hdr)))
	w.Write(hdr)
	var b [4]byte
	for _, arr := range [][]float32{s.Params, s.M, s.V} {
		for _, v := range arr {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			w.Write(b[:])
		}
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadState reads a checkpoint written by Save.
func LoadState(path string) (*State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != checkpointMagic {
		return nil, fmt.Errorf("%w: %s: not a checkpoint", ErrCheckpoint, path)
	}
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil || n > 1<<20 {
		return nil, fmt.Errorf("%w: %s: header", ErrCheckpoint, path)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
	}
	s := &State{}
	if err := json.Unmarshal(hdr, s); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
	}
	if err := s.Cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
	}
	np := s.Cfg.NumParams()
	buf := make([]byte, 4*np)
	for _, dst := range []*[]float32{&s.Params, &s.M, &s.V} {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
		}
		a := make([]float32, np)
		for i := range a {
			a[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		*dst = a
	}
	return s, nil
}

// ReadJSONL reads a JSON Lines file (a corpus's train.jsonl or heldout.jsonl)
// into one T per line. hint is added to the error when the file cannot be
// opened, to say how to make it.
func ReadJSONL[T any](path, hint string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		if hint != "" {
			return nil, fmt.Errorf("%w (%s)", err, hint)
		}
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
