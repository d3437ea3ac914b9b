package sql_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"screend/sql"
	"screend/sql/sqltest"
)

// flaggedGroup inserts a flagged group of images of the given sizes
// (width, height) in project p and returns its id and its images' ids.
func flaggedGroup(t *testing.T, db *sql.DB, sizes ...[2]int) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	project, err := db.EnsureProject(ctx, "/inbox", "p")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, s := range sizes {
		var id int64
		err := sqltest.Pool(db).QueryRow(ctx, `
			INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state, width, height)
			VALUES ($1, '/inbox/p/' || gen_random_uuid() || '.png', 'x.png', 'x.png', 1, now(), 1, 'embedded', $2, $3)
			RETURNING image_id`, project, s[0], s[1]).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var group int64
	err = sqltest.Pool(db).QueryRow(ctx, `
		WITH g AS (INSERT INTO screend.groups (project_id, state, reasons, flagged_at)
			VALUES ($1, 'flagged', '{no_model}', now()) RETURNING group_id)
		INSERT INTO screend.group_images (group_id, image_id, position)
		SELECT g.group_id, u.id, u.n - 1 FROM g, unnest($2::bigint[]) WITH ORDINALITY AS u(id, n)
		RETURNING group_id`, project, ids).Scan(&group)
	if err != nil {
		t.Fatal(err)
	}
	return group, ids
}

// TestResolveGroupValidatesEveryArgument calls resolve_group and
// reject_group in SQL, as reviewers do, with every kind of bad argument.
func TestResolveGroupValidatesEveryArgument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.New(t)
	g, ids := flaggedGroup(t, db, [2]int{1000, 500}, [2]int{2000, 1000})
	chosen := ids[1]
	for _, c := range []struct {
		name string
		sql  string
		args []any
		want string
	}{
		{"NULL in the box", `SELECT screend.resolve_group($1, $2, '{0,NULL,1,1}')`, []any{g, chosen}, "bad crop box"},
		{"NULL image points to reject_group", `SELECT screend.resolve_group($1, NULL)`, []any{g}, "screend.reject_group"},
		{"NaN in the box", `SELECT screend.resolve_group($1, $2, '{0,0,NaN,1}')`, []any{g, chosen}, "bad crop box"},
		{"two-dimensional box", `SELECT screend.resolve_group($1, $2, '{{0,0},{1,1}}')`, []any{g, chosen}, "bad crop box"},
		{"tiny box", `SELECT screend.resolve_group($1, $2, '{0.5,0.5,0.5001,0.5001}')`, []any{g, chosen}, "too small"},
		{"box below 16 pixels", `SELECT screend.resolve_group($1, $2, '{0,0,0.007,0.007}')`, []any{g, chosen}, "too small"},
		{"other aspect ratio", `SELECT screend.resolve_group($1, $2, '{0,0,1,0.5}')`, []any{g, chosen}, "aspect ratio"},
		{"reject a decided group", `SELECT screend.reject_group(-1)`, nil, "does not exist"},
		{"NULL group", `SELECT screend.reject_group(NULL)`, nil, "group_id is NULL"},
	} {
		args := append([]any{}, c.args...)
		var id int64
		err := sqltest.Pool(db).QueryRow(ctx, c.sql, args...).Scan(&id)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	var state string
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT state FROM screend.groups WHERE group_id = $1`, g).Scan(&state); err != nil || state != "flagged" {
		t.Fatalf("group is %q (%v) after refused calls, want flagged", state, err)
	}
	// Asked for explicitly, another aspect ratio is fine.
	if _, err := sqltest.Pool(db).Exec(ctx, `SELECT screend.resolve_group($1, $2, '{0,0,1,0.5}', free_aspect => true)`, g, chosen); err != nil {
		t.Fatal(err)
	}
	var crop []float32
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT crop FROM screend.decisions WHERE group_id = $1`, g).Scan(&crop); err != nil || len(crop) != 4 {
		t.Fatalf("crop %v: %v", crop, err)
	}

	// Rejecting is explicit and says so in Go too.
	g2, _ := flaggedGroup(t, db, [2]int{64, 64})
	if _, err := db.Resolve(ctx, sql.Resolution{GroupID: g2}); !errors.Is(err, sql.ErrBadResolution) || !strings.Contains(err.Error(), "reject_group") {
		t.Errorf("Resolve without an image: %v, want a refusal naming reject_group", err)
	}
	if _, err := db.Reject(ctx, g2, ""); err != nil {
		t.Fatal(err)
	}
	var outcome, by, login string
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT outcome, decided_by, session_user FROM screend.decisions WHERE group_id = $1`, g2).Scan(&outcome, &by, &login); err != nil {
		t.Fatal(err)
	}
	if outcome != "reject" || by != login {
		t.Errorf("decision %q by %q, want reject by the login name", outcome, by)
	}
}

// TestReviewerRoleHasLeastPrivilege logs in as a member of the shipped
// screend_reviewer role: it can read the queue, the history, the readiness,
// the imported history and the take-backs, and resolve, reject or take
// back, as itself only, and nothing else.
func TestReviewerRoleHasLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.New(t)
	g1, ids1 := flaggedGroup(t, db, [2]int{64, 64}, [2]int{128, 128})
	g2, _ := flaggedGroup(t, db, [2]int{64, 64})

	name, password := sqltest.Login(t, db, "screend_reviewer")
	var base string
	must(t, sqltest.Pool(db).QueryRow(ctx, `SELECT current_database()`).Scan(&base))
	cfg, err := pgx.ParseConfig(sqltest.URL(t))
	must(t, err)
	cfg.Database, cfg.User, cfg.Password = base, name, password
	rev, err := pgx.ConnectConfig(ctx, cfg)
	must(t, err)
	defer rev.Close(ctx)

	var n int
	must(t, rev.QueryRow(ctx, `SELECT count(*) FROM screend.review_queue`).Scan(&n))
	if n != 2 {
		t.Errorf("reviewer sees %d groups in the queue, want 2", n)
	}
	// Naming someone else is refused; deciding as oneself works.
	if _, err := rev.Exec(ctx, `SELECT screend.resolve_group($1, $2, reviewer => 'mallory')`, g1, ids1[1]); err == nil || !strings.Contains(err.Error(), "only the daemon may name another reviewer") {
		t.Errorf("naming another reviewer: %v", err)
	}
	if _, err := rev.Exec(ctx, `SELECT screend.resolve_group($1, $2)`, g1, ids1[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := rev.Exec(ctx, `SELECT screend.reject_group($1)`, g2); err != nil {
		t.Fatal(err)
	}
	rows, err := rev.Query(ctx, `SELECT decided_by, automatic FROM screend.decision_history`)
	must(t, err)
	decisions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		By   string
		Auto bool
	}])
	must(t, err)
	if len(decisions) != 2 {
		t.Fatalf("history has %d decisions, want 2", len(decisions))
	}
	for _, d := range decisions {
		if d.By != name || d.Auto {
			t.Errorf("decision recorded by %q (automatic %v), want %q, human", d.By, d.Auto, name)
		}
	}
	// The readiness, the imported history and the take-backs, as a person
	// reads them (migration 008).
	for _, q := range []string{
		`SELECT count(*) FROM screend.model_readiness`,
		`SELECT project, file_name, path, reason FROM screend.history_images`,
		`SELECT state, report, decision, requested_by FROM screend.take_backs`,
	} {
		if _, err := rev.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	if _, err := rev.Exec(ctx, `SELECT screend.undo_group(-1)`); err == nil || strings.Contains(err.Error(), "permission denied") {
		t.Errorf("undo_group of no group: err = %v, want refused for the group, not for the rights", err)
	}
	// Nothing else: no table, no other function, no forged automatic decision.
	for _, q := range []string{
		`SELECT embedding FROM screend.history_images`,
		`SELECT last_move_id FROM screend.take_backs`,
		`SELECT count(*) FROM screend.images`,
		`SELECT count(*) FROM screend.decisions`,
		`UPDATE screend.groups SET state = 'decided'`,
		`INSERT INTO screend.decisions (group_id, outcome, automatic, decided_by) VALUES (1, 'reject', true, 'screend')`,
		`SELECT screend.instance_alive(1)`,
		`SELECT screend.record_human_decision(NULL, 'reject', NULL, NULL, 'x')`,
	} {
		if _, err := rev.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: err = %v, want permission denied", q, err)
		}
	}
	// Both run with the daemon's rights and a fixed search_path.
	rows, err = sqltest.Pool(db).Query(ctx, `
		SELECT proname, prosecdef, coalesce(array_to_string(proconfig, ','), '') FROM pg_proc
		WHERE pronamespace = 'screend'::regnamespace AND proname IN ('resolve_group', 'reject_group')`)
	must(t, err)
	for rows.Next() {
		var fn, config string
		var definer bool
		must(t, rows.Scan(&fn, &definer, &config))
		if !definer || !strings.Contains(config, "search_path=pg_catalog, pg_temp") {
			t.Errorf("%s: security definer %v, config %q", fn, definer, config)
		}
	}
}

// TestInstanceAliveOnlyInItsDatabase runs two deployments on one cluster
// whose instances have the same id: a live instance of one does not make a
// dead instance of the other look alive.
func TestInstanceAliveOnlyInItsDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	production, staging := sqltest.URL(t), sqltest.URL(t)
	live, err := sql.RegisterInstance(ctx, staging)
	must(t, err)
	defer live.Close(ctx)

	db, err := sql.Open(ctx, production)
	must(t, err)
	defer db.Close()
	// The production instance of the same id was killed: its row is there,
	// its lock is gone.
	_, err = sqltest.Pool(db).Exec(ctx, `
		INSERT INTO screend.instances (instance_id, hostname, pid) OVERRIDING SYSTEM VALUE VALUES ($1, 'dead', 1)`, live.ID)
	must(t, err)
	var alive bool
	must(t, sqltest.Pool(db).QueryRow(ctx, `SELECT screend.instance_alive($1)`, live.ID).Scan(&alive))
	if alive {
		t.Errorf("instance %d of production looks alive because instance %d of staging runs", live.ID, live.ID)
	}
	stagingDB, err := sql.Open(ctx, staging)
	must(t, err)
	defer stagingDB.Close()
	must(t, sqltest.Pool(stagingDB).QueryRow(ctx, `SELECT screend.instance_alive($1)`, live.ID).Scan(&alive))
	if !alive {
		t.Errorf("the live staging instance %d is not alive in its own database", live.ID)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
