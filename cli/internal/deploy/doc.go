// Package deploy holds the checks of the repository's deployment files:
// docker-compose.yaml loaded and validated with compose-go, and the
// services' Dockerfiles kept consistent with it.
package deploy
