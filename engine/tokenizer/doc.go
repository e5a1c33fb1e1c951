// Package tokenizer turns text into model token ids and back, and formats chat prompts, using the
// vocabulary, merges and chat template stored in a GGUF file the way llama.cpp does.
package tokenizer
