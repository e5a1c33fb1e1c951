// Package deploy holds the checks of the repository's deployment files:
// docker-compose.yaml loaded and validated with compose-go, and the root
// Dockerfile's build targets kept consistent with it. It lives in the e2e
// module so that compose-go, a test-only dependency, stays out of the
// product modules.
package deploy
