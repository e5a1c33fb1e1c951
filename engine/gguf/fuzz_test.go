package gguf

import "testing"

// FuzzParse checks that no input makes Parse panic or hand out a tensor view outside the input.
func FuzzParse(f *testing.F) {
	_, data := sampleFile(f)
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(start(1, 1).str("k").u32(uint32(TypeString)).str("v").tensor("t", Q8_0, 0, 32).pad(64).Bytes())
	f.Add(start(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(2).str("a").str("b").Bytes())
	f.Add([]byte("GGUF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		for _, ti := range file.Tensors() {
			info, raw, err := file.Tensor(ti.Name)
			if err != nil {
				t.Fatalf("tensor %q listed but not readable: %v", ti.Name, err)
			}
			if uint64(len(raw)) != info.Size || file.DataStart+info.Offset+info.Size > uint64(len(data)) {
				t.Fatalf("tensor %q view out of range", ti.Name)
			}
		}
	})
}
