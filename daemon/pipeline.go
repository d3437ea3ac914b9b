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
	"sync/atomic"
	"syscall"
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
	// budget is the decode memory (DecodeMemoryMB) the workers share with
	// thumbnails and crops.
	budget *imagefile.Budget
	// inflight counts the images claimed and not yet handed to writeBatch,
	// so that the writer knows whether more are on their way.
	inflight atomic.Int64
}

// claimPoll is how often an idle pipeline looks for work other instances
// recorded or released.
const claimPoll = 2 * time.Second

// gatherFor is how long the writer and the decode counter wait for more
// images before they write what they hold, unless they hold BatchSize
// images or (the writer) every image in flight. In a burst each
// transaction then carries about BatchSize images instead of one or two:
// PostgreSQL's CPU per statement and per commit is paid once per batch.
const gatherFor = 250 * time.Millisecond

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
	gone        bool   // the file vanished or was replaced (reason says how)
	unseen      bool   // the file cannot be seen now (reason says why)
	reason      string
	retry       bool // the file changed after it was recorded
	vector      []float32
}

// Run processes images until ctx ends, then finishes what it claimed
// within DrainTimeout. It stops with an error when inference fails.
func (p *pipeline) Run(ctx context.Context) error {
	jobs := make(chan *job, p.cfg.BatchSize)
	decoded := make(chan *job, p.cfg.BatchSize)
	// Images whose decode finished, to be counted as such (EndDecode).
	ended := make(chan int64, 4*p.cfg.BatchSize)
	embedded := make(chan []*job, 2)

	// Stages after the claimer run on a context that outlives ctx by up to
	// DrainTimeout, so work already claimed is finished at shutdown; what
	// is left then stays claimed and is taken over at the next start.
	drain, stopDrain := drainContext(ctx, p.cfg.DrainTimeout, p.log, "claimed images")
	defer stopDrain()
	// The claimer stops when ctx ends, or when inference failed.
	claimCtx, stopClaim := context.WithCancel(ctx)
	defer stopClaim()
	var wg sync.WaitGroup
	errs := make(chan error, 2+embed.Lanes(p.embedder))
	wg.Go(func() {
		defer close(jobs)
		errs <- p.claim(claimCtx, jobs)
	})
	var workers sync.WaitGroup
	for range p.cfg.DecodeWorkers {
		workers.Go(func() {
			for j := range jobs {
				if p.decode(drain, j) {
					ended <- j.img.ID
				}
				decoded <- j
			}
		})
	}
	wg.Go(func() {
		workers.Wait()
		close(decoded)
		close(ended)
	})
	wg.Go(func() {
		p.endDecodes(drain, ended)
	})
	// As many batches are embedded at once as the embedder has lanes (an
	// ONNX encoder runs them side by side on one session).
	var lanes sync.WaitGroup
	for range embed.Lanes(p.embedder) {
		lanes.Go(func() {
			errs <- p.infer(drain, decoded, embedded)
			// After a failure, the workers finish what was claimed and
			// their output is dropped: the images stay claimed.
			stopClaim()
			for range decoded {
			}
		})
	}
	wg.Go(func() {
		lanes.Wait()
		close(embedded)
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
		p.inflight.Add(int64(len(claimed)))
		for _, c := range claimed {
			jobs <- &job{img: c, claimer: me, start: time.Now()}
		}
		return len(claimed) > 0
	})
	return nil
}

// reasonCrashedDecoder is the quarantine reason of a file that was being
// decoded every time an instance died.
const reasonCrashedDecoder = "crashed_decoder"

// maxDecodes is how many decodes of one file may begin without an outcome
// (the instance died each time) before it is quarantined as crashed_decoder.
const maxDecodes = 3

// decode reads, hashes, decodes and preprocesses one image, recording in
// the job what became of it, and tells whether it finished a decode that
// was counted as begun (sql.BeginDecode) and is not counted as ended yet.
// The file is read as imagefile.ReadFile reads every image: the header
// checked through a bounded reader before the file is read whole, and the
// memory a decode takes (file, pixels and the decoder's buffers) taken
// first from the budget the workers share with thumbnails and crops.
func (p *pipeline) decode(ctx context.Context, j *job) bool {
	start := time.Now()
	defer func() { p.metrics.StageSeconds.WithLabelValues("decode").Observe(time.Since(start).Seconds()) }()
	if j.img.Decodes >= maxDecodes {
		j.failure = fmt.Sprintf("%s: %d decodes of this file began and none finished", reasonCrashedDecoder, j.img.Decodes)
		return false
	}
	info, err := os.Lstat(j.img.Path)
	switch verdict, why := p.look(j.img.Path, info, err); verdict {
	case fileGone:
		j.gone, j.reason = true, why
		return false
	case fileUnseen:
		j.unseen, j.reason = true, why
		return false
	}
	if info.Size() != j.img.Size || !mtime(info).Equal(j.img.MTime) {
		j.retry = true
		return false
	}
	file, err := imagefile.ReadFile(ctx, j.img.Path, p.cfg.MaxPixels, p.budget)
	if err != nil {
		if p.vanished(j) || p.changed(j) {
			return false
		}
		j.failure = failure(err)
		return false
	}
	defer file.Close()
	sum := sha256.Sum256(file.Data)
	j.sha = sum[:]
	orig, _, err := p.db.BeginDecode(ctx, j.img.ID, j.img.ProjectID, j.sha)
	if err != nil || orig != 0 {
		if err != nil {
			j.unseen, j.reason = true, err.Error()
		}
		j.duplicateOf = orig
		return false
	}
	img, imgInfo, err := file.Decode()
	if err != nil {
		// A file that changed while it was read was still being written:
		// look at it again later rather than quarantine it.
		if p.vanished(j) || p.changed(j) {
			return false
		}
		j.failure = failure(err)
		return false
	}
	j.info = imgInfo
	j.input, err = p.embedder.Preprocess(img)
	imagefile.Recycle(img) // the embedder keeps no reference to it
	if err != nil {
		j.failure = "preprocess: " + err.Error()
		return false
	}
	// The decode finished: a daemon that dies before the batch is stored
	// must not count it towards crashed_decoder (endDecodes records it).
	return true
}

// endDecodes counts the decodes of the images it receives as finished,
// off the decode workers' path, in one statement per batch: it gathers
// ids for up to gatherFor (or BatchSize ids) first. A daemon that dies in
// that time counts those decodes as unfinished, as if it had died while
// decoding; storing an image's outcome ends its decode too.
func (p *pipeline) endDecodes(ctx context.Context, ended <-chan int64) {
	for id := range ended {
		ids := []int64{id}
		receiveFor(ended, gatherFor, func() bool { return len(ids) >= p.cfg.BatchSize },
			func(id int64) { ids = append(ids, id) })
		if err := p.db.EndDecode(ctx, ids); err != nil && ctx.Err() == nil {
			p.log.Warn("end decode", "images", len(ids), "err", err)
		}
	}
}

// failure is the quarantine reason of a decode error: its kind, a colon,
// what happened.
func failure(err error) string {
	if errors.Is(err, imagefile.ErrUnreadable) {
		return err.Error()
	}
	return imagefile.Reason(err) + ": " + err.Error()
}

// changed tells whether a job's file is no longer the one recorded, and
// marks the job to be retried if so.
func (p *pipeline) changed(j *job) bool {
	st, err := os.Lstat(j.img.Path)
	j.retry = err == nil && (st.Size() != j.img.Size || !mtime(st).Equal(j.img.MTime))
	return j.retry
}

// vanished tells whether a job's file went away (or out of sight) while it
// was read, and records in the job what became of it if so: a file removed
// while it was read is gone, not broken.
func (p *pipeline) vanished(j *job) bool {
	info, err := os.Lstat(j.img.Path)
	switch verdict, why := p.look(j.img.Path, info, err); verdict {
	case fileGone:
		j.gone, j.reason = true, why
	case fileUnseen:
		j.unseen, j.reason = true, why
	default:
		return false
	}
	return true
}

// look decides, from Lstat of a recorded file, whether it can be
// processed: see lookAt.
func (p *pipeline) look(path string, info fs.FileInfo, err error) (fileVerdict, string) {
	if err == nil {
		return lookAt(info, nil, nil, true)
	}
	root, rel, _ := inboxPath(p.cfg.Inbox, path)
	project, _, _ := strings.Cut(rel, string(filepath.Separator))
	_, projectErr := os.Stat(filepath.Join(root, project))
	rootUsed := false
	if d, err := os.Open(root); err == nil {
		names, _ := d.Readdirnames(1)
		rootUsed = len(names) > 0
		d.Close()
	}
	return lookAt(info, err, projectErr, rootUsed)
}

// fileVerdict is what became of a recorded file.
type fileVerdict int

const (
	// fileThere: a regular file, to be processed.
	fileThere fileVerdict = iota
	// fileGone: really absent, or something other than a file took its
	// place; recorded with the reason, taken again if it comes back.
	fileGone
	// fileUnseen: this instance cannot see it now (a project folder
	// missing from an empty root, as on an unmounted share; permission
	// denied; an I/O error); tried again later.
	fileUnseen
)

// lookAt is the rule for a recorded file: fileErr and info are Lstat's;
// projectErr is Stat's of its project folder; rootUsed tells that its root
// lists at least one entry (so it is mounted). A file is gone only when
// the file system says so with the project folder there, or with the
// project folder removed from a root that is in use.
func lookAt(info fs.FileInfo, fileErr, projectErr error, rootUsed bool) (fileVerdict, string) {
	switch {
	case fileErr == nil && info.Mode().IsRegular():
		return fileThere, ""
	case fileErr == nil:
		return fileGone, "replaced by " + fileKind(info.Mode())
	case !errors.Is(fileErr, fs.ErrNotExist) && !errors.Is(fileErr, syscall.ENOTDIR):
		return fileUnseen, "cannot see the file: " + fileErr.Error()
	case projectErr == nil:
		return fileGone, "file vanished before processing"
	case errors.Is(projectErr, fs.ErrNotExist) && rootUsed:
		return fileGone, "project folder removed before processing"
	default:
		return fileUnseen, "project folder not there (an unmounted share?)"
	}
}

// fileKind names what a path that is not a regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "something other than a file"
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
			if err != nil && ctx.Err() != nil {
				return nil // the drain timed out: the images stay claimed
			}
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
// duplicates, and quarantines (journaled moves into __quarantine). It
// gathers up to BatchSize images per transaction, waiting up to gatherFor for
// more unless every image in flight is in hand. A batch that cannot be
// stored (the database restarting, say) is released to be processed
// again; if even that fails, the claims lapse when the instance
// re-registers.
func (p *pipeline) write(ctx context.Context, in <-chan []*job) error {
	for batch := range in {
		if ctx.Err() != nil {
			p.inflight.Add(-int64(len(batch)))
			continue // the drain timed out: the images stay claimed
		}
		batch = p.gather(batch, in, gatherFor)
		err := p.writeBatch(ctx, batch)
		p.inflight.Add(-int64(len(batch)))
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

// gather adds to batch what arrives on in until it holds BatchSize images
// or every image in flight, wait has passed, or in is closed.
func (p *pipeline) gather(batch []*job, in <-chan []*job, wait time.Duration) []*job {
	receiveFor(in, wait, func() bool { return len(batch) >= p.cfg.BatchSize || int64(len(batch)) >= p.inflight.Load() },
		func(next []*job) { batch = append(batch, next...) })
	return batch
}

// receiveFor hands what arrives on in to add until full reports true,
// wait has passed, or in is closed.
func receiveFor[T any](in <-chan T, wait time.Duration, full func() bool, add func(T)) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for !full() {
		select {
		case v, ok := <-in:
			if !ok {
				return
			}
			add(v)
		case <-timer.C:
			return
		}
	}
}

func (p *pipeline) writeBatch(ctx context.Context, batch []*job) error {
	start := time.Now()
	byClaimer := map[int32][]sql.Embedded{}
	release := map[int32][]int64{} // by claimer: an instance that re-registered has two
	projects := map[int64]bool{}
	for _, j := range batch {
		switch {
		case j.vector != nil:
			byClaimer[j.claimer] = append(byClaimer[j.claimer], sql.Embedded{
				ID: j.img.ID, ProjectID: j.img.ProjectID, SHA256: j.sha, Format: string(j.info.Format),
				Width: j.info.Width, Height: j.info.Height, Vector: j.vector,
			})
		case j.retry:
			release[j.claimer] = append(release[j.claimer], j.img.ID)
		case j.gone:
			if err := p.db.MarkGone(ctx, j.claimer, j.img.ID, j.reason); err != nil {
				return err
			}
			p.log.Warn("file gone before it was processed", "path", sql.ReadablePath(j.img.Path), "reason", j.reason)
		case j.unseen:
			// Tried again after a scan interval, when the watcher has looked
			// at the folders again too.
			if err := p.db.DeferImage(ctx, j.claimer, j.img.ID, j.reason, p.cfg.ScanInterval); err != nil {
				return err
			}
			p.log.Warn("cannot see a recorded file; trying again later", "path", sql.ReadablePath(j.img.Path),
				"reason", j.reason, "retry_in", p.cfg.ScanInterval)
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
	for claimer, ids := range release {
		if err := p.db.ReleaseImages(ctx, claimer, ids, p.cfg.StableFor+time.Second); err != nil {
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
	p.log.Warn("quarantined", "path", sql.ReadablePath(j.img.Path), "reason", j.failure)
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
