// Package openapi holds the OpenAPI (Swagger 2.0) document of Chorus's REST
// API, generated from the .proto files and api.yaml.
package openapi

import _ "embed"

// JSON is the merged OpenAPI document for every Chorus service.
//
//go:embed chorus.swagger.json
var JSON []byte
