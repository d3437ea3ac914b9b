package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"screend/internal/procid"
)

// The bench's databases never outlive the run that made them. Each is
// named screend_bench_p<PID>_<random>, and its owner is recorded twice:
// the run holds a session advisory lock on the name (in the server's
// "postgres" database) from before CREATE DATABASE until after DROP
// DATABASE, and the database's comment names the run's process (host,
// boot, PID and start time: procid). Every exit path of the run drops it (the
// harness's Close, deferred; SIGINT, SIGTERM and SIGHUP cancel the run's
// context so that the deferred Close runs; a failed start drops it at
// once). A run killed with SIGKILL cannot: the next harness to start
// sweeps such databases, dropping one only when nobody holds its lock
// and its recorded process is gone (the lock alone is not enough: a
// PostgreSQL restart, which the fault harness does, releases it while its
// run goes on). Databases kept with --keep say so in their comment and
// are never swept. The run's work folders (the inbox, logs, a built
// screend) hold an owner file that says the same, and are swept by the
// same rule when their run on this host is gone.

// benchDBPrefix starts the name of every database the bench creates.
const benchDBPrefix = "screend_bench_"

// Database comments: the run that owns a database, or that it was kept.
const (
	commentOwned = "screend-bench run"
	commentKept  = "screend-bench kept"
)

func ownerComment(kind string, o procid.ID) string { return kind + ": " + o.String() }

// parseComment reads a database's comment back: its kind (commentOwned,
// commentKept, or "" for any other comment) and the owner it names.
func parseComment(c string) (kind string, o procid.ID) {
	kind, rest, ok := strings.Cut(c, ": ")
	if !ok || (kind != commentOwned && kind != commentKept) {
		return "", procid.ID{}
	}
	return kind, procid.Parse(rest)
}

// orphaned decides whether a bench database whose lock nobody holds may
// be dropped by the run me, from its comment: never one kept; one with a
// comment of another kind, or none (its run died between CREATE DATABASE
// and COMMENT, holding the lock until then); an owned one when its owner
// is gone: on this host, its boot ended or its process (PID and start
// time) is no longer there; on another host, the free lock is all there
// is to go by.
func orphaned(comment string, me procid.ID, alive func(procid.ID) bool) bool {
	kind, o := parseComment(comment)
	switch {
	case kind == commentKept:
		return false
	case kind != commentOwned || o.Host != me.Host || o.Boot != me.Boot:
		return true
	default:
		return !alive(o)
	}
}

// legacyBenchDB matches the names the bench gave its databases before
// they had owners: those are swept when no session is connected to them.
var legacyBenchDB = regexp.MustCompile(`^[0-9a-f]{12}$`)

// lockSQL and unlockSQL take and give back the advisory lock of a bench
// database's name.
const (
	lockSQL   = `SELECT pg_try_advisory_lock(hashtextextended('screend-bench ' || $1, 0))`
	unlockSQL = `SELECT pg_advisory_unlock(hashtextextended('screend-bench ' || $1, 0))`
)

// benchDB is a database the running bench owns.
type benchDB struct {
	name     string
	adminURL string
	me       procid.ID
	// lock is the connection holding the name's advisory lock.
	lock *pgx.Conn
}

// createBenchDB sweeps the databases named prefix... of runs that died,
// then creates one owned by this run from template, retrying while other sessions
// use the template (on a machine shared with test runs, a template free
// for the instant CREATE DATABASE needs can take minutes).
func createBenchDB(ctx context.Context, adminURL, prefix, template string, me procid.ID, log *slog.Logger) (*benchDB, error) {
	if err := sweepBenchDBs(ctx, adminURL, prefix, me, procid.Alive, log); err != nil {
		return nil, err
	}
	b := &benchDB{name: fmt.Sprintf("%sp%d_%s", prefix, me.PID, randomHex(4)), adminURL: adminURL, me: me}
	var err error
	if b.lock, err = connect(ctx, adminURL); err != nil {
		return nil, err
	}
	var locked bool
	if err := b.lock.QueryRow(ctx, lockSQL, b.name).Scan(&locked); err != nil || !locked {
		b.lock.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("lock database name %s: %w", b.name, errors.Join(err, errors.New("held by another session")))
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		_, err = b.lock.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{b.name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize())
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err == nil {
		_, err = b.lock.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{b.name}.Sanitize()+" IS "+quote(ownerComment(commentOwned, me)))
	}
	if err != nil {
		b.Drop()
		return nil, fmt.Errorf("create database %s from %s: %w", b.name, template, err)
	}
	return b, nil
}

// quote is a SQL string literal (COMMENT takes no parameters).
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Drop drops the database and gives its lock back. It does not depend on
// the run's context: it runs when that ended. A lock connection that a
// PostgreSQL restart broke is replaced.
func (b *benchDB) Drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	defer func() { b.lock.Close(ctx) }()
	var err error
	// A session that is just ending (a daemon's, autovacuum's) can make
	// an attempt fail.
	for range 20 {
		if b.lock.IsClosed() || b.lock.Ping(ctx) != nil {
			b.lock.Close(ctx)
			var cerr error
			if b.lock, cerr = connect(ctx, b.adminURL); cerr != nil {
				err = cerr
				time.Sleep(time.Second)
				continue
			}
		}
		if _, err = b.lock.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{b.name}.Sanitize()+" WITH (FORCE)"); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("drop database %s: %w", b.name, err)
	}
	return nil
}

// Keep marks the database kept, so that no sweep drops it, and gives its
// lock back.
func (b *benchDB) Keep() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer b.lock.Close(ctx)
	conn, err := connect(ctx, b.adminURL) // the lock's connection may be broken
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{b.name}.Sanitize()+" IS "+quote(ownerComment(commentKept, b.me))); err != nil {
		return fmt.Errorf("mark database %s kept: %w", b.name, err)
	}
	return nil
}

// sweepBenchDBs drops the databases named prefix... whose runs are gone
// (orphaned, with alive telling whether a process runs), and those of the
// old unowned names that no session uses, logging each one.
func sweepBenchDBs(ctx context.Context, adminURL, prefix string, me procid.ID, alive func(procid.ID) bool, log *slog.Logger) error {
	conn, err := connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `
		SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`, prefix)
	if err != nil {
		return fmt.Errorf("list bench databases: %w", err)
	}
	type db struct{ Name, Comment string }
	dbs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[db])
	if err != nil {
		return fmt.Errorf("list bench databases: %w", err)
	}
	for _, d := range dbs {
		rest := strings.TrimPrefix(d.Name, prefix)
		var drop bool
		var why string
		if legacyBenchDB.MatchString(rest) {
			drop, err = unused(ctx, conn, d.Name)
			why = "made before bench databases had owners; no session uses it"
		} else {
			drop, err = sweepOwned(ctx, conn, d.Name, d.Comment, me, alive)
			why = "its run is gone: " + d.Comment
		}
		if err != nil {
			return err
		}
		if drop {
			log.Info("dropped a database a bench run left behind", "database", d.Name, "why", why)
		}
	}
	return nil
}

// sweepOwned drops the database name if it is orphaned. Holding its lock
// meanwhile keeps two sweeps from dropping it together and a run from
// taking the name.
func sweepOwned(ctx context.Context, conn *pgx.Conn, name, comment string, me procid.ID, alive func(procid.ID) bool) (bool, error) {
	var free bool
	if err := conn.QueryRow(ctx, lockSQL, name).Scan(&free); err != nil {
		return false, fmt.Errorf("lock database name %s: %w", name, err)
	}
	if !free {
		return false, nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), unlockSQL, name)
	if !orphaned(comment, me, alive) {
		return false, nil
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return false, fmt.Errorf("drop database %s: %w", name, err)
	}
	return true, nil
}

// unused drops the database name if no session is connected to it, at
// two looks a second apart (a fault run restarts its daemon in less),
// and without FORCE, so that a session connecting in between keeps it.
func unused(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	for look := range 2 {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name).Scan(&n); err != nil {
			return false, fmt.Errorf("sessions of %s: %w", name, err)
		}
		if n > 0 {
			return false, nil
		}
		if look == 0 {
			time.Sleep(time.Second)
		}
	}
	_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "55006" { // object_in_use
		return false, nil // a session connected meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("drop database %s: %w", name, err)
	}
	return true, nil
}

// ownerFile, in a work folder, names the run that made it (ownerComment).
const ownerFile = ".screend-bench-owner"

// workDirPattern is the name of every work folder (os.MkdirTemp's
// pattern, and the start of its more specific ones).
const workDirPattern = "screend-bench-*"

// makeWorkDir makes a work folder under parent (the temporary folder if
// "", made if missing) named after pattern and owned by me.
func makeWorkDir(parent, pattern string, me procid.ID) (string, error) {
	if parent != "" {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return "", fmt.Errorf("work folder: %w", err)
		}
	}
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", err
	}
	if err := markWorkDir(dir, commentOwned, me); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// markWorkDir writes the owner file of dir.
func markWorkDir(dir, kind string, me procid.ID) error {
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(ownerComment(kind, me)), 0o644); err != nil {
		return fmt.Errorf("mark work folder: %w", err)
	}
	return nil
}

// workDirOrphaned decides from its owner file whether a work folder may
// be removed by the run me: only one owned by a run of this host that is
// gone (there is no lock to go by). Folders without an owner file, made
// before they had one, are left alone.
func workDirOrphaned(owned string, me procid.ID, alive func(procid.ID) bool) bool {
	kind, o := parseComment(owned)
	return kind == commentOwned && o.Host == me.Host && orphaned(owned, me, alive)
}

// sweepWorkDirs removes the work folders under parent (the temporary
// folder if "") whose runs are gone, logging each one.
func sweepWorkDirs(parent string, me procid.ID, alive func(procid.ID) bool, log *slog.Logger) {
	if parent == "" {
		parent = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(parent, workDirPattern)) // the pattern is valid
	for _, dir := range dirs {
		owned, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil || !workDirOrphaned(string(owned), me, alive) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("remove a work folder a bench run left behind", "folder", dir, "err", err)
			continue
		}
		log.Info("removed a work folder a bench run left behind", "folder", dir, "why", "its run is gone: "+string(owned))
	}
}
