// Package sample picks the next token from a model's logits (temperature, top-k, top-p, min-p,
// repetition penalties, seeded randomness) and cuts streamed text at stop strings.
package sample
