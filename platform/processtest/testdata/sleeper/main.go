// Command sleeper prints a line, then waits for a signal: a process for
// processtest's own tests.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	fmt.Println("sleeper ready", os.Getenv("SLEEPER_WORD"))
	<-sig
	fmt.Println("sleeper stopped")
}
