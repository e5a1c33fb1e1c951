// Module evals holds Chorus's quality measurements that need libraries the product binaries
// must not carry (bleve's BM25 for the retrieval baseline): package retrieval and its test,
// which `make test` runs against the shipped embedding model.
package evals
