package gateway

import (
	"context"
	"time"

	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
	"google.golang.org/grpc"
)

var _ retrievalv1.CollectionServiceClient = (*collectionClient)(nil)

// collectionClient is the client of the orchestrator's CollectionService,
// with the gateway's policy (see upstream.go).
type collectionClient struct {
	client  retrievalv1.CollectionServiceClient
	timeout time.Duration
}

func (c *collectionClient) CreateCollection(ctx context.Context, in *retrievalv1.CreateCollectionRequest, opts ...grpc.CallOption) (*retrievalv1.CreateCollectionResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.CreateCollection, in, opts)
}

func (c *collectionClient) GetCollection(ctx context.Context, in *retrievalv1.GetCollectionRequest, opts ...grpc.CallOption) (*retrievalv1.GetCollectionResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.GetCollection, in, opts)
}

func (c *collectionClient) ListCollections(ctx context.Context, in *retrievalv1.ListCollectionsRequest, opts ...grpc.CallOption) (*retrievalv1.ListCollectionsResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.ListCollections, in, opts)
}

func (c *collectionClient) DeleteCollection(ctx context.Context, in *retrievalv1.DeleteCollectionRequest, opts ...grpc.CallOption) (*retrievalv1.DeleteCollectionResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.DeleteCollection, in, opts)
}

func (c *collectionClient) AddDocuments(ctx context.Context, in *retrievalv1.AddDocumentsRequest, opts ...grpc.CallOption) (*retrievalv1.AddDocumentsResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.AddDocuments, in, opts)
}

func (c *collectionClient) DeleteDocuments(ctx context.Context, in *retrievalv1.DeleteDocumentsRequest, opts ...grpc.CallOption) (*retrievalv1.DeleteDocumentsResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.DeleteDocuments, in, opts)
}

func (c *collectionClient) Search(ctx context.Context, in *retrievalv1.SearchRequest, opts ...grpc.CallOption) (*retrievalv1.SearchResponse, error) {
	return unary(ctx, orchestratorName, c.timeout, c.client.Search, in, opts)
}
