// Command devcert writes a development certificate authority and server and client
// certificates signed by it (`make certs`; package devcert).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chorus-ai/chorus/platform/devcert"
)

func main() {
	dir := flag.String("dir", "certs", "`directory` to write the certificates and keys to")
	hosts := flag.String("hosts", "localhost,127.0.0.1,::1", "comma-separated DNS `names` and IP addresses the server certificate is for")
	flag.Parse()
	var hs []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	if err := devcert.Write(*dir, hs...); err != nil {
		fmt.Fprintln(os.Stderr, "devcert:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s, %s and %s (with their keys) to %s\n", devcert.CAFile, devcert.ServerCertFile,
		devcert.ClientCertFile, filepath.Clean(*dir))
}
