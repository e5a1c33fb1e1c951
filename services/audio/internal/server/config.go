package server

import (
	"errors"
	"flag"
	"fmt"

	"github.com/chorus-ai/chorus/platform/ports"
	"github.com/chorus-ai/chorus/platform/serve"

	"github.com/chorus-ai/chorus/services/audio/internal/backend/espeak"
	"github.com/chorus-ai/chorus/services/audio/internal/backend/music"
)

// How the espeak backend is enabled.
const (
	EspeakAuto = "auto" // on when espeak-ng is on PATH
	EspeakOn   = "on"   // required: startup fails without espeak-ng
	EspeakOff  = "off"
)

// How the music backend is enabled: the same three modes.
const (
	MusicAuto = "auto" // on when fluidsynth and the soundfont are found
	MusicOn   = "on"   // required: startup fails without them
	MusicOff  = "off"
)

// Config is the audio service's configuration.
type Config struct {
	// Server is where the service listens and what each backend admits.
	Server serve.ModalityConfig
	// Espeak is EspeakAuto, EspeakOn or EspeakOff.
	Espeak string
	// EspeakBinary is the espeak-ng program, a path or a name on PATH.
	EspeakBinary string
	// Music is MusicAuto, MusicOn or MusicOff.
	Music string
	// Soundfont is the General MIDI SoundFont 2 file the music backend
	// plays through.
	Soundfont string
}

// DefaultConfig is the configuration with no flags: Flite, espeak-ng when
// installed, and music when fluidsynth and its soundfont are, on
// ports.AudioAddr.
func DefaultConfig() Config {
	return Config{
		Server:       serve.ModalityConfig{Config: serve.Config{Addr: ports.AudioAddr, MetricsAddr: serve.MetricsAuto}, Concurrency: 4, Queue: 16},
		Espeak:       EspeakAuto,
		EspeakBinary: espeak.Binary,
		Music:        MusicAuto,
		Soundfont:    music.DefaultSoundfont,
	}
}

// RegisterFlags registers the flags that set c, with c's values as their
// defaults. They only parse: Validate checks (see serve.ModalityConfig).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Server.RegisterFlags(fs)
	fs.StringVar(&c.Espeak, "espeak", c.Espeak, "espeak backend `mode`: auto (on when espeak-ng is on PATH), on (required) or off")
	fs.StringVar(&c.EspeakBinary, "espeak-binary", c.EspeakBinary, "the espeak-ng program: a path, or a name looked up on PATH")
	fs.StringVar(&c.Music, "music", c.Music, "music backend `mode`: auto (on when fluidsynth and the soundfont are found), on (required) or off")
	fs.StringVar(&c.Soundfont, "soundfont", c.Soundfont, "the General MIDI SoundFont 2 `file` the music backend plays through")
}

// Validate reports a configuration the service cannot start with.
func (c Config) Validate() error {
	errs := []error{c.Server.Validate()}
	switch c.Espeak {
	case EspeakAuto, EspeakOn, EspeakOff:
	default:
		errs = append(errs, fmt.Errorf("-espeak must be auto, on or off, got %q", c.Espeak))
	}
	switch c.Music {
	case MusicAuto, MusicOn, MusicOff:
	default:
		errs = append(errs, fmt.Errorf("-music must be auto, on or off, got %q", c.Music))
	}
	return errors.Join(errs...)
}
