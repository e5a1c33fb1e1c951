package tokenizer_test

import (
	"fmt"

	"github.com/chorus-ai/chorus/engine/gguf"
	"github.com/chorus-ai/chorus/engine/tokenizer"
)

func Example() {
	f, err := gguf.Open("testdata/bpe-smollm.gguf")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		panic(err)
	}
	prompt, err := tok.ApplyChatTemplate([]tokenizer.Message{{Role: "user", Content: "Hello world"}}, true)
	if err != nil {
		panic(err)
	}
	ids := tok.Encode(prompt, true)
	fmt.Println(len(ids), tok.Token(ids[0]), tok.IsEOG(tok.EOS()))

	d := tok.NewStreamDecoder()
	for _, id := range tok.Encode("hi 🎉", false) {
		fmt.Printf("%q ", d.Next(id))
	}
	fmt.Printf("%q\n", d.Flush())
	// Output:
	// 9 <|im_start|> true
	// "h" "i" " " "" "🎉" ""
}
