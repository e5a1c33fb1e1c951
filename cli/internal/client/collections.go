package client

import (
	"context"
	"net/http"
	"net/url"

	retrievalv1 "github.com/chorus-ai/chorus/proto/chorus/retrieval/v1"
)

// CreateCollection creates a collection: POST /v1/collections.
func (c *Client) CreateCollection(ctx context.Context, req *retrievalv1.CreateCollectionRequest) (*retrievalv1.Collection, error) {
	var out retrievalv1.CreateCollectionResponse
	if err := c.call(ctx, http.MethodPost, "/v1/collections", req, &out); err != nil {
		return nil, err
	}
	return out.GetCollection(), nil
}

// ListCollections lists the collections, by name.
func (c *Client) ListCollections(ctx context.Context) ([]*retrievalv1.Collection, error) {
	var out retrievalv1.ListCollectionsResponse
	if err := c.get(ctx, "/v1/collections", &out); err != nil {
		return nil, err
	}
	return out.GetCollections(), nil
}

// DeleteCollection deletes a collection and its documents.
func (c *Client) DeleteCollection(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/v1/collections/"+url.PathEscape(name), nil, &retrievalv1.DeleteCollectionResponse{})
}

// AddDocuments chunks, embeds and stores documents in a collection.
func (c *Client) AddDocuments(ctx context.Context, req *retrievalv1.AddDocumentsRequest) (*retrievalv1.AddDocumentsResponse, error) {
	var out retrievalv1.AddDocumentsResponse
	if err := c.call(ctx, http.MethodPost, "/v1/collections/"+url.PathEscape(req.GetCollection())+"/documents", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Search returns a collection's chunks nearest a query, best first.
func (c *Client) Search(ctx context.Context, req *retrievalv1.SearchRequest) (*retrievalv1.SearchResponse, error) {
	var out retrievalv1.SearchResponse
	if err := c.call(ctx, http.MethodPost, "/v1/collections/"+url.PathEscape(req.GetCollection())+":search", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
