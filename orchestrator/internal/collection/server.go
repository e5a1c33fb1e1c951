package collection

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chorus-ai/chorus/platform/rpcerr"
)

// ErrorInfo reasons of CollectionService.
const (
	ReasonNotFound = "COLLECTION_NOT_FOUND"
	ReasonExists   = "COLLECTION_EXISTS"
	// ReasonDimensions: the embedding model returned vectors of another
	// length than the collection's (it was replaced under the same name).
	ReasonDimensions = "EMBEDDING_DIMENSIONS_CHANGED"
)

// Limits of requests, as retrieval.proto documents them.
const (
	DefaultChunkSize    = 1000
	DefaultChunkOverlap = 200
	MinChunkSize        = 64
	MaxChunkSize        = 8192
	MaxDescription      = 1024
	MaxDocuments        = 256
	MaxDocumentID       = 512
	MaxDocumentText     = 1 << 20
	MaxAddText          = 3 << 20
	MaxMetadata         = 32
	MaxMetadataValue    = 1024
	MaxDeleteIDs        = 1024
	MaxQuery            = 8192
	DefaultTopK         = 5
	MaxTopK             = 100
	// embedBatch is how many chunks go in one Embed call (the service
	// takes 256 texts and 1 MiB; chunks are at most MaxChunkSize bytes).
	embedBatch = 64
)

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	keyRE  = regexp.MustCompile(`^[A-Za-z0-9.-][A-Za-z0-9._-]{0,63}$`)
)

// Server serves CollectionService over a Store, embedding through an
// EmbeddingService.
type Server struct {
	retrievalv1.UnimplementedCollectionServiceServer
	store Store
	embed genaiv1.EmbeddingServiceClient
	now   func() time.Time
}

var _ retrievalv1.CollectionServiceServer = (*Server)(nil)

// NewServer returns a Server.
func NewServer(store Store, embed genaiv1.EmbeddingServiceClient) *Server {
	return &Server{store: store, embed: embed, now: time.Now}
}

// Register registers s on g and returns the service's full name.
func (s *Server) Register(g grpc.ServiceRegistrar) string {
	retrievalv1.RegisterCollectionServiceServer(g, s)
	return retrievalv1.CollectionService_ServiceDesc.ServiceName
}

// storeErr maps a Store's error to the status reported.
func storeErr(name string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return rpcerr.New(codes.NotFound, ReasonNotFound, fmt.Sprintf("no collection %q; ListCollections lists them", name)).WithMetadata("collection", name)
	case errors.Is(err, ErrExists):
		return rpcerr.New(codes.AlreadyExists, ReasonExists, fmt.Sprintf("collection %q already exists", name)).WithMetadata("collection", name)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return rpcerr.Upstream("collection store", err)
	}
	return rpcerr.New(codes.Internal, rpcerr.ReasonInternal, "the collection store failed").WithCause(err)
}

func checkName(field, name string) []rpcerr.FieldViolation {
	if !nameRE.MatchString(name) {
		return []rpcerr.FieldViolation{{Field: field, Description: "1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"}}
	}
	return nil
}

func toProto(info Info) *retrievalv1.Collection {
	return &retrievalv1.Collection{
		Name: info.Name, Description: info.Description, EmbeddingModel: info.Model, Dimensions: int32(info.Dimensions),
		ChunkSize: int32(info.ChunkSize), ChunkOverlap: int32(info.ChunkOverlap), ChunkCount: info.Chunks,
		CreateTime: timestamppb.New(info.Created),
	}
}

// CreateCollection implements CollectionServiceServer.
func (s *Server) CreateCollection(ctx context.Context, req *retrievalv1.CreateCollectionRequest) (*retrievalv1.CreateCollectionResponse, error) {
	bad := checkName("name", req.GetName())
	if d := req.GetDescription(); len(d) > MaxDescription || !utf8.ValidString(d) {
		bad = append(bad, rpcerr.FieldViolation{Field: "description", Description: fmt.Sprintf("at most %d bytes of UTF-8", MaxDescription)})
	}
	size := int(req.GetChunkSize())
	if size != 0 && (size < MinChunkSize || size > MaxChunkSize) {
		bad = append(bad, rpcerr.FieldViolation{Field: "chunk_size", Description: fmt.Sprintf("from %d to %d bytes, or 0 for %d", MinChunkSize, MaxChunkSize, DefaultChunkSize)})
	}
	if size == 0 {
		size = DefaultChunkSize
	}
	overlap := min(DefaultChunkOverlap, size/2)
	if req.ChunkOverlap != nil {
		overlap = int(req.GetChunkOverlap())
		if overlap < 0 || overlap > size/2 {
			bad = append(bad, rpcerr.FieldViolation{Field: "chunk_overlap", Description: fmt.Sprintf("from 0 to half of chunk_size (%d)", size/2)})
		}
	}
	if len(bad) > 0 {
		return nil, rpcerr.Invalid(bad...)
	}
	model, dims, err := s.resolveModel(ctx, req.GetEmbeddingModel())
	if err != nil {
		return nil, err
	}
	info := Info{Name: req.GetName(), Description: req.GetDescription(), Model: model, Dimensions: dims,
		ChunkSize: size, ChunkOverlap: overlap, Created: s.now().UTC()}
	if err := s.store.Create(ctx, info); err != nil {
		return nil, storeErr(info.Name, err)
	}
	return &retrievalv1.CreateCollectionResponse{Collection: toProto(info)}, nil
}

// resolveModel finds the embedding model a new collection uses (the
// service's default for "") and its dimensions.
func (s *Server) resolveModel(ctx context.Context, name string) (string, int, error) {
	resp, err := s.embed.ListModels(ctx, &genaiv1.ListModelsRequest{})
	if err != nil {
		return "", 0, rpcerr.Upstream("embed", err)
	}
	models := resp.GetModels()
	i := slices.IndexFunc(models, func(m *genaiv1.Model) bool {
		if name == "" {
			return m.GetDefault()
		}
		return m.GetName() == name
	})
	if i < 0 && name == "" && len(models) > 0 {
		i = 0
	}
	if i < 0 {
		var names []string
		for _, m := range models {
			names = append(names, m.GetName())
		}
		if name == "" {
			return "", 0, rpcerr.New(codes.FailedPrecondition, rpcerr.ReasonModelNotFound, "the embedding service serves no model")
		}
		return "", 0, rpcerr.Invalid(rpcerr.FieldViolation{Field: "embedding_model", Description: fmt.Sprintf("the embedding service has no model %q (it has: %s)", name, strings.Join(names, ", "))})
	}
	m := models[i]
	if d := int(m.GetEmbeddingDimensions()); d > 0 {
		return m.GetName(), d, nil
	}
	// The model does not say: embed a probe and measure.
	vecs, _, err := s.embedTexts(ctx, m.GetName(), []string{"dimensions"}, genaiv1.EmbedInputType_EMBED_INPUT_TYPE_DOCUMENT)
	if err != nil {
		return "", 0, err
	}
	return m.GetName(), len(vecs[0]), nil
}

// embedTexts embeds texts in batches, checking that the service answered
// one vector per text.
func (s *Server) embedTexts(ctx context.Context, model string, texts []string, typ genaiv1.EmbedInputType) ([][]float32, int64, error) {
	out := make([][]float32, 0, len(texts))
	var tokens int64
	for batch := range slices.Chunk(texts, embedBatch) {
		resp, err := s.embed.Embed(ctx, &genaiv1.EmbedRequest{Model: model, Inputs: batch, InputType: typ, Truncate: true})
		if err != nil {
			return nil, 0, rpcerr.Upstream("embed", err)
		}
		es := resp.GetEmbeddings()
		if len(es) != len(batch) {
			return nil, 0, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, fmt.Sprintf("the embed service returned %d vectors for %d texts", len(es), len(batch)))
		}
		vecs := make([][]float32, len(batch))
		for j, e := range es {
			k := int(e.GetIndex())
			if k < 0 || k >= len(batch) || vecs[k] != nil || len(e.GetValues()) == 0 {
				return nil, 0, rpcerr.New(codes.Internal, rpcerr.ReasonUpstream, fmt.Sprintf("the embed service returned a bad vector (%d, index %d)", j, k))
			}
			vecs[k] = e.GetValues()
		}
		out = append(out, vecs...)
		tokens += int64(resp.GetUsage().GetInputTokens())
	}
	return out, tokens, nil
}

// vectors embeds texts for collection info, checking their length.
func (s *Server) vectors(ctx context.Context, info Info, texts []string, typ genaiv1.EmbedInputType) ([][]float32, int64, error) {
	vecs, tokens, err := s.embedTexts(ctx, info.Model, texts, typ)
	if err != nil {
		return nil, 0, err
	}
	for _, v := range vecs {
		if len(v) != info.Dimensions {
			return nil, 0, rpcerr.New(codes.FailedPrecondition, ReasonDimensions, fmt.Sprintf(
				"the embedding model %q now returns %d dimensions; collection %q holds %d: recreate the collection", info.Model, len(v), info.Name, info.Dimensions))
		}
	}
	return vecs, tokens, nil
}

// GetCollection implements CollectionServiceServer.
func (s *Server) GetCollection(ctx context.Context, req *retrievalv1.GetCollectionRequest) (*retrievalv1.GetCollectionResponse, error) {
	if bad := checkName("name", req.GetName()); bad != nil {
		return nil, rpcerr.Invalid(bad...)
	}
	info, err := s.store.Get(ctx, req.GetName())
	if err != nil {
		return nil, storeErr(req.GetName(), err)
	}
	return &retrievalv1.GetCollectionResponse{Collection: toProto(info)}, nil
}

// ListCollections implements CollectionServiceServer.
func (s *Server) ListCollections(ctx context.Context, _ *retrievalv1.ListCollectionsRequest) (*retrievalv1.ListCollectionsResponse, error) {
	infos, err := s.store.List(ctx)
	if err != nil {
		return nil, storeErr("", err)
	}
	out := &retrievalv1.ListCollectionsResponse{}
	for _, info := range infos {
		out.Collections = append(out.Collections, toProto(info))
	}
	return out, nil
}

// DeleteCollection implements CollectionServiceServer.
func (s *Server) DeleteCollection(ctx context.Context, req *retrievalv1.DeleteCollectionRequest) (*retrievalv1.DeleteCollectionResponse, error) {
	if bad := checkName("name", req.GetName()); bad != nil {
		return nil, rpcerr.Invalid(bad...)
	}
	if err := s.store.Delete(ctx, req.GetName()); err != nil {
		return nil, storeErr(req.GetName(), err)
	}
	return &retrievalv1.DeleteCollectionResponse{}, nil
}

// checkDocuments validates AddDocuments' documents.
func checkDocuments(docs []*retrievalv1.Document) []rpcerr.FieldViolation {
	var bad []rpcerr.FieldViolation
	if len(docs) == 0 || len(docs) > MaxDocuments {
		return append(bad, rpcerr.FieldViolation{Field: "documents", Description: fmt.Sprintf("1 to %d documents", MaxDocuments)})
	}
	seen := map[string]bool{}
	total := 0
	for i, d := range docs {
		f := fmt.Sprintf("documents[%d]", i)
		switch id := d.GetId(); {
		case id == "" || len(id) > MaxDocumentID || !utf8.ValidString(id):
			bad = append(bad, rpcerr.FieldViolation{Field: f + ".id", Description: fmt.Sprintf("1 to %d bytes of UTF-8", MaxDocumentID)})
		case seen[id]:
			bad = append(bad, rpcerr.FieldViolation{Field: f + ".id", Description: fmt.Sprintf("%q appears twice", id)})
		}
		seen[d.GetId()] = true
		total += len(d.GetText())
		if t := d.GetText(); strings.TrimSpace(t) == "" || len(t) > MaxDocumentText || !utf8.ValidString(t) {
			bad = append(bad, rpcerr.FieldViolation{Field: f + ".text", Description: fmt.Sprintf("non-empty UTF-8 of at most %d bytes", MaxDocumentText)})
		}
		bad = append(bad, checkMetadata(f+".metadata", d.GetMetadata())...)
	}
	if total > MaxAddText {
		bad = append(bad, rpcerr.FieldViolation{Field: "documents", Description: fmt.Sprintf("%d bytes of text in all, over %d: send fewer at a time", total, MaxAddText)})
	}
	return bad
}

// checkMetadata validates metadata, or a filter on it.
func checkMetadata(field string, md map[string]string) []rpcerr.FieldViolation {
	var bad []rpcerr.FieldViolation
	if len(md) > MaxMetadata {
		bad = append(bad, rpcerr.FieldViolation{Field: field, Description: fmt.Sprintf("at most %d entries", MaxMetadata)})
	}
	for k, v := range md {
		if !keyRE.MatchString(k) {
			bad = append(bad, rpcerr.FieldViolation{Field: field, Description: fmt.Sprintf("key %q: 1 to 64 letters, digits, '-', '_' or '.', not starting with '_'", rpcerr.Clip(k, 80))})
		}
		if len(v) > MaxMetadataValue || !utf8.ValidString(v) {
			bad = append(bad, rpcerr.FieldViolation{Field: field, Description: fmt.Sprintf("value of %q: at most %d bytes of UTF-8", rpcerr.Clip(k, 80), MaxMetadataValue)})
		}
	}
	return bad
}

// AddDocuments implements CollectionServiceServer.
func (s *Server) AddDocuments(ctx context.Context, req *retrievalv1.AddDocumentsRequest) (*retrievalv1.AddDocumentsResponse, error) {
	bad := checkName("collection", req.GetCollection())
	bad = append(bad, checkDocuments(req.GetDocuments())...)
	if len(bad) > 0 {
		return nil, rpcerr.Invalid(bad...)
	}
	info, err := s.store.Get(ctx, req.GetCollection())
	if err != nil {
		return nil, storeErr(req.GetCollection(), err)
	}
	out := &retrievalv1.AddDocumentsResponse{}
	var (
		chunks []Chunk
		texts  []string
		ids    []string
	)
	for _, d := range req.GetDocuments() {
		pieces := Split(d.GetText(), info.ChunkSize, info.ChunkOverlap)
		for i, p := range pieces {
			chunks = append(chunks, Chunk{DocumentID: d.GetId(), Index: i, Text: p, Metadata: d.GetMetadata()})
			texts = append(texts, p)
		}
		ids = append(ids, d.GetId())
		out.Documents = append(out.Documents, &retrievalv1.AddedDocument{Id: d.GetId(), ChunkCount: int32(len(pieces))})
	}
	vecs, tokens, err := s.vectors(ctx, info, texts, genaiv1.EmbedInputType_EMBED_INPUT_TYPE_DOCUMENT)
	if err != nil {
		return nil, err
	}
	for i := range chunks {
		chunks[i].Vector = vecs[i]
	}
	if err := s.store.Put(ctx, info.Name, ids, chunks); err != nil {
		return nil, storeErr(info.Name, err)
	}
	out.ChunkCount, out.InputTokens = int64(len(chunks)), tokens
	return out, nil
}

// DeleteDocuments implements CollectionServiceServer.
func (s *Server) DeleteDocuments(ctx context.Context, req *retrievalv1.DeleteDocumentsRequest) (*retrievalv1.DeleteDocumentsResponse, error) {
	bad := checkName("collection", req.GetCollection())
	if n := len(req.GetIds()); n == 0 || n > MaxDeleteIDs {
		bad = append(bad, rpcerr.FieldViolation{Field: "ids", Description: fmt.Sprintf("1 to %d document ids", MaxDeleteIDs)})
	}
	if len(bad) > 0 {
		return nil, rpcerr.Invalid(bad...)
	}
	n, err := s.store.DeleteDocuments(ctx, req.GetCollection(), req.GetIds())
	if err != nil {
		return nil, storeErr(req.GetCollection(), err)
	}
	return &retrievalv1.DeleteDocumentsResponse{DeletedChunks: n}, nil
}

// modes maps the request's search modes to Search's.
var modes = map[retrievalv1.SearchMode]Mode{
	retrievalv1.SearchMode_SEARCH_MODE_UNSPECIFIED: Hybrid,
	retrievalv1.SearchMode_SEARCH_MODE_HYBRID:      Hybrid,
	retrievalv1.SearchMode_SEARCH_MODE_VECTOR:      Vector,
	retrievalv1.SearchMode_SEARCH_MODE_LEXICAL:     Lexical,
}

// Search implements CollectionServiceServer.
func (s *Server) Search(ctx context.Context, req *retrievalv1.SearchRequest) (*retrievalv1.SearchResponse, error) {
	bad := checkName("collection", req.GetCollection())
	if q := req.GetQuery(); strings.TrimSpace(q) == "" || len(q) > MaxQuery || !utf8.ValidString(q) {
		bad = append(bad, rpcerr.FieldViolation{Field: "query", Description: fmt.Sprintf("non-empty UTF-8 of at most %d bytes", MaxQuery)})
	}
	if k := req.GetTopK(); k < 0 || k > MaxTopK {
		bad = append(bad, rpcerr.FieldViolation{Field: "top_k", Description: fmt.Sprintf("from 1 to %d, or 0 for %d", MaxTopK, DefaultTopK)})
	}
	bad = append(bad, checkMetadata("filter", req.GetFilter())...)
	mode, ok := modes[req.GetMode()]
	if !ok {
		bad = append(bad, rpcerr.FieldViolation{Field: "mode", Description: "SEARCH_MODE_HYBRID, SEARCH_MODE_VECTOR or SEARCH_MODE_LEXICAL"})
	}
	if m := req.GetMinScore(); req.MinScore != nil && (math.IsNaN(float64(m)) || m < -1 || m > 1 && mode != Lexical) {
		bad = append(bad, rpcerr.FieldViolation{Field: "min_score", Description: "from -1 to 1 (any number in the lexical mode)"})
	}
	if len(bad) > 0 {
		return nil, rpcerr.Invalid(bad...)
	}
	info, err := s.store.Get(ctx, req.GetCollection())
	if err != nil {
		return nil, storeErr(req.GetCollection(), err)
	}
	k := int(req.GetTopK())
	if k == 0 {
		k = DefaultTopK
	}
	q := Query{Mode: mode, Text: req.GetQuery(), TopK: k, Filter: req.GetFilter(), MinScore: req.MinScore}
	out := &retrievalv1.SearchResponse{}
	if mode != Lexical {
		vecs, _, err := s.vectors(ctx, info, []string{req.GetQuery()}, genaiv1.EmbedInputType_EMBED_INPUT_TYPE_QUERY)
		if err != nil {
			return nil, err
		}
		q.Vector, out.EmbeddingModel = vecs[0], info.Model
	}
	hits, err := Search(ctx, s.store, info.Name, q)
	if err != nil {
		return nil, storeErr(info.Name, err)
	}
	for _, h := range hits {
		out.Results = append(out.Results, &retrievalv1.SearchResult{
			DocumentId: h.DocumentID, ChunkIndex: int32(h.Index), Text: h.Text, Metadata: h.Metadata, Score: h.Score,
		})
	}
	return out, nil
}
