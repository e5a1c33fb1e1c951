package gateway

import (
	"embed"
	"io/fs"
	"net/http"
)

// The playground: one page, plain HTML, CSS and JavaScript, that runs
// pipelines and the modality services through this gateway's own REST API.
//
//go:embed playground
var playgroundFiles embed.FS

// mountPlayground serves the page at / and its assets under /playground/.
func mountPlayground(mux *http.ServeMux) {
	assets, err := fs.Sub(playgroundFiles, "playground")
	if err != nil {
		panic(err) // the directory is embedded above; it cannot be missing
	}
	files := http.FileServerFS(assets)
	mux.Handle("GET /{$}", namedRoute("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, assets, "index.html")
	})))
	mux.Handle("GET /playground/", namedRoute("GET /playground/", http.StripPrefix("/playground/", files)))
}
