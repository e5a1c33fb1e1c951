package openai

// upstreamName is how errors name the server this backend calls; the
// mapping itself is platform/openaiapi's, shared by every backend that
// speaks the OpenAI HTTP API.
const upstreamName = "image server"
