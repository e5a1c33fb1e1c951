package ports

import "testing"

func TestAddrs(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{OrchestratorAddr, "127.0.0.1:50050"},
		{TextAddr, "127.0.0.1:50051"},
		{ImageAddr, "127.0.0.1:50052"},
		{AudioAddr, "127.0.0.1:50053"},
		{GatewayAddr, "127.0.0.1:8080"},
		{Addr("::1", Text), "[::1]:50051"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
