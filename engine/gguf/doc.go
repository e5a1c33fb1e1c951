// Package gguf reads and writes GGUF model files, the container llama.cpp uses for weights,
// hyper-parameters and tokenizer metadata.
package gguf
