package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chorus-ai/chorus/cli/internal/client"
	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
)

// DefaultCollection is the collection add and search use when -collection
// names none; ask-documents searches it by default too.
const DefaultCollection = "docs"

// Limits of what add sends in one request (the orchestrator takes 256
// documents; the gateway, bodies of 1 MiB unless -max-body-bytes says
// more: a request is kept to 768 KiB of JSON, a larger document going
// alone) and of one file (1 MiB, the orchestrator's limit).
const (
	addBatchDocs  = 64
	addBatchBytes = 768 << 10
	maxFileBytes  = 1 << 20
)

// documentExts are the files add reads in a folder.
var documentExts = map[string]bool{".md": true, ".markdown": true, ".txt": true, ".text": true}

var collectionVerbs = []subcommand{
	{name: "create", summary: "create an empty collection", run: collectionsCreate},
	{name: "list", summary: "list the collections", run: collectionsList},
	{name: "add", summary: "add text and Markdown files (or folders of them) to a collection", run: collectionsAdd},
	{name: "search", summary: "search a collection by meaning", run: collectionsSearch},
	{name: "delete", summary: "delete a collection and its documents", run: collectionsDelete},
}

// Collections runs `chorus collections create|list|add|search|delete`.
func Collections(ctx context.Context, env Env, args []string) error {
	return dispatch(ctx, env, "collections", "create|list|add|search|delete [ARGS] [flags]", collectionVerbs, args)
}

func collectionsCreate(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "collections create", "NAME [flags]", "Creates an empty collection (POST /v1/collections).\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	description := fs.String("description", "", "what the collection holds")
	model := fs.String("embedding-model", "", "the embedding model (default: the embedding service's default)")
	size := fs.Int("chunk-size", 0, "the longest chunk in bytes, 64..8192 (default 1000)")
	overlap := fs.Int("chunk-overlap", -1, "bytes of whole sentences repeated from the previous chunk (default 200)")
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(env, fs, "want exactly one collection name, got %q", pos)
	}
	req := &retrievalv1.CreateCollectionRequest{Name: pos[0], Description: *description, EmbeddingModel: *model, ChunkSize: int32(*size)}
	if *overlap >= 0 {
		req.ChunkOverlap = new(int32(*overlap))
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	col, err := c.CreateCollection(ctx, req)
	if err != nil {
		return unreachable(err, *gateway)
	}
	if *asJSON {
		return writeJSON(env.Stdout, col)
	}
	fmt.Fprintf(env.Stdout, "created collection %s (%s, %d dimensions)\n", col.GetName(), col.GetEmbeddingModel(), col.GetDimensions())
	return nil
}

func collectionsList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "collections list", "[flags]", "Lists the collections (GET /v1/collections).\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	asJSON := jsonFlag(fs)
	c, closeConns, err := parseNoArgs(env, fs, args, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	cols, err := c.ListCollections(ctx)
	if err != nil {
		return unreachable(err, *gateway)
	}
	if *asJSON {
		return writeJSON(env.Stdout, &retrievalv1.ListCollectionsResponse{Collections: cols})
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCHUNKS\tMODEL\tCREATED\tDESCRIPTION")
	for _, col := range cols {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", col.GetName(), col.GetChunkCount(), col.GetEmbeddingModel(), when(col.GetCreateTime()), col.GetDescription())
	}
	return tw.Flush()
}

func collectionsDelete(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "collections delete", "NAME [flags]", "Deletes a collection and its documents (DELETE /v1/collections/{name}).\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(env, fs, "want exactly one collection name, got %q", pos)
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	if err := c.DeleteCollection(ctx, pos[0]); err != nil {
		return unreachable(err, *gateway)
	}
	fmt.Fprintf(env.Stderr, "deleted collection %s\n", pos[0])
	return nil
}

func collectionsAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "collections add", "[-collection NAME] DIR|FILE... [flags]",
		"Adds text and Markdown files to a collection, creating it if need be\n"+
			"(POST /v1/collections/{name}/documents). A folder adds its *.md, *.markdown,\n"+
			"*.txt and *.text files, recursively. Each document's id is its path relative\n"+
			"to the working directory (or, outside it, to the argument's folder), and\n"+
			"its metadata are path and title (a Markdown file's first heading, else its\n"+
			"name). Adding a document again replaces it.\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	name := fs.String("collection", DefaultCollection, "the collection")
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(env, fs, "want at least one file or folder")
	}
	docs, err := readDocuments(env, pos)
	if err != nil {
		return badInput{err}
	}
	if len(docs) == 0 {
		return badInput{fmt.Errorf("no text or Markdown files in %q", pos)}
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	total := &retrievalv1.AddDocumentsResponse{}
	for _, batch := range batches(docs) {
		resp, err := c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: *name, Documents: batch})
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.Code == int(codes.NotFound) && len(total.GetDocuments()) == 0 {
			if _, err := c.CreateCollection(ctx, &retrievalv1.CreateCollectionRequest{Name: *name}); err != nil {
				return unreachable(err, *gateway)
			}
			fmt.Fprintf(env.Stderr, "created collection %s\n", *name)
			resp, err = c.AddDocuments(ctx, &retrievalv1.AddDocumentsRequest{Collection: *name, Documents: batch})
		}
		if err != nil {
			return unreachable(err, *gateway)
		}
		total.Documents = append(total.Documents, resp.GetDocuments()...)
		total.ChunkCount += resp.GetChunkCount()
		total.InputTokens += resp.GetInputTokens()
	}
	if *asJSON {
		return writeJSON(env.Stdout, total)
	}
	for _, d := range total.GetDocuments() {
		fmt.Fprintf(env.Stdout, "%s\t%d chunks\n", d.GetId(), d.GetChunkCount())
	}
	fmt.Fprintf(env.Stderr, "added %d documents (%d chunks) to collection %s\n", len(total.GetDocuments()), total.GetChunkCount(), *name)
	return nil
}

// batches cuts docs into requests the orchestrator accepts.
func batches(docs []*retrievalv1.Document) [][]*retrievalv1.Document {
	var (
		out  [][]*retrievalv1.Document
		cur  []*retrievalv1.Document
		size int
	)
	for _, d := range docs {
		n := jsonSize(d)
		if len(cur) == addBatchDocs || (len(cur) > 0 && size+n > addBatchBytes) {
			out, cur, size = append(out, cur), nil, 0
		}
		cur = append(cur, d)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// jsonSize is the size of d in the request's JSON, escapes included.
func jsonSize(d *retrievalv1.Document) int {
	b, err := protojson.Marshal(d)
	if err != nil {
		return len(d.GetText())
	}
	return len(b) + 1 // and a comma
}

// readDocuments reads the files that args name (folders recursively, for
// documentExts; hidden files and folders skipped), in order, one document
// each. Empty files, and files of a folder that are too large or not
// UTF-8, are skipped with a warning; a file named itself must be good.
func readDocuments(env Env, args []string) ([]*retrievalv1.Document, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	var docs []*retrievalv1.Document
	seen := map[string]bool{}
	add := func(arg, path string, named bool) error {
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		id, err := filepath.Rel(cwd, abs)
		if err != nil || id == ".." || strings.HasPrefix(id, ".."+string(filepath.Separator)) {
			argAbs, _ := filepath.Abs(arg)
			if id, err = filepath.Rel(filepath.Dir(argAbs), abs); err != nil {
				return err
			}
		}
		id = filepath.ToSlash(id)
		if seen[id] {
			return nil
		}
		seen[id] = true
		skip := func(why string) error {
			if named {
				return fmt.Errorf("%s: %s", path, why)
			}
			fmt.Fprintf(env.Stderr, "skipped %s: %s\n", path, why)
			return nil
		}
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		if info.Size() > maxFileBytes {
			return skip(fmt.Sprintf("%d bytes, over the %d-byte limit of a document", info.Size(), maxFileBytes))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(b)
		switch {
		case !utf8.ValidString(text) || strings.ContainsRune(text, 0):
			return skip("not UTF-8 text")
		case strings.TrimSpace(text) == "":
			fmt.Fprintf(env.Stderr, "skipped %s: empty\n", path)
			return nil
		}
		docs = append(docs, &retrievalv1.Document{Id: id, Text: text, Metadata: map[string]string{"path": id, "title": title(path, text)}})
		return nil
	}
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			if err := add(arg, arg, true); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != arg && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !d.Type().IsRegular() || !documentExts[strings.ToLower(filepath.Ext(path))] {
				return nil
			}
			return add(arg, path, false)
		})
		if err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// title is a Markdown document's first heading, else the file's name
// without its extension.
func title(path, text string) string {
	for _, line := range strings.SplitN(text, "\n", 50) {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "# "); ok && strings.TrimSpace(t) != "" {
			return strings.TrimSpace(t)
		}
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

func collectionsSearch(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "collections search", "[-collection NAME] QUERY... [flags]",
		"Searches a collection by meaning (POST /v1/collections/{name}:search) and\n"+
			"prints the best chunks with their scores and documents.\n\n"+exitCodes)
	gateway := gatewayFlag(env, fs)
	name := fs.String("collection", DefaultCollection, "the collection")
	topK := fs.Int("top-k", 5, "the most results, 1..100")
	filter := inputsFlag{}
	fs.Var(filter, "filter", "only chunks whose metadata has `key=value`; repeat for several")
	minScore := fs.Float64("min-score", -2, "only results at least this similar (-1..1; default: no bound)")
	asJSON := jsonFlag(fs)
	pos, err := parse(env, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(env, fs, "want a query")
	}
	req := &retrievalv1.SearchRequest{Collection: *name, Query: strings.Join(pos, " "), TopK: int32(*topK), Filter: filter}
	if *minScore >= -1 {
		req.MinScore = new(float32(*minScore))
	}
	c, closeConns, err := newClient(env, *gateway)
	if err != nil {
		return err
	}
	defer closeConns()
	resp, err := c.Search(ctx, req)
	if err != nil {
		return unreachable(err, *gateway)
	}
	if *asJSON {
		return writeJSON(env.Stdout, resp)
	}
	for i, r := range resp.GetResults() {
		fmt.Fprintf(env.Stdout, "[%d] %.3f %s#%d\n    %s\n", i+1, r.GetScore(), r.GetDocumentId(), r.GetChunkIndex(), r.GetText())
	}
	if len(resp.GetResults()) == 0 {
		fmt.Fprintln(env.Stderr, "no results")
	}
	return nil
}

// parseNoArgs parses the flags of a verb that takes no positional argument
// and returns a client of the gateway.
func parseNoArgs(env Env, fs *flag.FlagSet, args []string, gateway string) (*client.Client, func(), error) {
	pos, err := parse(env, fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) > 0 {
		return nil, nil, usageError(env, fs, "unexpected arguments %q", pos)
	}
	return newClient(env, gateway)
}
