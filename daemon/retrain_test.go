package daemon

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"screend/sql"
	"screend/sql/sqltest"
	"screend/training"
	"screend/training/trainingtest"
)

// fakeTrain counts runs and can block until released.
type fakeTrain struct {
	runs    atomic.Int32
	started chan struct{}
	release chan struct{}
}

func (f *fakeTrain) train(ctx context.Context) (training.RunResult, error) {
	f.runs.Add(1)
	if f.started != nil {
		f.started <- struct{}{}
		<-f.release
	}
	return training.RunResult{ModelID: 1, Promoted: true}, nil
}

// newTestRetrainer is a retrainer on db with a daily 03:00 schedule, the
// clock at now, and a fake training.
func newTestRetrainer(t *testing.T, db *sql.DB, now time.Time, minDecisions int) (*retrainer, *fakeTrain) {
	t.Helper()
	sched, err := cron.ParseStandard("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTrain{}
	r := &retrainer{db: db, log: slog.New(slog.NewTextHandler(t.Output(), nil)), sched: sched, minDecisions: minDecisions,
		now: func() time.Time { return now }, train: f.train,
		wait: func(ctx context.Context, at time.Time) bool { return false }}
	return r, f
}

// insertModel registers a model created at the given time.
func insertModel(t *testing.T, db *sql.DB, created time.Time) {
	t.Helper()
	ctx := context.Background()
	id, err := db.EnsureEmbedder(ctx, "test-v1", 16)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := db.InsertModel(ctx, sql.Model{EmbedderID: id, Ranker: []byte{1}, Crop: []byte{1}, Reject: []byte{1},
		Params: []byte(`{}`), Metrics: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqltest.Pool(db).Exec(ctx, `UPDATE screend.models SET created_at = $2 WHERE model_id = $1`, mid, created); err != nil {
		t.Fatal(err)
	}
}

func TestRetrainerRunsAtStartWhenARunWasMissed(t *testing.T) {
	t.Parallel()
	db := sqltest.New(t)
	now := time.Now()
	trainingtest.Seed(t, db, trainingtest.Options{Groups: 3}) // 3 human decisions, now
	insertModel(t, db, now.Add(-48*time.Hour))                // before yesterday's 03:00
	r, f := newTestRetrainer(t, db, now, 3)
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.runs.Load() != 1 {
		t.Fatalf("%d runs at start, want 1", f.runs.Load())
	}
}

func TestRetrainerDoesNotRunAtStartWithoutAMissedRun(t *testing.T) {
	t.Parallel()
	db := sqltest.New(t)
	trainingtest.Seed(t, db, trainingtest.Options{Groups: 3})
	// the model was trained after the last scheduled time before now
	sched, _ := cron.ParseStandard("0 3 * * *")
	now := sched.Next(time.Now()).Add(time.Hour) // 04:00 on some day
	insertModel(t, db, now.Add(-30*time.Minute))
	r, f := newTestRetrainer(t, db, now, 0)
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.runs.Load() != 0 {
		t.Fatalf("%d runs at start, want 0", f.runs.Load())
	}
}

func TestRetrainerSkipsWithTooFewNewDecisions(t *testing.T) {
	t.Parallel()
	db := sqltest.New(t)
	now := time.Now()
	trainingtest.Seed(t, db, trainingtest.Options{Groups: 3}) // decided now
	insertModel(t, db, now.Add(-48*time.Hour))
	r, f := newTestRetrainer(t, db, now, 4)
	if r.attempt(context.Background(), "test") || f.runs.Load() != 0 {
		t.Fatal("trained with 3 of 4 new decisions")
	}
	// decisions before the last model do not count
	insertModel(t, db, now.Add(time.Minute))
	r.minDecisions = 1
	if r.attempt(context.Background(), "test") || f.runs.Load() != 0 {
		t.Fatal("trained with no new decision")
	}
}

func TestRetrainerRunsOnSchedule(t *testing.T) {
	t.Parallel()
	db := sqltest.New(t)
	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.Local)
	insertModel(t, db, now.Add(-time.Hour)) // nothing missed
	trainingtest.Seed(t, db, trainingtest.Options{Groups: 2})
	r, f := newTestRetrainer(t, db, now, 1)
	var waited []time.Time
	r.wait = func(ctx context.Context, at time.Time) bool {
		waited = append(waited, at)
		return len(waited) == 1 // the first scheduled time comes, then stop
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2025, 6, 3, 3, 0, 0, 0, time.Local)
	if len(waited) != 2 || !waited[0].Equal(want) || f.runs.Load() != 1 {
		t.Fatalf("waited for %v, %d runs; want %v first and 1 run", waited, f.runs.Load(), want)
	}
}

func TestRetrainerOneInstanceAtATime(t *testing.T) {
	t.Parallel()
	db := sqltest.New(t)
	trainingtest.Seed(t, db, trainingtest.Options{Groups: 2})
	now := time.Now()
	a, fa := newTestRetrainer(t, db, now, 1)
	b, fb := newTestRetrainer(t, db, now, 1)
	fa.started, fa.release = make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.attempt(context.Background(), "test")
	}()
	<-fa.started // a holds the lock and is training
	if b.attempt(context.Background(), "test") || fb.runs.Load() != 0 {
		t.Fatal("a second instance trained while the first was training")
	}
	close(fa.release)
	wg.Wait()
	if fa.runs.Load() != 1 {
		t.Fatalf("first instance ran %d times", fa.runs.Load())
	}
	// the lock is free again
	if !b.attempt(context.Background(), "test") || fb.runs.Load() != 1 {
		t.Fatal("the lock was not released")
	}
}

func TestRetrainerDisabled(t *testing.T) {
	t.Parallel()
	r, err := newRetrainer(Options{}, nil, "test-v1", slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil || r.sched != nil {
		t.Fatalf("disabled retrainer: %v", err)
	}
}
