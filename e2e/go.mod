module github.com/chorus-ai/chorus/e2e

go 1.26.0

replace (
	github.com/chorus-ai/chorus/platform => ../platform
	github.com/chorus-ai/chorus/proto => ../proto
)

require (
	github.com/chorus-ai/chorus/platform v0.0.0-00010101000000-000000000000
	github.com/chromedp/chromedp v0.23.1
	github.com/openai/openai-go/v3 v3.99.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/coder/websocket v1.8.15 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/tidwall/gjson v1.20.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.1 // indirect
	github.com/tidwall/sjson v1.2.5 // indirect
)
