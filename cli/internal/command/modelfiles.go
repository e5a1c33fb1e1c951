package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chorus-ai/chorus/engine"
	"github.com/chorus-ai/chorus/engine/imagegen"
)

// modelVerbs manage the GGUF files of a models directory, the one the text
// and image services serve (-models-dir); the services pick changes up
// while they run. Unlike `chorus models [text|image|audio]`, they work on
// files, not through the gateway.
var modelVerbs = []subcommand{
	{name: "add", summary: "copy or download a GGUF model into the models directory", run: modelsAdd},
	{name: "list", summary: "list the GGUF files in the models directory", run: modelsList},
	{name: "rm", summary: "remove a model from the models directory", run: modelsRm},
}

// DefaultMaxModelBytes bounds what `models add` copies or downloads.
const DefaultMaxModelBytes = 64 << 30

// notFound marks an error as "no such model or file" (exit status 3).
type notFound struct{ err error }

func (e notFound) Error() string { return e.err.Error() }
func (e notFound) Unwrap() error { return e.err }

// unavailable marks an error as "the server is unavailable" (exit status 4).
type unavailable struct{ err error }

func (e unavailable) Error() string { return e.err.Error() }
func (e unavailable) Unwrap() error { return e.err }

// dirFlag adds -dir, defaulting to $CHORUS_MODELS_DIR or ./models, the
// services' default -models-dir.
func dirFlag(env Env, fs *flag.FlagSet) *string {
	def := env.Getenv("CHORUS_MODELS_DIR")
	if def == "" {
		def = "models"
	}
	return fs.String("dir", def, "the models `directory` (env CHORUS_MODELS_DIR); the services' -models-dir")
}

// addedModel is what `models add` reports.
type addedModel struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
	Arch     string `json:"arch"`
	FileType string `json:"quantization"`
	Params   int64  `json:"parameters"`
	Resumed  int64  `json:"resumedFrom,omitempty"`
}

func modelsAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "models add", "PATH|URL [flags]",
		"Copies a GGUF file, or downloads one over HTTP(S), into the models directory, where the\n"+
			"text and image services pick it up without a restart. The file is checked first: its\n"+
			"sha256 (-sha256, or the URL's .sha256 sidecar when the server has one), its size, and\n"+
			"that the engine can load it (header, architecture, tokenizer). It is written to\n"+
			"NAME.gguf.part and renamed into place only once every check passes; an interrupted\n"+
			"download resumes from the .part file when run again.\n\n"+exitCodes)
	dir := dirFlag(env, fs)
	sum := fs.String("sha256", "", "the file's expected sha256, in `hex`")
	name := fs.String("name", "", "the model's `name` in the directory (default: the file's)")
	maxBytes := fs.Int64("max-size", DefaultMaxModelBytes, "refuse files larger than this many `bytes`")
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(env, fs, "want exactly one PATH or URL, got %q", pos)
	}
	src := pos[0]
	want := strings.ToLower(strings.TrimSpace(*sum))
	if want != "" {
		if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
			return usageError(env, fs, "-sha256 %q is not 64 hex digits", *sum)
		}
	}
	isURL := strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
	base := filepath.Base(src)
	if isURL {
		u, err := url.Parse(src)
		if err != nil {
			return badInput{fmt.Errorf("%q: %w", src, err)}
		}
		base = path.Base(u.Path)
	}
	file, err := modelFileName(*name, base)
	if err != nil {
		return badInput{err}
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	a := &adder{env: env, dest: filepath.Join(*dir, file), max: *maxBytes, want: want}
	if _, err := os.Stat(a.dest); err == nil {
		return badInput{fmt.Errorf("%s already exists; `chorus models rm %s` first to replace it", a.dest, strings.TrimSuffix(file, ".gguf"))}
	}
	if isURL {
		err = a.download(ctx, src)
	} else {
		err = a.copyFile(src)
	}
	if err != nil {
		return err
	}
	res, err := a.finish()
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "added %s (%s, %s, %s, %s parameters)\nsha256 %s\n",
		res.Path, humanBytes(res.Bytes), res.Arch, res.FileType, humanCount(res.Params), res.SHA256)
	return nil
}

// modelFileName is the file a model lands in: name, or else base, with
// ".gguf", and nothing that leaves the directory or hides the file.
func modelFileName(name, base string) (string, error) {
	n := name
	if n == "" {
		n = base
	}
	if !strings.HasSuffix(n, ".gguf") {
		if name == "" {
			return "", fmt.Errorf("%q does not end in .gguf; set -name to add it anyway", base)
		}
		n += ".gguf"
	}
	if n == ".gguf" || strings.HasPrefix(n, ".") || strings.ContainsAny(n, `/\`) {
		return "", fmt.Errorf("%q is not a usable model file name (-name sets one)", n)
	}
	return n, nil
}

// adder fills dest.part and checks it before renaming it to dest.
type adder struct {
	env     Env
	dest    string
	max     int64
	want    string // expected sha256 in hex, or empty
	h       hash.Hash
	resumed int64
}

func (a *adder) part() string { return a.dest + ".part" }

// meta is the sidecar of a download's .part file: what a resume must
// match for its bytes to be a prefix of the same file.
func (a *adder) meta() string { return a.dest + ".part.json" }

type partMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

// discard removes the .part file and its sidecar.
func (a *adder) discard() {
	os.Remove(a.part())
	os.Remove(a.meta())
}

func (a *adder) copyFile(src string) error {
	in, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return notFound{err}
	}
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return badInput{fmt.Errorf("%s is not a regular file", src)}
	}
	if fi.Size() > a.max {
		return badInput{fmt.Errorf("%s is %s, over -max-size %s", src, humanBytes(fi.Size()), humanBytes(a.max))}
	}
	if a.want == "" {
		if b, err := os.ReadFile(src + ".sha256"); err == nil {
			if a.want, err = parseSum(b); err != nil {
				return fmt.Errorf("%s.sha256: %w", src, err)
			}
		}
	}
	a.discard()
	out, err := os.OpenFile(a.part(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	a.h = sha256.New()
	err = a.fill(out, in, 0, fi.Size())
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		a.discard()
	}
	return err
}

// fill copies in to out (at offset done of total bytes; total -1 when
// unknown) through the hash, with progress, up to a.max bytes.
func (a *adder) fill(out io.Writer, in io.Reader, done, total int64) error {
	p := newCopyProgress(a.env, filepath.Base(a.dest), done, total)
	w := io.MultiWriter(out, a.h, p)
	n, err := io.Copy(w, io.LimitReader(in, a.max-done+1))
	p.end(err == nil)
	if err != nil {
		return err
	}
	if done+n > a.max {
		return badInput{fmt.Errorf("the file is over -max-size %s", humanBytes(a.max))}
	}
	if total >= 0 && done+n != total {
		return fmt.Errorf("got %d bytes of %d", done+n, total)
	}
	return nil
}

func (a *adder) download(ctx context.Context, src string) error {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	if a.want == "" {
		var err error
		if a.want, err = fetchSum(ctx, hc, src+".sha256"); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return badInput{err}
	}
	// Resume a .part file from an earlier run of the same URL, when the
	// server named a validator for it: If-Range makes the server send the
	// whole file again if it changed since.
	var have int64
	var m partMeta
	if b, err := os.ReadFile(a.meta()); err == nil && json.Unmarshal(b, &m) == nil && m.URL == src {
		if fi, err := os.Stat(a.part()); err == nil && fi.Size() > 0 {
			validator := m.ETag
			if validator == "" {
				validator = m.LastModified
			}
			if validator != "" {
				have = fi.Size()
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
				req.Header.Set("If-Range", validator)
			}
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", src, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return fmt.Errorf("downloading %s: the server resumed at %q, not byte %d", src, resp.Header.Get("Content-Range"), have)
		}
		return a.appendTo(resp, have, total)
	case resp.StatusCode == http.StatusOK:
		m = partMeta{URL: src, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
		b, _ := json.Marshal(m)
		if err := os.WriteFile(a.meta(), b, 0o644); err != nil {
			return err
		}
		if err := os.Remove(a.part()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return a.appendTo(resp, 0, resp.ContentLength)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The .part file is not a prefix of what the server has now.
		a.discard()
		return fmt.Errorf("downloading %s: the server refused to resume; run again to start over", src)
	}
	return httpError(src, resp)
}

// appendTo appends the body of resp to the .part file, which holds have
// bytes, and leaves the .part file for a later resume when cut short.
func (a *adder) appendTo(resp *http.Response, have, total int64) error {
	if total > a.max {
		a.discard()
		return badInput{fmt.Errorf("%s is %s, over -max-size %s", resp.Request.URL, humanBytes(total), humanBytes(a.max))}
	}
	out, err := os.OpenFile(a.part(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	// The hash covers the whole file: read back what an earlier run wrote.
	a.h = sha256.New()
	if n, err := io.Copy(a.h, io.LimitReader(out, have)); err != nil || n != have {
		return fmt.Errorf("reading %s back: %d of %d bytes: %v", a.part(), n, have, err)
	}
	a.resumed = have
	if err := a.fill(out, resp.Body, have, total); err != nil {
		var bad badInput
		if errors.As(err, &bad) {
			a.discard()
			return err
		}
		// Exit status 4: trying again later may work, and resumes.
		return unavailable{fmt.Errorf("downloading %s: %w (the %s so far are kept in %s: run the same command again to resume)",
			resp.Request.URL, err, humanBytes(fileSize(a.part())), a.part())}
	}
	return out.Close()
}

// finish checks the .part file (sha256, loadable) and renames it into place.
func (a *adder) finish() (addedModel, error) {
	got := hex.EncodeToString(a.h.Sum(nil))
	if a.want != "" && got != a.want {
		a.discard()
		return addedModel{}, fmt.Errorf("sha256 mismatch: got %s, want %s; nothing was added", got, a.want)
	}
	info, err := checkModel(a.part())
	if err != nil {
		a.discard()
		return addedModel{}, badInput{fmt.Errorf("not a model the engine can serve, nothing was added: %w", err)}
	}
	if f, err := os.OpenFile(a.part(), os.O_RDWR, 0); err == nil {
		err = f.Sync()
		f.Close()
		if err != nil {
			return addedModel{}, err
		}
	}
	size := fileSize(a.part())
	if err := os.Rename(a.part(), a.dest); err != nil {
		return addedModel{}, err
	}
	os.Remove(a.meta())
	return addedModel{Name: strings.TrimSuffix(filepath.Base(a.dest), ".gguf"), Path: a.dest, Bytes: size, SHA256: got,
		Arch: info.Arch, FileType: info.FileType, Params: info.Params, Resumed: a.resumed}, nil
}

// checkModel loads the file as the services would: an image model as the
// image service does, anything else as a text model.
func checkModel(p string) (engine.FileInfo, error) {
	info, err := engine.Describe(p)
	if err != nil {
		return info, err
	}
	if image, _ := imagegen.IsImageModel(p); image {
		m, err := imagegen.Load(p)
		if err != nil {
			return info, err
		}
		return info, m.Close()
	}
	m, err := engine.Load(p)
	if err != nil {
		return info, err
	}
	return info, m.Close()
}

// fetchSum reads a sha256 sidecar; none (404) is not an error.
func fetchSum(ctx context.Context, hc *http.Client, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", badInput{err}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	s, err := parseSum(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	return s, nil
}

// parseSum reads the first field of a sha256sum line.
func parseSum(b []byte) (string, error) {
	f := strings.Fields(string(b))
	if len(f) > 0 {
		if d, err := hex.DecodeString(f[0]); err == nil && len(d) == sha256.Size {
			return strings.ToLower(f[0]), nil
		}
	}
	return "", errors.New("not a sha256 sum")
}

// contentRange parses "bytes START-END/TOTAL" (TOTAL may be "*": -1).
func contentRange(s string) (start, total int64, ok bool) {
	r, found := strings.CutPrefix(s, "bytes ")
	span, size, found2 := strings.Cut(r, "/")
	first, _, found3 := strings.Cut(span, "-")
	if !found || !found2 || !found3 {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	total = -1
	if size != "*" {
		if total, err = strconv.ParseInt(size, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}

// httpError maps a download's HTTP status to the exit statuses.
func httpError(u string, resp *http.Response) error {
	err := fmt.Errorf("downloading %s: %s", u, resp.Status)
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return notFound{err}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return unavailable{err}
	}
	return err
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// listedModel is one row of `models list`.
type listedModel struct {
	Name     string `json:"name"`
	Bytes    int64  `json:"bytes"`
	Arch     string `json:"arch,omitempty"`
	FileType string `json:"quantization,omitempty"`
	Params   int64  `json:"parameters,omitempty"`
	Error    string `json:"error,omitempty"`
}

func modelsList(_ context.Context, env Env, args []string) error {
	fs := newFlags(env, "models list", "[flags]",
		"Lists the GGUF files in the models directory with their size, architecture,\n"+
			"quantisation and parameter count, read from each file's header.")
	dir := dirFlag(env, fs)
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(env, fs, "unexpected arguments %q", pos)
	}
	paths, err := filepath.Glob(filepath.Join(*dir, "*.gguf"))
	if err != nil {
		return err
	}
	slices.Sort(paths)
	rows := []listedModel{}
	for _, p := range paths {
		r := listedModel{Name: strings.TrimSuffix(filepath.Base(p), ".gguf"), Bytes: fileSize(p)}
		if info, err := engine.Describe(p); err != nil {
			r.Error = err.Error()
		} else {
			r.Arch, r.FileType, r.Params = info.Arch, info.FileType, info.Params
		}
		rows = append(rows, r)
	}
	if *asJSON {
		return writeJSON(env.Stdout, map[string]any{"dir": *dir, "models": rows})
	}
	if len(rows) == 0 {
		fmt.Fprintf(env.Stderr, "no GGUF files in %s; `chorus models add PATH|URL` adds one\n", *dir)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tARCH\tQUANT\tPARAMS")
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t(unreadable: %s)\t\t\n", r.Name, humanBytes(r.Bytes), r.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, humanBytes(r.Bytes), r.Arch, r.FileType, humanCount(r.Params))
	}
	return tw.Flush()
}

func modelsRm(_ context.Context, env Env, args []string) error {
	fs := newFlags(env, "models rm", "NAME [flags]",
		"Removes NAME.gguf (and any unfinished download of it) from the models directory; a\n"+
			"running service stops listing it and unloads it once its requests finish.\n\n"+exitCodes)
	dir := dirFlag(env, fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(env, fs, "want exactly one model name, got %q", pos)
	}
	file, err := modelFileName(strings.TrimSuffix(pos[0], ".gguf"), "")
	if err != nil {
		return badInput{err}
	}
	p := filepath.Join(*dir, file)
	os.Remove(p + ".part")
	os.Remove(p + ".part.json")
	if err := os.Remove(p); errors.Is(err, os.ErrNotExist) {
		return notFound{fmt.Errorf("no model %s in %s (`chorus models list` lists them)", pos[0], *dir)}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "removed %s\n", p)
	return nil
}

// copyProgress reports a copy's progress on stderr: a bar redrawn in place on
// a terminal, otherwise a plain line every 10% (or every 64 MiB when the
// size is unknown), at most one every 2 s, and one at the end.
type copyProgress struct {
	w           io.Writer
	live        bool
	name        string
	done, total int64
	start       time.Time
	last        time.Time
	lastLine    int64
}

func newCopyProgress(env Env, name string, done, total int64) *copyProgress {
	now := time.Now()
	return &copyProgress{w: env.Stderr, live: env.isTerminal(), name: name, done: done, total: total,
		start: now, last: now, lastLine: done}
}

func (p *copyProgress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	now := time.Now()
	switch {
	case p.live:
		if now.Sub(p.last) >= 100*time.Millisecond {
			p.last = now
			p.draw()
		}
	case now.Sub(p.last) < 2*time.Second:
	case p.total > 0 && (p.done-p.lastLine)*10 >= p.total,
		p.total <= 0 && p.done-p.lastLine >= 64<<20:
		p.lastLine, p.last = p.done, now
		fmt.Fprintf(p.w, "%s: %s\n", p.name, p.status())
	}
	return len(b), nil
}

func (p *copyProgress) status() string {
	s := humanBytes(p.done)
	if p.total > 0 {
		s = fmt.Sprintf("%s of %s (%d%%)", s, humanBytes(p.total), p.done*100/p.total)
	}
	if el := time.Since(p.start).Seconds(); el > 0.5 {
		s += fmt.Sprintf(", %s/s", humanBytes(int64(float64(p.done)/el)))
	}
	return s
}

func (p *copyProgress) draw() {
	const width = 30
	bar := ""
	if p.total > 0 {
		n := int(p.done * width / p.total)
		bar = "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] "
	}
	fmt.Fprintf(p.w, "\r\x1b[2K%s %s%s", p.name, bar, p.status())
}

// end draws the last state and ends the live line.
func (p *copyProgress) end(ok bool) {
	if p.live {
		p.draw()
		fmt.Fprintln(p.w)
	} else if ok && p.done != p.lastLine {
		fmt.Fprintf(p.w, "%s: %s\n", p.name, p.status())
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// humanCount writes a parameter count as 135M or 1.2B.
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}
