package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chorus-ai/chorus/platform/devcert"
	"github.com/chorus-ai/chorus/platform/processtest"
)

// TestMutualTLS runs the real audio service with mutual TLS (certificates from files, as
// `make certs` writes them) and two real orchestrators in front of it: one with the
// authority and a client certificate voices a document; one with the authority but no
// client certificate is refused in the handshake, so its run fails UNAVAILABLE.
func TestMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the servers as processes")
	}
	bin := processtest.Build(t, "./orchestrator/cmd/orchestrator", "./services/audio/cmd/audio")
	certs := t.TempDir()
	if err := devcert.Write(certs); err != nil {
		t.Fatal(err)
	}
	file := func(name string) string { return filepath.Join(certs, name) }
	audioAddr, withCert, withoutCert, dead := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	startServer(t, bin, "audio", "-grpc-addr", audioAddr, "-tls-cert", file(devcert.ServerCertFile),
		"-tls-key", file(devcert.ServerKeyFile), "-tls-client-ca", file(devcert.CAFile))
	for _, o := range []struct {
		addr string
		tls  []string
	}{
		{withCert, []string{"-upstream-tls-ca", file(devcert.CAFile), "-upstream-tls-cert", file(devcert.ClientCertFile),
			"-upstream-tls-key", file(devcert.ClientKeyFile)}},
		{withoutCert, []string{"-upstream-tls-ca", file(devcert.CAFile)}},
	} {
		startServer(t, bin, "orchestrator", append([]string{"-grpc-addr", o.addr, "-audio-addr", audioAddr,
			"-text-addr", dead, "-image-addr", dead, "-data-dir", t.TempDir()}, o.tls...)...)
	}
	waitListening(t, audioAddr, 60*time.Second)
	run := func(addr string) (completed bool, err error) {
		waitServing(t, addr, 30*time.Second)
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		stream, err := orchestratorv1.NewOrchestratorServiceClient(conn).RunPipeline(ctx, &orchestratorv1.RunPipelineRequest{
			Name: "narrate-document", Inputs: map[string]string{"document": "Spoken over mutual TLS."}})
		for err == nil {
			var ev *orchestratorv1.RunPipelineResponse
			if ev, err = stream.Recv(); ev.GetRunCompleted() != nil {
				completed = true
			}
		}
		return completed, err
	}
	if completed, err := run(withCert); !completed {
		t.Fatalf("with a client certificate: the run did not complete: %v", err)
	}
	if completed, err := run(withoutCert); completed || status.Code(err) != codes.Unavailable {
		t.Fatalf("without a client certificate: completed %v, %v; want UNAVAILABLE", completed, err)
	}
	t.Logf("figure: mutual TLS: a run through an orchestrator with a client certificate completed; one without was refused UNAVAILABLE")
}
