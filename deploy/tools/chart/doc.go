// Package chart checks the Helm chart in deploy/helm/chorus offline: helm
// lint, kubeconform against schemas derived from the Kubernetes OpenAPI
// document in the module cache, and the chart's own promises (security
// contexts, probes, load-balanced targets, network policies). The checks
// are its tests; `make helm-check` runs them.
package chart
