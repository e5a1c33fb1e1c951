// Package pgtest starts a throwaway PostgreSQL server for the tests of the
// orchestrator's PostgreSQL stores (jobs, collections).
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorus-ai/chorus/platform/processtest"
	"github.com/chorus-ai/chorus/platform/syncio"
)

// Start runs a throwaway PostgreSQL server (Debian's postgresql
// package) on a free loopback port and returns the URL of an empty
// database. As root, the server runs as the postgres user, since
// PostgreSQL refuses to run as root.
func Start(t *testing.T) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL is not installed (`make deps` installs Debian's postgresql)")
	}
	binDir := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "chorus-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var asUser []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	command := func(name string, args ...string) *exec.Cmd {
		all := append(append(asUser, filepath.Join(binDir, name)), args...)
		return exec.Command(all[0], all[1:]...)
	}
	data := filepath.Join(dir, "data")
	if out, err := command("initdb", "-D", data, "-U", "chorus", "--auth=trust", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := strconv.Itoa(processtest.FreePort(t))
	logs := &syncio.Writer{}
	srv := command("postgres", "-D", data, "-p", port, "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	srv.Stdout, srv.Stderr = logs, logs
	// Its own process group, so that the signal reaches postgres itself
	// and not only runuser.
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGINT) // fast shutdown
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("postgres logs:\n%s", logs.String())
		}
	})
	admin := fmt.Sprintf("postgres://chorus@127.0.0.1:%s/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(t.Context(), admin)
		if err == nil {
			_, err = conn.Exec(t.Context(), "CREATE DATABASE chorus")
			conn.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("postgres://chorus@127.0.0.1:%s/chorus?sslmode=disable", port)
}
