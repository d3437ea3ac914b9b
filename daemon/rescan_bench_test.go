package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"screend/sql"
	"screend/sql/sqltest"
)

// BenchmarkRescanProcessedInbox measures the restart case: an inbox of
// 100,000 files that are all recorded already. The watcher loads what it
// knows and scans every folder; no file may be read or recorded again.
//
//	go test -run XXX -bench RescanProcessedInbox -benchtime 3x ./daemon/
func BenchmarkRescanProcessedInbox(b *testing.B) {
	const projects, perProject = 10, 10_000
	ctx := context.Background()
	db := sqltest.New(b)
	inbox := b.TempDir()
	var files []sql.NewFile
	for p := range projects {
		name := fmt.Sprintf("p%02d", p)
		pid, err := db.EnsureProject(ctx, inbox, name)
		if err != nil {
			b.Fatal(err)
		}
		for i := range perProject {
			dir := filepath.Join(inbox, name, fmt.Sprintf("batch%03d", i/500))
			os.MkdirAll(dir, 0o755)
			fn := fmt.Sprintf("20250101_%06d_stage1_generated.png", i)
			path := filepath.Join(dir, fn)
			if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
			info, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			rel, _ := filepath.Rel(filepath.Join(inbox, name), path)
			files = append(files, sql.NewFile{ProjectID: pid, Path: path, RelPath: rel, FileName: fn,
				Size: info.Size(), MTime: mtime(info), Stage: 1})
		}
	}
	for start := 0; start < len(files); start += 5000 {
		if _, err := db.RecordFiles(ctx, files[start:min(start+5000, len(files))], nil); err != nil {
			b.Fatal(err)
		}
	}
	cfg := Options{Inbox: []string{inbox}, ScanInterval: time.Minute, StableFor: 2 * time.Second}
	log := slog.New(slog.DiscardHandler)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		w := newWatcher(cfg, db, log, NewMetrics(), func([]int64) { b.Fatal("a known file was recorded again") })
		ctx, cancel := context.WithCancel(ctx)
		w.ready = cancel // stop once the first scan is done
		if err := w.Run(ctx); err != nil {
			b.Fatal(err)
		}
		if len(w.pending) != 0 {
			b.Fatalf("%d known files waiting to be taken again", len(w.pending))
		}
		b.ReportMetric(float64(len(files))/time.Since(start).Seconds(), "files/s")
	}
}
