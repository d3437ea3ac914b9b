package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"screend/scoring/embed"
	"screend/sql"
	"screend/sql/sqltest"
)

// runCLI runs the command line in-process and returns its exit code and
// output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestPlanOnTheRealManifest lays out the 362 real file names of one batch
// and checks `plan --json` gives the nearest-up groups: 120 of 3 and 1 pair.
func TestPlanOnTheRealManifest(t *testing.T) {
	data, err := os.ReadFile("../../scoring/group/testdata/test_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Groups []struct {
			Files []struct {
				Filename string `json:"filename"`
			} `json:"files"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	project := filepath.Join(dir, "batch")
	if err := os.MkdirAll(filepath.Join(project, "__selected"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, g := range manifest.Groups {
		for _, f := range g.Files {
			if err := os.WriteFile(filepath.Join(project, f.Filename), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			files++
		}
	}
	// Output folders are not looked at.
	if err := os.WriteFile(filepath.Join(project, "__selected", "20250803_065406_stage3_enhanced.png"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, "plan", "--json", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var plan struct {
		Groups []struct {
			Project string   `json:"project"`
			Images  []string `json:"images"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan output is not one JSON document: %v\n%s", err, out)
	}
	sizes := map[int]int{}
	grouped := 0
	for _, g := range plan.Groups {
		sizes[len(g.Images)]++
		grouped += len(g.Images)
		if g.Project != "batch" || !strings.HasPrefix(g.Images[0], "batch/") {
			t.Errorf("group %v: want project batch and paths relative to DIR", g)
		}
	}
	if files != 362 || sizes[3] != 120 || sizes[2] != 1 || len(sizes) != 2 || grouped != 362 {
		t.Errorf("%d files in groups by size %v, want 120 groups of 3 and 1 pair covering all 362", grouped, sizes)
	}
	first := plan.Groups[0].Images
	want := []string{"batch/20250803_065406_stage1_generated.png", "batch/20250803_065436_stage1.5_face_swapped.png", "batch/20250803_065656_stage2_upscaled.png"}
	if strings.Join(first, " ") != strings.Join(want, " ") {
		t.Errorf("first group %v, want %v", first, want)
	}
}

func TestUsageAndConfigurationErrorsExitTwo(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no command", nil, nil, "usage"},
		{"unknown command", nil, []string{"frobnicate"}, "unknown command"},
		{"bad duration", map[string]string{"SCREEND_SETTLE": "soon"}, []string{"status"}, "SCREEND_SETTLE"},
		{"bad schedule", map[string]string{"SCREEND_RETRAIN_SCHEDULE": "every day"}, []string{"status"}, "SCREEND_RETRAIN_SCHEDULE"},
		{"bad listen", map[string]string{"SCREEND_LISTEN": "nowhere"}, []string{"status"}, "SCREEND_LISTEN"},
		{"bad threshold", map[string]string{"SCREEND_THRESHOLD_CROP": "1.5"}, []string{"status"}, "SCREEND_THRESHOLD_CROP"},
		{"bad flag", nil, []string{"plan", "--bogus", "."}, "bogus"},
		{"plan without folder", nil, []string{"plan"}, "one folder"},
		{"resolve without decision", nil, []string{"review", "resolve", "1"}, "--choose"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, _, errOut := runCLI(t, c.args...)
			if code != 2 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, c.want)
			}
		})
	}
}

func TestConfigFileAndRedaction(t *testing.T) {
	file := filepath.Join(t.TempDir(), "screend.toml")
	err := os.WriteFile(file, []byte(`inbox = ["/srv/a", "/srv/b"]
settle = "90s"
database_url = "postgres://u:secret@db.example/screend"
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCREEND_SETTLE", "3m") // the environment wins
	for _, k := range []string{"SCREEND_DATABASE_URL", "DATABASE_URL"} {
		t.Setenv(k, "") // restored when the test ends
		os.Unsetenv(k)
	}
	code, out, errOut := runCLI(t, "--config", file, "config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"SCREEND_INBOX=/srv/a,/srv/b", "SCREEND_SETTLE=3m0s", "postgres://u:xxxxx@db.example/screend"} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("config output shows the password:\n%s", out)
	}
	if err := os.WriteFile(file, []byte("setle = \"1m\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "--config", file, "config"); code != 2 || !strings.Contains(errOut, "setle") {
		t.Errorf("misspelt key: exit %d, %q; want 2 naming it", code, errOut)
	}
}

// TestReviewCommands resolves a flagged group with the CLI, as a reviewer
// would, and checks bad resolutions fail with the database's reason.
func TestReviewCommands(t *testing.T) {
	url := sqltest.URL(t)
	t.Setenv("SCREEND_DATABASE_URL", url)
	ctx := context.Background()
	db, err := sql.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	project, err := db.EnsureProject(ctx, "/inbox", "p")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, name := range []string{"20250101_000000_stage1_generated.png", "20250101_000100_stage2_upscaled.png"} {
		var id int64
		err := sqltest.Pool(db).QueryRow(ctx, `
			INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state, width, height)
			VALUES ($1, '/inbox/p/' || $2, $2, $2, 1, now(), 1, 'embedded', 64, 64) RETURNING image_id`, project, name).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var group int64
	err = sqltest.Pool(db).QueryRow(ctx, `
		WITH g AS (INSERT INTO screend.groups (project_id, state, reasons, flagged_at)
			VALUES ($1, 'flagged', '{no_model}', $2) RETURNING group_id)
		INSERT INTO screend.group_images (group_id, image_id, position)
		SELECT g.group_id, u.id, u.n - 1 FROM g, unnest($3::bigint[]) WITH ORDINALITY AS u(id, n)
		RETURNING group_id`, project, time.Now(), ids).Scan(&group)
	if err != nil {
		t.Fatal(err)
	}
	gid := strconv.FormatInt(group, 10)

	code, out, errOut := runCLI(t, "review", "list", "--json")
	if code != 0 || !strings.Contains(out, `"group_id": `+gid) || !strings.Contains(out, "no_model") {
		t.Fatalf("review list: exit %d, %s %s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "review", "resolve", gid, "--choose", "999999")
	if code != 1 || !strings.Contains(errOut, "is not in group") {
		t.Errorf("choosing a foreign image: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "review", "resolve", gid, "--choose", strconv.FormatInt(ids[1], 10), "--crop", "0,0,2,1")
	if code != 1 || !strings.Contains(errOut, "bad crop box") {
		t.Errorf("bad box: exit %d, %q", code, errOut)
	}
	code, out, errOut = runCLI(t, "review", "resolve", gid, "--choose", strconv.FormatInt(ids[1], 10),
		"--crop", "0.1,0,0.9,0.8", "--reviewer", "dana")
	if code != 0 {
		t.Fatalf("resolve: exit %d, %s", code, errOut)
	}
	var outcome, by string
	var chosen int64
	err = sqltest.Pool(db).QueryRow(ctx, `SELECT outcome, chosen_image_id, decided_by FROM screend.decisions WHERE group_id = $1`, group).
		Scan(&outcome, &chosen, &by)
	if err != nil || outcome != "crop" || chosen != ids[1] || by != "dana" {
		t.Errorf("decision %s %d by %s (%v), want crop of %d by dana", outcome, chosen, by, err, ids[1])
	}
	// Rejecting is explicit: reject_group.
	var group2 int64
	err = sqltest.Pool(db).QueryRow(ctx, `
		WITH g AS (INSERT INTO screend.groups (project_id, state, reasons, flagged_at)
			VALUES ($1, 'flagged', '{no_model}', now()) RETURNING group_id),
		i AS (INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state)
			VALUES ($1, '/inbox/p/x.png', 'x.png', 'x.png', 1, now(), 1, 'embedded') RETURNING image_id)
		INSERT INTO screend.group_images (group_id, image_id, position)
		SELECT g.group_id, i.image_id, 0 FROM g, i
		RETURNING group_id`, project).Scan(&group2)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = runCLI(t, "review", "resolve", strconv.FormatInt(group2, 10), "--reject"); code != 0 {
		t.Fatalf("reject: exit %d, %s %s", code, out, errOut)
	}
	var byLogin bool
	err = sqltest.Pool(db).QueryRow(ctx, `SELECT outcome, decided_by = session_user FROM screend.decisions WHERE group_id = $1`, group2).Scan(&outcome, &byLogin)
	if err != nil || outcome != "reject" || !byLogin {
		t.Errorf("decision %s by the login name: %v (%v), want reject", outcome, byLogin, err)
	}
	if code, out, _ = runCLI(t, "status", "--json"); code != 0 || !strings.Contains(out, `"review_queue": 0`) {
		t.Errorf("status after resolving: exit %d, %s", code, out)
	}
}

// TestCommandsOnUnmigratedDatabase runs the commands that read the schema
// on a database that was never migrated: each says what to run, none fails
// on a missing relation.
func TestCommandsOnUnmigratedDatabase(t *testing.T) {
	t.Setenv("SCREEND_DATABASE_URL", sqltest.EmptyURL(t))
	for _, args := range [][]string{
		{"status"},
		{"review", "list"},
		{"review", "resolve", "1", "--reject"},
		{"models", "list"},
		{"import", "logs", "/nonexistent.csv"},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != 1 || !strings.Contains(errOut, "run `screend migrate`") || strings.Contains(errOut, "does not exist") {
			t.Errorf("%v: exit %d, %q %q, want exit 1 naming `screend migrate`", args, code, out, errOut)
		}
	}
	// After migrating, status works.
	if code, out, errOut := runCLI(t, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d, %s %s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "status"); code != 0 {
		t.Errorf("status after migrating: exit %d, %s %s", code, out, errOut)
	}
}

// builtinID is the built-in embedder's name, which vectors and models are
// registered under by default.
var builtinID = embed.NewBuiltin().ID()
