// Package sqltest gives each test a database of its own, cloned from a
// migrated template, on the server of TEST_DATABASE_URL.
//
// The template is made once per schema version (its name carries a hash of
// the migrations) from the TEST_DATABASE_URL database, which the setup
// script created with the vector extension. Cloning it takes a few tens of
// milliseconds, so tests can run in parallel without seeing each other.
// Each database, and each login a test makes with Login, is dropped when
// its test ends; those of a test process killed before that are dropped by
// the next one on the same host.
package sqltest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"screend"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jackc/pgx/v5"

	"screend/internal/procid"
	"screend/sql"
	"screend/sql/internal/poolof"
)

var (
	templateOnce sync.Once
	templateName string
	templateErr  error

	// self is this test process, read once.
	self      = sync.OnceValues(procid.Self)
	sweepOnce sync.Once
)

// testComment starts the comment of every test database and test login;
// the rest names the test process (procid), so that a later test process
// can drop those of one that was killed before its cleanup ran.
const testComment = "screend test: "

// BaseURL returns TEST_DATABASE_URL, failing the test when it is unset.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		t.Fatal("TEST_DATABASE_URL is not set: run the tests with `make test`, which sets up PostgreSQL and sets it")
	}
	return u
}

// URL creates a fresh, migrated database for the test, drops it when the
// test ends, and returns its connection string.
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(base) })
	if templateErr != nil {
		t.Fatalf("prepare template database: %v", templateErr)
	}
	return clone(t, base, templateName, true)
}

// EmptyURL is URL without the migrations: the database has the vector
// extension and nothing else, for tests of migrating itself.
func EmptyURL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	source, err := databaseName(base)
	if err != nil {
		t.Fatal(err)
	}
	return clone(t, base, pgx.Identifier{source}.Sanitize(), false)
}

// clone creates a database from template, drops it when the test ends, and
// returns its connection string. When remake is set and the template is gone
// (a test binary of other migrations, from another worktree on the same
// server, dropped it), the template is made again once.
func clone(t testing.TB, base, template string, remake bool) string {
	t.Helper()
	name := "screend_t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, withDatabase(base, "postgres"))
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	defer admin.Close(ctx)
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	sweepOnce.Do(func() { sweep(ctx, t, admin, me) })
	_, err = admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, template))
	var pgErr *pgconn.PgError
	if remake && errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
		if template, err = ensureTemplate(base); err == nil {
			_, err = admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, template))
		}
	}
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`COMMENT ON DATABASE %s IS '%s'`, name, testComment+me.String())); err != nil {
		t.Fatalf("comment test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, withDatabase(base, "postgres"))
		if err != nil {
			t.Errorf("connect to drop test database: %v", err)
			return
		}
		defer admin.Close(ctx)
		// A session that is just ending (the daemon's, autovacuum's) can make
		// the first attempt fail.
		for attempt := 1; ; attempt++ {
			_, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
			if err == nil {
				return
			}
			if attempt == 5 {
				t.Errorf("drop test database: %v", err)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	return withDatabase(base, name)
}

// sweep drops the test databases, then the test logins, of test processes
// of this host that are gone (killed, or timed out, before their cleanup
// ran). It only logs what fails: a leftover harms no test.
func sweep(ctx context.Context, t testing.TB, admin *pgx.Conn, me procid.ID) {
	for _, kind := range []struct{ list, drop, what string }{
		{`SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database
			WHERE datname LIKE 'screend\_t\_%' AND starts_with(shobj_description(oid, 'pg_database'), $1)`,
			`DROP DATABASE IF EXISTS %s WITH (FORCE)`, "test database"},
		{`SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles
			WHERE rolname LIKE 'screend\_t\_%' AND starts_with(shobj_description(oid, 'pg_authid'), $1)`,
			`DROP ROLE IF EXISTS %s`, "test login"},
	} {
		rows, err := admin.Query(ctx, kind.list, testComment)
		if err != nil {
			t.Logf("list %ss: %v", kind.what, err)
			continue
		}
		type object struct{ Name, Comment string }
		objects, err := pgx.CollectRows(rows, pgx.RowToStructByPos[object])
		if err != nil {
			t.Logf("list %ss: %v", kind.what, err)
			continue
		}
		for _, o := range objects {
			owner := procid.Parse(strings.TrimPrefix(o.Comment, testComment))
			if owner.Host != me.Host || (owner.Boot == me.Boot && procid.Alive(owner)) {
				continue
			}
			if _, err := admin.Exec(ctx, fmt.Sprintf(kind.drop, pgx.Identifier{o.Name}.Sanitize())); err != nil {
				t.Logf("drop the %s %s of a test process that is gone: %v", kind.what, o.Name, err)
			}
		}
	}
}

// Login creates a login role that is a member of role, for a test that
// connects as someone else, drops it when the test ends, and returns its
// name and password. Like a test database, it names the test process in
// its comment, so that it is dropped later if the test is killed. The
// login must own nothing and hold no grant of its own.
func Login(t testing.TB, db *sql.DB, role string) (name, password string) {
	t.Helper()
	ctx := context.Background()
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	name, password = "screend_t_login_"+randomHex(6), randomHex(12)
	var create string
	if err := Pool(db).QueryRow(ctx, `SELECT format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE %I', $1::text, $2::text, $3::text)`,
		name, password, role).Scan(&create); err != nil {
		t.Fatal(err)
	}
	if _, err := Pool(db).Exec(ctx, create); err != nil {
		t.Fatalf("create a login in %s (the screend role needs CREATEROLE: run scripts/setup.sh): %v", role, err)
	}
	t.Cleanup(func() {
		if _, err := Pool(db).Exec(context.Background(), `DROP ROLE `+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Errorf("drop the test login %s: %v", name, err)
		}
	})
	if _, err := Pool(db).Exec(ctx, fmt.Sprintf(`COMMENT ON ROLE %s IS '%s'`, pgx.Identifier{name}.Sanitize(), testComment+me.String())); err != nil {
		t.Fatalf("comment the test login: %v", err)
	}
	return name, password
}

// New returns an open DB on a fresh, migrated database for the test. The
// pool is closed and the database dropped when the test ends.
func New(t testing.TB) *sql.DB {
	t.Helper()
	u := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open(ctx, u)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// keepTemplates is how many templates of other migrations are kept: several
// worktrees with different migrations share one server, and dropping their
// templates would fail their tests.
const keepTemplates = 16

// ensureTemplate creates the migrated template database for the current
// migrations unless it exists, and drops the oldest templates of other
// migrations beyond keepTemplates.
func ensureTemplate(base string) (string, error) {
	ms, err := sql.Migrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range ms {
		fmt.Fprintf(h, "%d\x00%s\x00%s\x00", m.Version, m.Name, m.SQL)
	}
	name := "screend_tmpl_" + hex.EncodeToString(h.Sum(nil))[:12]
	source, err := databaseName(base)
	if err != nil {
		return "", err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, withDatabase(base, "postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to test server: %w", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock($1)`, screend.LockTestTemplate); err != nil {
		return "", fmt.Errorf("lock template: %w", err)
	}
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up template: %w", err)
	}
	if exists {
		return name, nil
	}
	rows, err := admin.Query(ctx, `
		SELECT datname FROM pg_database
		WHERE datname LIKE 'screend\_tmpl\_%' AND datname NOT LIKE '%\_new' AND datname <> $1
		ORDER BY oid DESC OFFSET $2`, name, keepTemplates)
	if err != nil {
		return "", fmt.Errorf("list old templates: %w", err)
	}
	old, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("list old templates: %w", err)
	}
	for _, o := range old {
		if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE %s WITH (FORCE)`, pgx.Identifier{o}.Sanitize())); err != nil {
			return "", fmt.Errorf("drop old template %s: %w", o, err)
		}
	}
	building := name + "_new"
	if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building)); err != nil {
		return "", fmt.Errorf("drop unfinished template: %w", err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, building, pgx.Identifier{source}.Sanitize())); err != nil {
		return "", fmt.Errorf("create template from %s: %w", source, err)
	}
	db, err := sql.Open(ctx, withDatabase(base, building))
	if err != nil {
		return "", err
	}
	_, err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		return "", err
	}
	// Renamed only once complete, so a crash never leaves a half-made template.
	if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", fmt.Errorf("rename template: %w", err)
	}
	return name, nil
}

func databaseName(rawURL string) (string, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse TEST_DATABASE_URL: %w", err)
	}
	return cfg.Database, nil
}

// withDatabase returns rawURL with its database name replaced. It handles
// both URL forms the setup writes (postgres://host/db and postgres:///db?host=).
func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Pool returns the connection pool of db, for tests that arrange or look at
// the database with SQL of their own.
func Pool(db *sql.DB) *pgxpool.Pool { return poolof.Of(db) }
