package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"screend"
	"screend/cmd/screend/config"

	"screend/scoring/onnxrt"
	"screend/sql"
	"screend/sql/sqltest"
	"screend/training"
	"screend/training/trainingtest"
)

// testEnv returns a command environment on a fresh database.
func testEnv(t *testing.T) (env, *sql.DB, *bytes.Buffer) {
	t.Helper()
	url := sqltest.URL(t)
	cfg, err := config.Load("", func(k string) (string, bool) {
		switch k {
		case "SCREEND_DATABASE_URL":
			return url, true
		case "SCREEND_ONNXRUNTIME_LIB":
			v := os.Getenv(onnxrt.LibEnv)
			return v, v != ""
		case "SCREEND_LOG_FORMAT":
			return "plain", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	out := &bytes.Buffer{}
	return env{cfg: cfg, stdout: out, stderr: &testLogWriter{t}}, db, out
}

type testLogWriter struct{ t *testing.T }

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// the real logs of the old workflow (copies of ../shared/data/upstream)
var realLogs = []string{
	"anomaly_cases.csv", "historical_crop_log.csv", "historical_selection_log.csv",
	"mojo1_crop_log.csv", "mojo1_selection_log.csv", "select_crop_log.csv",
}

func logPaths() []string {
	var ps []string
	for _, f := range realLogs {
		ps = append(ps, filepath.Join("..", "..", "training", "importlog", "testdata", f))
	}
	return ps
}

type importOutput struct {
	Files  []ImportFile `json:"files"`
	Totals ImportTotals `json:"totals"`
}

func runImport(t *testing.T, e env, out *bytes.Buffer, args ...string) importOutput {
	t.Helper()
	out.Reset()
	if err := importCmd(context.Background(), e, append([]string{"logs", "--json"}, args...)); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	var res importOutput
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("import output: %v\n%s", err, out)
	}
	return res
}

// importCounts returns the stored rows and rejects per source, and the stored
// rows per crop status.
func importCounts(t *testing.T, db *sql.DB) (map[string][2]int, map[string]int) {
	t.Helper()
	ctx := context.Background()
	per := map[string][2]int{}
	for _, f := range realLogs {
		rows, rejects, err := db.ImportCounts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		per[f] = [2]int{rows, rejects}
	}
	status := map[string]int{}
	rows, err := sqltest.Pool(db).Query(ctx, `SELECT crop_status, count(*) FROM screend.imported_decisions GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		status[s] = n
	}
	return per, status
}

func TestImportRealLogs(t *testing.T) {
	t.Parallel()
	e, db, out := testEnv(t)

	res := runImport(t, e, out, logPaths()...)
	tot := res.Totals
	if tot.Files != 6 || tot.Rows != 18063 || tot.Accepted != 10870 || tot.Rejected != 7193 || tot.Dropped != 0 || tot.Failed != 0 {
		t.Fatalf("totals %+v", tot)
	}
	// select_crop_log.csv names work folders (crop/...), not projects: every
	// row but the one in mojo1/ is rejected until the folders are mapped
	if len(tot.Reasons) != 1 || tot.Reasons["row:unknown_project"] != 7193 {
		t.Fatalf("reasons %v", tot.Reasons)
	}
	want := map[string][2]int{
		"anomaly_cases.csv": {518, 0}, "historical_crop_log.csv": {5149, 0}, "historical_selection_log.csv": {23, 0},
		"mojo1_crop_log.csv": {5156, 0}, "mojo1_selection_log.csv": {23, 0}, "select_crop_log.csv": {1, 7193},
	}
	per, status := importCounts(t, db)
	for f, w := range want {
		if per[f] != w {
			t.Errorf("%s: stored %d rows and %d rejects, want %v", f, per[f][0], per[f][1], w)
		}
	}
	wantStatus := map[string]int{"not_logged": 564, "no_coords": 10305, "box": 1}
	for s, n := range wantStatus {
		if status[s] != n {
			t.Errorf("crop status %s: %d rows, want %d (all %v)", s, status[s], n, status)
		}
	}
	var detail string
	if err := sqltest.Pool(db).QueryRow(context.Background(), `
		SELECT detail FROM screend.import_rejects WHERE source = 'select_crop_log.csv' AND line = 3`).Scan(&detail); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, `directory "crop"`) {
		t.Errorf("reject detail %q", detail)
	}

	// importing again changes nothing
	again := runImport(t, e, out, logPaths()...)
	for _, f := range again.Files {
		if f.Stored.Inserted != 0 || f.Stored.Removed != 0 || f.Stored.Updated != f.Accepted {
			t.Errorf("re-import of %s: %+v", f.Source, f.Stored)
		}
	}
	if per2, _ := importCounts(t, db); len(per2) != len(per) || per2["select_crop_log.csv"] != per["select_crop_log.csv"] || per2["mojo1_crop_log.csv"] != per["mojo1_crop_log.csv"] {
		t.Errorf("re-import changed the counts: %v, then %v", per, per2)
	}

	// with the work folder mapped, every crop-tool row is accepted and replaces the rejects
	mapped := runImport(t, e, out, "--project-map", "crop=upstream-crop", logPaths()[5])
	if f := mapped.Files[0]; f.Accepted != 7194 || f.Rejected != 0 || f.Stored.Inserted != 7193 || f.Stored.Updated != 1 {
		t.Fatalf("mapped import %+v, stored %+v", f, f.Stored)
	}
	per, status = importCounts(t, db)
	if per["select_crop_log.csv"] != [2]int{7194, 0} || status["box"] != 6645 || status["full_frame"] != 549 {
		t.Errorf("after mapping: %v, crop status %v", per["select_crop_log.csv"], status)
	}
	var hannah int
	if err := sqltest.Pool(db).QueryRow(context.Background(), `
		SELECT count(*) FROM screend.imported_decisions WHERE source = 'select_crop_log.csv' AND project = 'upstream-crop'`).Scan(&hannah); err != nil {
		t.Fatal(err)
	}
	if hannah != 7193 {
		t.Errorf("%d rows in the mapped project, want 7193", hannah)
	}
	// and unmapping brings the rejects back and removes the rows
	unmapped := runImport(t, e, out, logPaths()[5])
	if f := unmapped.Files[0]; f.Stored.Removed != 7193 || f.Stored.Rejects != 7193 {
		t.Fatalf("unmapped import stored %+v", f.Stored)
	}

	// human output names every reason
	out.Reset()
	if err := importCmd(context.Background(), e, append([]string{"logs"}, logPaths()[5])); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "unknown_project        7193") || !strings.Contains(s, "--project-map") {
		t.Errorf("human output:\n%s", s)
	}
}

func TestImportUsageAndBadFiles(t *testing.T) {
	t.Parallel()
	e, _, out := testEnv(t)
	var ue usageError
	for _, args := range [][]string{nil, {"lgs"}, {"logs"}, {"logs", "--project-map", "nofolder", "x.csv"}} {
		if err := importCmd(context.Background(), e, args); !errors.As(err, &ue) {
			t.Errorf("import %q: %v, want a usage error", args, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("a,b\n1,2\n"), 0o644)
	err := importCmd(context.Background(), e, []string{"logs", bad, logPaths()[4]})
	if err == nil || !strings.Contains(out.String(), "FAILED") || !strings.Contains(out.String(), "mojo1_selection_log.csv (selection): 23 rows, 23 accepted") {
		t.Fatalf("import of a bad and a good file: %v\n%s", err, out)
	}
}

// TestTrainAndModelCommands runs train, models list, promote and rollback
// as a user would, with the built-in embedder's vectors.
func TestTrainAndModelCommands(t *testing.T) {
	e, db, out := testEnv(t)
	ctx := context.Background()
	seed := trainingtest.Options{Embedder: builtinID, Dim: 498, Groups: 60}

	// too few examples: exit 1, nothing registered
	trainingtest.Seed(t, db, trainingtest.Options{Embedder: builtinID, Dim: 498, Groups: 10, Seed: 30})
	err := train(ctx, e, nil)
	if err == nil || !errors.Is(err, training.ErrTooFewExamples) || !strings.Contains(err.Error(), "10 groups of human decisions, at least 50 needed") {
		t.Fatalf("train on 10 groups: %v\n%s", err, out)
	}
	if ms, _ := db.ListModels(ctx); len(ms) != 0 {
		t.Fatal("a model was registered")
	}

	trainingtest.Seed(t, db, seed)
	var ids []int64
	for i := 0; i < 2; i++ {
		out.Reset()
		dir := t.TempDir()
		if err := train(ctx, e, []string{"--json", "--report", dir}); err != nil {
			t.Fatalf("train: %v\n%s", err, out)
		}
		var res struct {
			Examples struct{ Groups int }
			ModelID  int64 `json:"model_id"`
			Promoted bool
			Gate     struct{ Pass bool }
			Metrics  struct{ Overall struct{ Groups int } }
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("train output: %v\n%s", err, out)
		}
		if res.Examples.Groups != 70 || res.ModelID == 0 || res.Metrics.Overall.Groups == 0 {
			t.Fatalf("train output: %s", out)
		}
		// the same data twice: the second model ties with the first and passes
		if !res.Promoted || !res.Gate.Pass {
			t.Fatalf("model %d not promoted: %s", res.ModelID, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "report.json")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ModelID)
	}
	out.Reset()
	if err := train(ctx, e, []string{"--min-groups", "5"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"held-out evaluation on", "overall", "highest-stage", "gate on", "promoted"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("human train output lacks %q:\n%s", s, out)
		}
	}
	third := int64(3)

	// status shows the active model's readiness per kind
	out.Reset()
	if err := status(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"select:", "crop:", "reject:"} {
		if !strings.Contains(out.String(), k) {
			t.Errorf("status lacks the readiness of %s\n%s", k, out)
		}
	}
	rs, err := db.ReadReadiness(ctx)
	if err != nil || len(rs) != 3 || rs[0].Recent == 0 {
		t.Errorf("model_readiness: %+v, %v; want three kinds judged on the reviewed groups", rs, err)
	}

	out.Reset()
	if err := models(ctx, e, []string{"list", "--json"}); err != nil {
		t.Fatal(err)
	}
	var list struct{ Models []sql.ModelInfo }
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Models) != 3 || list.Models[0].ID != third || list.Models[0].State != screend.ModelActive ||
		list.Models[2].State != screend.ModelRetired || list.Models[0].Embedder != builtinID {
		t.Fatalf("models list: %s", out)
	}

	// rollback walks back through the models that were active
	for _, want := range []int64{ids[1], ids[0]} {
		out.Reset()
		if err := models(ctx, e, []string{"rollback"}); err != nil {
			t.Fatal(err)
		}
		if id, _ := db.ActiveModelID(ctx); id != want {
			t.Fatalf("after rollback model %d is active, want %d (%s)", id, want, out)
		}
	}
	if err := models(ctx, e, []string{"rollback"}); !errors.Is(err, sql.ErrNoModel) {
		t.Fatalf("rollback past the first model: %v", err)
	}

	// manual promotion bypasses the gate, even of a failed candidate
	if _, err := sqltest.Pool(db).Exec(ctx, `UPDATE screend.models SET state = 'failed_gate' WHERE model_id = $1`, third); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := models(ctx, e, []string{"promote", "3"}); err != nil {
		t.Fatal(err)
	}
	if id, _ := db.ActiveModelID(ctx); id != third || !strings.Contains(out.String(), "gate was not applied") {
		t.Fatalf("promote: active %d, output %s", id, out)
	}
	out.Reset()
	if err := models(ctx, e, []string{"list"}); err != nil || !strings.Contains(out.String(), builtinID) {
		t.Fatalf("models list: %v\n%s", err, out)
	}
	var ue usageError
	for _, args := range [][]string{nil, {"promote"}, {"promote", "x"}, {"rollback", "1"}, {"drop"}} {
		if err := models(ctx, e, args); !errors.As(err, &ue) {
			t.Errorf("models %q: %v, want a usage error", args, err)
		}
	}
	if err := models(ctx, e, []string{"promote", "99"}); !errors.Is(err, sql.ErrNoModel) {
		t.Errorf("promote 99: %v", err)
	}
}
