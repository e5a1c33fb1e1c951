module github.com/chorus-ai/chorus/services/text

go 1.26.0

replace (
	github.com/chorus-ai/chorus/platform => ../../platform
	github.com/chorus-ai/chorus/proto => ../../proto
)
