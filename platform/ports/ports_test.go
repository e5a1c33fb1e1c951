package ports

import "testing"

func TestAddrs(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{OrchestratorAddr, "127.0.0.1:50050"},
		{TextAddr, "127.0.0.1:50051"},
		{ImageAddr, "127.0.0.1:50052"},
		{AudioAddr, "127.0.0.1:50053"},
		{EmbedAddr, "127.0.0.1:50054"},
		{GatewayAddr, "127.0.0.1:8080"},
		{Addr("::1", Text), "[::1]:50051"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestMetricsAddr(t *testing.T) {
	tests := []struct {
		name, grpc, want string
		wantErr          bool
	}{
		{name: "default text", grpc: TextAddr, want: TextMetricsAddr},
		{name: "moved", grpc: "127.0.0.1:40000", want: "127.0.0.1:41000"},
		{name: "ipv6", grpc: "[::1]:50050", want: "[::1]:51050"},
		{name: "any free port", grpc: "127.0.0.1:0", want: "127.0.0.1:0"},
		{name: "no room above", grpc: "127.0.0.1:65000", wantErr: true},
		{name: "no port", grpc: "text", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MetricsAddr(tt.grpc)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("MetricsAddr(%q) = %q, %v; want %q (error %v)", tt.grpc, got, err, tt.want, tt.wantErr)
			}
		})
	}
	if OrchestratorMetricsAddr != "127.0.0.1:51050" || AudioMetricsAddr != "127.0.0.1:51053" {
		t.Errorf("default metrics addresses %s, %s", OrchestratorMetricsAddr, AudioMetricsAddr)
	}
}
