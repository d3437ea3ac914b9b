package sqltest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"screend/internal/procid"
	"screend/internal/procid/procidtest"
)

// TestSweepDropsDatabasesOfGoneProcesses: of test databases and logins
// named like this package's, the sweep drops those whose process on this
// host is gone, and keeps those of a running process, of another host, and
// those without an owner.
func TestSweepDropsDatabasesOfGoneProcesses(t *testing.T) {
	base := BaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, withDatabase(base, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var made []string
	defer func() { // before admin.Close
		for _, name := range made {
			admin.Exec(ctx, `DROP DATABASE IF EXISTS `+name)
			admin.Exec(ctx, `DROP ROLE IF EXISTS `+name)
		}
	}()
	me, err := procid.Self()
	if err != nil {
		t.Fatal(err)
	}
	gone, stop := procidtest.Sleeper(t)
	stop()
	elsewhere := gone
	elsewhere.Host += "-elsewhere"
	earlierBoot := me
	earlierBoot.Boot += "-earlier"
	source, err := databaseName(base)
	if err != nil {
		t.Fatal(err)
	}
	id := randomHex(4)
	cases := []struct {
		name, comment string
		dropped       bool
	}{
		{"gone", testComment + gone.String(), true},
		{"earlier_boot", testComment + earlierBoot.String(), true},
		{"running", testComment + me.String(), false},
		{"elsewhere", testComment + elsewhere.String(), false},
		{"no_owner", "", false},
	}
	for _, c := range cases {
		name := pgx.Identifier{"screend_t_sweep_" + id + "_" + c.name}.Sanitize()
		if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, pgx.Identifier{source}.Sanitize())); err != nil {
			t.Fatal(err)
		}
		made = append(made, name)
		if _, err := admin.Exec(ctx, `CREATE ROLE `+name); err != nil {
			t.Fatal(err)
		}
		if c.comment != "" {
			for _, kind := range []string{"DATABASE", "ROLE"} {
				if _, err := admin.Exec(ctx, fmt.Sprintf(`COMMENT ON %s %s IS '%s'`, kind, name, c.comment)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	sweep(ctx, t, admin, me)
	for _, c := range cases {
		var database, role bool
		if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`,
			"screend_t_sweep_"+id+"_"+c.name).Scan(&database, &role); err != nil {
			t.Fatal(err)
		}
		if database == c.dropped || role == c.dropped {
			t.Errorf("%s: database %v and login %v exist after the sweep, want dropped %v", c.name, database, role, c.dropped)
		}
	}
}
