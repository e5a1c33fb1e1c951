module github.com/chorus-ai/chorus/orchestrator

go 1.26.0

replace (
	github.com/chorus-ai/chorus/platform => ../platform
	github.com/chorus-ai/chorus/proto => ../proto
)
