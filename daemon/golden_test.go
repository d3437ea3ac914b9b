package daemon_test

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"screend/scoring/onnxrt/onnxrttest"
	"screend/sql/sqltest"
)

var update = flag.Bool("update", false, "rewrite testdata/tree.golden and testdata/decisions.golden")

// TestGoldenEndToEnd runs the daemon on a fixture inbox with a fixed model
// (installModel) until it is idle and compares what it did with
// testdata/tree.golden (every file of the inbox afterwards) and
// testdata/decisions.golden (every group: state, outcome, chosen file, crop
// box, rounded, and reasons). `go test ./daemon -run Golden -update` rewrites them
// after an intended change; review the diff.
func TestGoldenEndToEnd(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	stageFiles(t, proj, "20250101_010000", 40, 1, "stage1_generated", "stage2_upscaled")                                             // crop
	stageFiles(t, proj, "20250101_020000", 40, 2, "stage1_generated", "stage1.5_face_swapped", "stage2_upscaled")                    // select
	stageFiles(t, proj, "20250101_030000", 40, 3, "stage1_generated", "stage1.5_face_swapped", "stage2_upscaled", "stage3_enhanced") // reject
	stageFiles(t, proj, "20250101_040000", 40, 4, "stage1_generated")                                                                // one image: flagged
	must(t, os.WriteFile(filepath.Join(proj, "20250101_050000_stage1_generated.png"), []byte("not a png"), 0o644))                   // quarantined
	must(t, os.WriteFile(filepath.Join(proj, "notes.txt"), []byte("left alone\n"), 0o644))
	cfg := testConfig(t, dbURL, inbox)
	cfg.Settle = time.Second
	d := startDaemon(t, cfg)
	installModel(t, d.db, 498)
	waitIdle(t, d.db, 60*time.Second)

	var tree strings.Builder
	must(t, filepath.WalkDir(inbox, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(inbox, path)
			fmt.Fprintln(&tree, filepath.ToSlash(rel))
		}
		return err
	}))

	rows, err := sqltest.Pool(d.db).Query(context.Background(), `
		SELECT g.state,
		       coalesce(d.outcome, g.suggested_outcome, '-'),
		       coalesce(c.file_name, '-'),
		       coalesce((SELECT string_agg(round(x::numeric, 3)::text, ',' ORDER BY n)
		                 FROM unnest(coalesce(d.crop, g.suggested_crop)) WITH ORDINALITY AS b(x, n)), '-'),
		       coalesce(array_to_string(g.reasons, ','), ''),
		       string_agg(i.file_name, ' ' ORDER BY gi.position)
		FROM screend.groups g
		JOIN screend.group_images gi USING (group_id)
		JOIN screend.images i ON i.image_id = gi.image_id
		LEFT JOIN screend.decisions d ON d.group_id = g.group_id
		LEFT JOIN screend.images c ON c.image_id = coalesce(d.chosen_image_id, g.suggested_image_id)
		GROUP BY g.group_id, g.state, d.outcome, g.suggested_outcome, c.file_name, d.crop, g.suggested_crop, g.reasons
		ORDER BY min(i.file_name)`)
	must(t, err)
	var decisions strings.Builder
	for rows.Next() {
		var state, outcome, chosen, crop, reasons, files string
		must(t, rows.Scan(&state, &outcome, &chosen, &crop, &reasons, &files))
		fmt.Fprintf(&decisions, "%s\n  state %s, outcome %s, chosen %s, crop %s, reasons [%s]\n", files, state, outcome, chosen, crop, reasons)
	}
	must(t, rows.Err())
	var quarantined strings.Builder
	qrows, err := sqltest.Pool(d.db).Query(context.Background(), `
		SELECT file_name, state, coalesce(reason, '') FROM screend.images WHERE state NOT IN ('embedded', 'duplicate') ORDER BY file_name`)
	must(t, err)
	for qrows.Next() {
		var name, state, reason string
		must(t, qrows.Scan(&name, &state, &reason))
		fmt.Fprintf(&quarantined, "%s\n  state %s, reason %s\n", name, state, reason)
	}
	must(t, qrows.Err())
	decisions.WriteString(quarantined.String())

	golden(t, "testdata/tree.golden", tree.String())
	golden(t, "testdata/decisions.golden", decisions.String())
}

// golden compares got with the file at path, or writes it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update after an intended change):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
