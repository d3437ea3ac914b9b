package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"screend/internal/procid"
	"screend/internal/procid/procidtest"
)

func TestOrphaned(t *testing.T) {
	t.Parallel()
	me := procid.ID{Host: "vm", Boot: "b1", PID: 10, Start: 100}
	running := procid.ID{Host: "vm", Boot: "b1", PID: 20, Start: 200}
	alive := func(o procid.ID) bool { return o == running || o == me }
	tests := []struct {
		name    string
		comment string
		want    bool
	}{
		{"owner running", ownerComment(commentOwned, running), false},
		{"owner gone", ownerComment(commentOwned, procid.ID{Host: "vm", Boot: "b1", PID: 20, Start: 150}), true},
		{"the sweeping run itself", ownerComment(commentOwned, me), false},
		{"owner of an earlier boot", ownerComment(commentOwned, procid.ID{Host: "vm", Boot: "b0", PID: 20, Start: 200}), true},
		{"owner on another host, lock free", ownerComment(commentOwned, procid.ID{Host: "other", Boot: "b9", PID: 20, Start: 200}), true},
		{"kept", ownerComment(commentKept, procid.ID{Host: "vm", Boot: "b1", PID: 20, Start: 150}), false},
		{"kept on another host", ownerComment(commentKept, procid.ID{Host: "other", Boot: "b9", PID: 1, Start: 1}), false},
		{"no comment: died before COMMENT", "", true},
		{"another comment", "made by hand", true},
	}
	for _, tt := range tests {
		if got := orphaned(tt.comment, me, alive); got != tt.want {
			t.Errorf("%s (%q): orphaned %v, want %v", tt.name, tt.comment, got, tt.want)
		}
	}
}

func TestParseComment(t *testing.T) {
	t.Parallel()
	o := procid.ID{Host: "vm", Boot: "2f21bb62-83a7", PID: 4242, Start: 1234567}
	for _, kind := range []string{commentOwned, commentKept} {
		if k, got := parseComment(ownerComment(kind, o)); k != kind || got != o {
			t.Errorf("%s: parsed %q %+v", kind, k, got)
		}
	}
}

// adminConn connects to the test server's postgres database.
func adminConn(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Fatal("TEST_DATABASE_URL is not set: run with `make test` or source var/env")
	}
	admin, err := withDatabase(base, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := connect(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return admin, conn
}

// databases lists the databases named prefix..., dropping them when the
// test ends.
func databases(t *testing.T, conn *pgx.Conn, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1`, prefix)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestSweepBenchDBs makes databases as runs leave them on the real
// PostgreSQL, under a prefix of the test's own, and sweeps them: only
// those whose run is gone go, whatever the order.
func TestSweepBenchDBs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, conn := adminConn(t)
	prefix := "screend_sweeptest_" + randomHex(3) + "_"
	t.Cleanup(func() {
		for _, name := range databases(t, conn, prefix) {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		}
	})
	me, err := procid.Self()
	if err != nil {
		t.Fatal(err)
	}
	running, _ := procidtest.Sleeper(t)
	gone, stop := procidtest.Sleeper(t)
	stop()
	create := func(name, comment string) {
		t.Helper()
		id := pgx.Identifier{prefix + name}.Sanitize()
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+id+" TEMPLATE template0"); err != nil {
			t.Fatal(err)
		}
		if comment != "" {
			if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+id+" IS "+quote(comment)); err != nil {
				t.Fatal(err)
			}
		}
	}
	create("p1_running", ownerComment(commentOwned, running))
	create("p2_gone", ownerComment(commentOwned, gone))
	create("p3_locked", ownerComment(commentOwned, gone)) // a run that outlived its process? its lock says it is there
	create("p4_kept", ownerComment(commentKept, gone))
	create("p5_uncommented", "")
	create("p6_elsewhere", ownerComment(commentOwned, procid.ID{Host: me.Host + "-other", Boot: "x", PID: running.PID, Start: running.Start}))
	create("0123456789ab", "")                                  // the old names: unused
	create("ba9876543210", "")                                  // the old names: in use
	create("p7_restarted", ownerComment(commentOwned, running)) // its lock lost to a PostgreSQL restart, its run goes on

	lock, err := connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(ctx)
	var locked bool
	if err := lock.QueryRow(ctx, lockSQL, prefix+"p3_locked").Scan(&locked); err != nil || !locked {
		t.Fatalf("lock: %v %v", locked, err)
	}
	base := os.Getenv("TEST_DATABASE_URL")
	inUse, err := withDatabase(base, prefix+"ba9876543210")
	if err != nil {
		t.Fatal(err)
	}
	user, err := connect(ctx, inUse)
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close(ctx)

	if err := sweepBenchDBs(ctx, admin, prefix, me, procid.Alive, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	want := []string{prefix + "ba9876543210", prefix + "p1_running", prefix + "p3_locked", prefix + "p4_kept", prefix + "p7_restarted"}
	if got := databases(t, conn, prefix); !slices.Equal(got, want) {
		t.Errorf("after the sweep: %v, want %v", got, want)
	}
	// The lock is given back: a run that ends now is swept next time.
	lock.Close(ctx)
	if err := sweepBenchDBs(ctx, admin, prefix, me, procid.Alive, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(s string) bool { return s == prefix+"p3_locked" })
	if got := databases(t, conn, prefix); !slices.Equal(got, want) {
		t.Errorf("after the lock's run ended: %v, want %v", got, want)
	}
}

// TestBenchDBLifecycle creates a bench database as a harness does: owned
// (commented, locked) while the run goes on, so that another run's sweep
// leaves it, dropped at the end, or kept and never swept.
func TestBenchDBLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, conn := adminConn(t)
	prefix := "screend_sweeptest_" + randomHex(3) + "_"
	t.Cleanup(func() {
		for _, name := range databases(t, conn, prefix) {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		}
	})
	log := slog.New(slog.DiscardHandler)
	me, err := procid.Self()
	if err != nil {
		t.Fatal(err)
	}
	// Another run's sweep sees this run's database as its owner's: the
	// sweep's owner is then some other, running process.
	other, _ := procidtest.Sleeper(t)

	dropped, err := createBenchDB(ctx, admin, prefix, "template0", me, log)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := createBenchDB(ctx, admin, prefix, "template0", me, log)
	if err != nil {
		t.Fatal(err)
	}
	var comment string
	if err := conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, dropped.name).Scan(&comment); err != nil {
		t.Fatal(err)
	}
	if kind, o := parseComment(comment); kind != commentOwned || o != me {
		t.Errorf("comment %q, want this process as owner", comment)
	}
	if err := sweepBenchDBs(ctx, admin, prefix, other, procid.Alive, log); err != nil {
		t.Fatal(err)
	}
	if got := databases(t, conn, prefix); len(got) != 2 {
		t.Fatalf("a running run's databases were swept: %v left", got)
	}
	if err := dropped.Drop(); err != nil {
		t.Fatal(err)
	}
	if err := kept.Keep(); err != nil {
		t.Fatal(err)
	}
	if err := sweepBenchDBs(ctx, admin, prefix, other, procid.Alive, log); err != nil {
		t.Fatal(err)
	}
	if got := databases(t, conn, prefix); !slices.Equal(got, []string{kept.name}) {
		t.Errorf("left %v, want only the kept %s", got, kept.name)
	}
}

func TestWorkDirOrphaned(t *testing.T) {
	t.Parallel()
	me := procid.ID{Host: "vm", Boot: "b1", PID: 10, Start: 100}
	running := procid.ID{Host: "vm", Boot: "b1", PID: 20, Start: 200}
	alive := func(o procid.ID) bool { return o == running || o == me }
	tests := []struct {
		name  string
		owned string
		want  bool
	}{
		{"owner running", ownerComment(commentOwned, running), false},
		{"owner gone", ownerComment(commentOwned, procid.ID{Host: "vm", Boot: "b1", PID: 20, Start: 150}), true},
		{"owner of an earlier boot", ownerComment(commentOwned, procid.ID{Host: "vm", Boot: "b0", PID: 20, Start: 200}), true},
		{"owner on another host: no lock to go by", ownerComment(commentOwned, procid.ID{Host: "other", Boot: "b9", PID: 20, Start: 150}), false},
		{"kept", ownerComment(commentKept, procid.ID{Host: "vm", Boot: "b1", PID: 20, Start: 150}), false},
		{"no owner file content", "", false},
	}
	for _, tt := range tests {
		if got := workDirOrphaned(tt.owned, me, alive); got != tt.want {
			t.Errorf("%s: orphaned %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestSweepWorkDirs removes, in a real folder, only the work folders of
// runs that are gone.
func TestSweepWorkDirs(t *testing.T) {
	t.Parallel()
	me, err := procid.Self()
	if err != nil {
		t.Fatal(err)
	}
	running, _ := procidtest.Sleeper(t)
	gone, stop := procidtest.Sleeper(t)
	stop()
	parent := filepath.Join(t.TempDir(), "not", "yet") // makeWorkDir makes it
	made := map[string]string{}
	for name, content := range map[string]string{
		"running": ownerComment(commentOwned, running),
		"gone":    ownerComment(commentOwned, gone),
		"kept":    ownerComment(commentKept, gone),
		"old":     "", // made before owner files: no file
	} {
		dir, err := makeWorkDir(parent, "screend-bench-"+name+"-", me)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, ownerFile))
		if content != "" {
			if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(dir, "screend.log"), []byte("log"), 0o644)
		made[name] = dir
	}
	other := filepath.Join(parent, "other-folder")
	os.Mkdir(other, 0o755)
	os.WriteFile(filepath.Join(other, ownerFile), []byte(ownerComment(commentOwned, gone)), 0o644)

	sweepWorkDirs(parent, me, procid.Alive, slog.New(slog.DiscardHandler))
	for name, dir := range made {
		_, err := os.Stat(dir)
		if gone := os.IsNotExist(err); gone != (name == "gone") {
			t.Errorf("%s: removed %v", name, gone)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a folder not named screend-bench-*: %v", err)
	}
}
