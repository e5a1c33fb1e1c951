package sample_test

import (
	"fmt"

	"github.com/chorus-ai/chorus/engine/sample"
)

func ExampleSampler() {
	s, err := sample.New(sample.Config{Temperature: 0}) // greedy
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Sample([]float32{0.1, 2.5, -1, 2.4}))
	// Output: 1
}

func ExampleStopMatcher() {
	m := sample.NewStopMatcher([]string{"\nUser:"})
	for _, piece := range []string{"Sure, here it is.\n", "Us", "er: thanks"} {
		text, stopped := m.Push(piece)
		fmt.Printf("%q %v\n", text, stopped)
	}
	// Output:
	// "Sure, here it is." false
	// "" false
	// "" true
}
