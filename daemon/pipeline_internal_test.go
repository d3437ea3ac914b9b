package daemon

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"screend/sql"
	"screend/sql/sqltest"
)

// Issue 11: jobs to be retried (their files changed) are released under the
// instance that claimed each, not all under the first job's: an instance
// that registered again (a lost connection) has jobs of both ids in flight.
func TestRetriedJobsAreReleasedByTheirClaimers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, url, pid := projectDB(t)
	recordFiles(t, db, pid, "a.png", "b.png")
	var batch []*job
	for range 2 {
		inst, err := sql.RegisterInstance(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Close(ctx)
		claimed, err := db.ClaimImages(ctx, inst.ID, 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		batch = append(batch, &job{img: claimed[0], claimer: inst.ID, retry: true, start: time.Now()})
	}
	p := &pipeline{db: db, log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: NewMetrics(), processed: func([]int64) {}}
	if err := p.writeBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var still int
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT count(*) FROM screend.images WHERE claimed_by IS NOT NULL`).Scan(&still); err != nil {
		t.Fatal(err)
	}
	if still != 0 {
		t.Errorf("%d of 2 retried images still claimed", still)
	}
}

// TestWriterGathersBatches: the writer adds what arrives to the batch in
// hand until it holds BatchSize images or every image in flight, without
// waiting for more than can come, and otherwise for at most its wait.
func TestWriterGathersBatches(t *testing.T) {
	t.Parallel()
	jobs := func(n int) []*job {
		js := make([]*job, n)
		for i := range js {
			js[i] = &job{}
		}
		return js
	}
	for _, c := range []struct {
		name     string
		inflight int64
		arriving []int // batches waiting on the channel
		closed   bool
		wait     time.Duration
		want     int
	}{
		{name: "every image in flight in hand", inflight: 1, wait: time.Hour, want: 1},
		{name: "the rest of those in flight arrive", inflight: 4, arriving: []int{2, 1}, wait: time.Hour, want: 4},
		{name: "a full batch", inflight: 40, arriving: []int{2, 2, 2, 2, 2}, wait: time.Hour, want: 5},
		{name: "nothing more within the wait", inflight: 40, arriving: []int{2}, wait: 10 * time.Millisecond, want: 3},
		{name: "the stage before stopped", inflight: 40, arriving: []int{1}, closed: true, wait: time.Hour, want: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := &pipeline{cfg: Options{BatchSize: 4}}
			p.inflight.Store(c.inflight)
			in := make(chan []*job, len(c.arriving))
			for _, n := range c.arriving {
				in <- jobs(n)
			}
			if c.closed {
				close(in)
			}
			got := make(chan int)
			go func() { got <- len(p.gather(jobs(1), in, c.wait)) }()
			select {
			case n := <-got:
				if n != c.want {
					t.Errorf("gathered %d images, want %d", n, c.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("still gathering after 30 s (want %d images at once)", c.want)
			}
		})
	}
}
