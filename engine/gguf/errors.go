package gguf

import "errors"

// Sentinel errors; match them with errors.Is. Returned errors wrap them with detail.
var (
	ErrBadMagic           = errors.New("gguf: not a GGUF file (bad magic)")
	ErrUnsupportedVersion = errors.New("gguf: unsupported GGUF version")
	ErrTruncated          = errors.New("gguf: file truncated")
	ErrUnknownType        = errors.New("gguf: unknown tensor type")
	ErrInvalidValueType   = errors.New("gguf: invalid metadata value type")
	ErrTooMany            = errors.New("gguf: count larger than the file can hold")
	ErrDuplicate          = errors.New("gguf: duplicate key or tensor name")
	ErrInvalidShape       = errors.New("gguf: invalid tensor shape")
	ErrShapeOverflow      = errors.New("gguf: tensor shape overflows")
	ErrBadAlignment       = errors.New("gguf: invalid general.alignment")
	ErrMisaligned         = errors.New("gguf: tensor data misaligned")
	ErrOutOfRange         = errors.New("gguf: tensor data out of range")
	ErrOverlap            = errors.New("gguf: tensor data overlaps another tensor")
	ErrNotFound           = errors.New("gguf: not found")
	ErrClosed             = errors.New("gguf: file closed")
	ErrUnsupportedValue   = errors.New("gguf: unsupported metadata value")
)
