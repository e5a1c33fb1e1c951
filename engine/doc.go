// Package engine is Chorus's pure-Go transformer runtime: it loads
// llama-family models from GGUF files and generates text with them.
package engine
