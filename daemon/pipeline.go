package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"screend"

	"screend/scoring/embed"
	"screend/scoring/imagefile"
	"screend/sql"
)

// pipeline embeds recorded images: claim, then decode and preprocess on a
// pool of workers, then batched inference, then batched writes. Every stage
// is joined to the next by a small channel, so memory stays bounded however
// many files wait; the state of every image lives in the database, so work
// interrupted at any point is claimed again and done once.
type pipeline struct {
	cfg        Options
	db         *sql.DB
	log        *slog.Logger
	metrics    *Metrics
	embedder   embed.Embedder
	embedderID int32
	instance   func() int32
	moves      *mover
	// processed is called with the projects whose images were processed.
	processed func(projects []int64)
	wake      waker
}

// claimPoll is how often an idle pipeline looks for work other instances
// recorded or released.
const claimPoll = 2 * time.Second

// job is one claimed image on its way through the pipeline.
type job struct {
	img     sql.ClaimedImage
	claimer int32
	start   time.Time

	// Set by the decode stage: exactly one of input, duplicateOf, failure
	// (or gone, or retry) describes the outcome.
	sha         []byte
	info        imagefile.Info
	input       []float32
	duplicateOf int64
	failure     string // quarantine reason
	gone        bool   // the file vanished
	retry       bool   // the file changed after it was recorded
	vector      []float32
}

// Run processes images until ctx ends, then finishes what it claimed.
func (p *pipeline) Run(ctx context.Context) error {
	jobs := make(chan *job, p.cfg.BatchSize)
	decoded := make(chan *job, p.cfg.BatchSize)
	embedded := make(chan []*job, 2)

	// Stages after the claimer run on a context that outlives ctx, so work
	// already claimed is finished at shutdown.
	drain := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Go(func() {
		defer close(jobs)
		errs <- p.claim(ctx, jobs)
	})
	var workers sync.WaitGroup
	for range p.cfg.DecodeWorkers {
		workers.Go(func() {
			for j := range jobs {
				p.decode(drain, j)
				decoded <- j
			}
		})
	}
	wg.Go(func() {
		workers.Wait()
		close(decoded)
	})
	wg.Go(func() {
		defer close(embedded)
		errs <- p.infer(drain, decoded, embedded)
	})
	wg.Go(func() {
		errs <- p.write(drain, embedded)
	})
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// claim claims batches of waiting images and hands them to the workers.
func (p *pipeline) claim(ctx context.Context, jobs chan<- *job) error {
	p.wake.run(ctx, claimPoll, func() bool {
		me := p.instance()
		claimed, err := p.db.ClaimImages(ctx, me, p.cfg.BatchSize)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Error("claim images", "err", err)
			}
			return false
		}
		for _, c := range claimed {
			jobs <- &job{img: c, claimer: me, start: time.Now()}
		}
		return len(claimed) > 0
	})
	return nil
}

// decode reads, hashes, decodes and preprocesses one image, recording in
// the job what became of it.
func (p *pipeline) decode(ctx context.Context, j *job) {
	start := time.Now()
	defer func() { p.metrics.StageSeconds.WithLabelValues("decode").Observe(time.Since(start).Seconds()) }()
	info, err := os.Lstat(j.img.Path)
	if errors.Is(err, fs.ErrNotExist) {
		j.gone = true
		return
	}
	if err == nil && (info.Size() != j.img.Size || !mtime(info).Equal(j.img.MTime)) {
		j.retry = true
		return
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(j.img.Path)
	}
	if err != nil {
		j.failure = "unreadable: " + err.Error()
		return
	}
	sum := sha256.Sum256(data)
	j.sha = sum[:]
	if orig, ok, err := p.db.FindContent(ctx, j.img.ProjectID, j.sha, j.img.ID); err == nil && ok {
		j.duplicateOf = orig
		return
	}
	img, imgInfo, err := imagefile.DecodeBytes(data, p.cfg.MaxPixels)
	if err != nil {
		// A file that changed while it was read was still being written:
		// look at it again later rather than quarantine it.
		if st, serr := os.Lstat(j.img.Path); serr == nil && (st.Size() != j.img.Size || !mtime(st).Equal(j.img.MTime)) {
			j.retry = true
			return
		}
		j.failure = imagefile.Reason(err) + ": " + err.Error()
		return
	}
	j.info = imgInfo
	j.input, err = p.embedder.Preprocess(img)
	imagefile.Recycle(img) // the embedder keeps no reference to it
	if err != nil {
		j.failure = "preprocess: " + err.Error()
	}
}

// infer runs batched inference on decoded images. A batch is sent as soon
// as it is full or no more decoded images are waiting.
func (p *pipeline) infer(ctx context.Context, in <-chan *job, out chan<- []*job) error {
	for {
		j, ok := <-in
		if !ok {
			return nil
		}
		batch := []*job{j}
	fill:
		for len(batch) < p.cfg.BatchSize {
			select {
			case j, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		var inputs [][]float32
		var ready []*job
		for _, j := range batch {
			if j.input != nil {
				inputs = append(inputs, j.input)
				ready = append(ready, j)
			}
		}
		if len(inputs) > 0 {
			start := time.Now()
			vectors, err := p.embedder.Embed(ctx, inputs)
			if err != nil {
				// An inference failure is the model's or the machine's, not
				// the file's: the images stay claimed and are retried after
				// a restart; the daemon stops with the error.
				return fmt.Errorf("embed batch: %w", err)
			}
			p.metrics.BatchSize.Observe(float64(len(inputs)))
			per := time.Since(start).Seconds() / float64(len(inputs))
			for i, j := range ready {
				j.vector = vectors[i]
				j.input = nil
				p.metrics.StageSeconds.WithLabelValues("embed").Observe(per)
			}
		}
		out <- batch
	}
}

// write stores the outcome of each batch: embeddings with one COPY,
// duplicates, and quarantines (journaled moves into __quarantine). A batch
// that cannot be stored (the database restarting, say) is released to be
// processed again; if even that fails, the claims lapse when the instance
// re-registers.
func (p *pipeline) write(ctx context.Context, in <-chan []*job) error {
	for batch := range in {
		// Whatever else is ready goes into the same transaction.
		for more := true; more && len(batch) < p.cfg.BatchSize; {
			select {
			case next, ok := <-in:
				if !ok {
					more = false
					break
				}
				batch = append(batch, next...)
			default:
				more = false
			}
		}
		err := p.writeBatch(ctx, batch)
		if err == nil {
			continue
		}
		p.log.Error("store batch; it will be processed again", "images", len(batch), "err", err)
		byClaimer := map[int32][]int64{}
		for _, j := range batch {
			byClaimer[j.claimer] = append(byClaimer[j.claimer], j.img.ID)
		}
		for claimer, ids := range byClaimer {
			if err := p.db.ReleaseImages(ctx, claimer, ids, claimPoll); err != nil {
				p.log.Error("release batch", "err", err)
			}
		}
	}
	return nil
}

func (p *pipeline) writeBatch(ctx context.Context, batch []*job) error {
	start := time.Now()
	byClaimer := map[int32][]sql.Embedded{}
	var release []*job
	projects := map[int64]bool{}
	for _, j := range batch {
		switch {
		case j.vector != nil:
			byClaimer[j.claimer] = append(byClaimer[j.claimer], sql.Embedded{
				ID: j.img.ID, ProjectID: j.img.ProjectID, SHA256: j.sha, Format: string(j.info.Format),
				Width: j.info.Width, Height: j.info.Height, Vector: j.vector,
			})
		case j.retry:
			release = append(release, j)
		case j.gone:
			if err := p.db.MarkGone(ctx, j.claimer, j.img.ID); err != nil {
				return err
			}
			p.log.Warn("file vanished before it was processed", "path", j.img.Path)
		case j.duplicateOf != 0:
			if err := p.db.MarkDuplicate(ctx, j.claimer, j.img.ID, j.duplicateOf, j.sha); err != nil {
				return err
			}
			p.metrics.FilesDuplicate.Inc()
		default:
			if err := p.quarantine(ctx, j); err != nil {
				return err
			}
		}
		projects[j.img.ProjectID] = true
	}
	for claimer, items := range byClaimer {
		n, dups, err := p.db.StoreEmbeddings(ctx, claimer, p.embedderID, items)
		if err != nil {
			return err
		}
		p.metrics.FilesEmbedded.Add(float64(n))
		p.metrics.FilesDuplicate.Add(float64(dups))
	}
	if len(release) > 0 {
		ids := make([]int64, len(release))
		for i, j := range release {
			ids[i] = j.img.ID
		}
		if err := p.db.ReleaseImages(ctx, release[0].claimer, ids, p.cfg.StableFor+time.Second); err != nil {
			return err
		}
	}
	done := time.Now()
	for _, j := range batch {
		p.metrics.StageSeconds.WithLabelValues("total").Observe(done.Sub(j.start).Seconds())
	}
	p.metrics.StageSeconds.WithLabelValues("write").Observe(done.Sub(start).Seconds() / float64(len(batch)))
	touched := make([]int64, 0, len(projects))
	for id := range projects {
		touched = append(touched, id)
	}
	p.processed(touched)
	return nil
}

// quarantine moves a file that is not a valid image into its project's
// __quarantine folder, recording the reason first.
func (p *pipeline) quarantine(ctx context.Context, j *job) error {
	dst, err := quarantinePath(p.cfg.Inbox, j.img.Path)
	if err != nil {
		return err
	}
	mv, err := p.db.QuarantineImage(ctx, j.claimer, j.img.ID, j.failure, j.img.Path, dst)
	if err != nil {
		return err
	}
	reason, _, _ := strings.Cut(j.failure, ":")
	p.metrics.FilesQuarantined.WithLabelValues(reason).Inc()
	p.log.Warn("quarantined", "path", j.img.Path, "reason", j.failure)
	_, err = p.moves.Do(ctx, mv)
	return err
}

// quarantinePath is where a file of a project goes when it is quarantined:
// <project>/__quarantine/<its path inside the project>, on a free name.
func quarantinePath(roots []string, path string) (string, error) {
	root, rel, ok := inboxPath(roots, path)
	project, inside, inProject := strings.Cut(rel, string(filepath.Separator))
	if !ok || !inProject {
		return "", fmt.Errorf("%s is in no project of the inbox", path)
	}
	return freeName(filepath.Join(root, project, screend.FolderQuarantine, inside))
}
