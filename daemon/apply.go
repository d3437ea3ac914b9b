package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"screend"

	"screend/scoring/group"
	"screend/scoring/imagefile"
	"screend/sql"
)

// applier moves the files of decided groups. The moves of a group are
// planned and journaled in the same transaction that marks it applied,
// then carried out; after a crash the journal is finished on the next start.
type applier struct {
	cfg     Options
	db      *sql.DB
	log     *slog.Logger
	metrics *Metrics
	moves   *mover
	wake    waker
}

// applyPoll is how often decided groups are looked for without a wake-up
// (a human resolution also wakes the applier through LISTEN).
const applyPoll = 2 * time.Second

// Run applies decided groups until ctx ends.
func (a *applier) Run(ctx context.Context) error {
	a.wake.run(ctx, applyPoll, func() bool {
		g, moves, found, err := a.db.ApplyNextDecided(ctx, a.cfg.DryRun, a.plan)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Error("apply decision", "err", err)
			}
			return false
		}
		if !found {
			return false
		}
		for _, mv := range moves {
			// Finished even when ctx ends: the moves are journaled, and a
			// half-moved group only makes the next start do the rest.
			if err := a.moves.Do(context.WithoutCancel(ctx), mv); err != nil {
				a.log.Error("record file move", "err", err)
			}
		}
		if !g.Decision.Automatic {
			a.metrics.GroupsResolved.Inc()
		}
		a.log.Info("applied", "group_id", g.ID, "project", g.ProjectName, "outcome", g.Decision.Outcome,
			"decided_by", g.Decision.DecidedBy, "files", len(moves), "dry_run", a.cfg.DryRun)
		return true
	})
	return nil
}

// plan returns the file operations that carry out a group's decision:
// the chosen image (with its companions) to __selected, __crop, or cropped
// into __cropped with its original kept in __originals; everything else to
// __delete_staging. Nothing is planned in a dry run.
func (a *applier) plan(g sql.GroupToApply) ([]sql.Move, error) {
	if a.cfg.DryRun {
		return nil, nil
	}
	reserved := map[string]bool{}
	var moves []sql.Move
	gid := g.ID
	for _, im := range g.Images {
		imageID := im.ID
		companions := companionsOf(im.Path)
		name := filepath.Base(im.Path)
		stem, ext := splitStem(name), filepath.Ext(name)
		exts := []string{ext}
		for _, c := range companions {
			exts = append(exts, companionExt(c, stem))
		}
		chosen := im.ID == g.Decision.ChosenImageID
		if chosen {
			// The group-level <timestamp>.decision of the old tools travels
			// with the chosen image.
			if ts := group.Parse(name).Timestamp; ts != "" {
				if p := filepath.Join(filepath.Dir(im.Path), ts+".decision"); exists(p) {
					moves = append(moves, sql.Move{GroupID: &gid, Kind: screend.MoveFile, Src: p,
						Dst: filepath.Join(g.ProjectDir, targetDir(g.Decision.Outcome), ts+".decision")})
				}
			}
		}
		target := screend.FolderDeleteStaging
		if chosen {
			target = targetDir(g.Decision.Outcome)
		}
		if chosen && g.Decision.Outcome == screend.OutcomeCrop {
			croppedExt := ext
			if strings.EqualFold(ext, ".webp") {
				croppedExt = ".png" // no WebP encoder: the crop is written as PNG
			}
			newStem := freeStem(filepath.Join(g.ProjectDir, screend.FolderCropped), stem, append(exts, croppedExt, ".decision"), reserved)
			sidecar, err := decisionSidecar(g)
			if err != nil {
				return nil, err
			}
			moves = append(moves,
				sql.Move{GroupID: &gid, ImageID: &imageID, Kind: screend.CropFile, Src: im.Path, Dst: newStem + croppedExt, Crop: g.Decision.Crop},
				sql.Move{GroupID: &gid, Kind: screend.WriteSidecar, Dst: newStem + ".decision", Content: sidecar},
			)
			for i, c := range companions {
				moves = append(moves, sql.Move{GroupID: &gid, Kind: screend.MoveFile, Src: c, Dst: newStem + exts[i+1]})
			}
			orig := freeStem(filepath.Join(g.ProjectDir, screend.FolderOriginals), stem, []string{ext}, reserved)
			moves = append(moves, sql.Move{GroupID: &gid, ImageID: &imageID, Kind: screend.MoveFile, Src: im.Path, Dst: orig + ext})
			continue
		}
		newStem := freeStem(filepath.Join(g.ProjectDir, target), stem, exts, reserved)
		moves = append(moves, sql.Move{GroupID: &gid, ImageID: &imageID, Kind: screend.MoveFile, Src: im.Path, Dst: newStem + ext})
		for i, c := range companions {
			moves = append(moves, sql.Move{GroupID: &gid, Kind: screend.MoveFile, Src: c, Dst: newStem + exts[i+1]})
		}
	}
	return moves, nil
}

// targetDir is where the chosen image of an outcome goes.
func targetDir(outcome screend.OutcomeKind) string {
	switch outcome {
	case screend.OutcomeSelect:
		return screend.FolderSelected
	case screend.OutcomeCrop:
		return screend.FolderCropped
	case screend.OutcomeManualCrop:
		return screend.FolderManualCrop
	}
	return screend.FolderDeleteStaging
}

// companionsOf lists the files beside an image that share its stem and are
// not images themselves (.yaml, .caption, .txt, per-image .decision, ...).
func companionsOf(path string) []string {
	dir, name := filepath.Dir(path), filepath.Base(path)
	stem := splitStem(name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if n == name || !e.Type().IsRegular() || !strings.HasPrefix(n, stem+".") || group.IsImage(n) {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	return out
}

// companionExt is what follows the image's stem in a companion's name
// (".yaml", or ".json.bak" for stem.json.bak).
func companionExt(path, stem string) string {
	return strings.TrimPrefix(filepath.Base(path), stem)
}

// decisionSidecar is the .decision JSON written beside a cropped image, in
// the format of the workflow's tools.
func decisionSidecar(g sql.GroupToApply) ([]byte, error) {
	route := "human"
	if g.Decision.Automatic {
		route = "auto"
	}
	box := make([]float64, len(g.Decision.Crop))
	for i, v := range g.Decision.Crop {
		box[i] = math.Round(float64(v)*1e6) / 1e6
	}
	return json.MarshalIndent(map[string]any{
		"group_id":       strconv.FormatInt(g.ID, 10),
		"project_id":     g.ProjectName,
		"needs_crop":     true,
		"ai_route":       route,
		"ai_crop_coords": box,
		"decided_by":     g.Decision.DecidedBy,
		"confidence":     g.Decision.Confidence,
		"model_id":       g.Decision.ModelID,
	}, "", "  ")
}

// cropImage decodes src and returns it cropped to the normalised box,
// encoded as PNG, or as JPEG (quality 95) when src is a JPEG.
func cropImage(maxPixels int64) func(src string, box []float32) ([]byte, error) {
	return func(src string, box []float32) ([]byte, error) {
		if len(box) != 4 {
			return nil, fmt.Errorf("crop box has %d values, want 4", len(box))
		}
		img, info, err := imagefile.Open(src, maxPixels)
		if err != nil {
			return nil, fmt.Errorf("decode %s for cropping: %w", src, err)
		}
		b := img.Bounds()
		w, h := float64(b.Dx()), float64(b.Dy())
		r := image.Rect(
			b.Min.X+int(math.Round(float64(box[0])*w)), b.Min.Y+int(math.Round(float64(box[1])*h)),
			b.Min.X+int(math.Round(float64(box[2])*w)), b.Min.Y+int(math.Round(float64(box[3])*h)),
		).Intersect(b)
		if r.Empty() {
			return nil, fmt.Errorf("crop box %v is empty on a %dx%d image", box, b.Dx(), b.Dy())
		}
		cropper, ok := img.(interface {
			SubImage(image.Rectangle) image.Image
		})
		if !ok {
			return nil, fmt.Errorf("cannot crop a %T", img)
		}
		sub := cropper.SubImage(r)
		var buf bytes.Buffer
		if info.Format == imagefile.FormatJPEG {
			err = jpeg.Encode(&buf, sub, &jpeg.Options{Quality: 95})
		} else {
			err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, sub)
		}
		if err != nil {
			return nil, fmt.Errorf("encode crop of %s: %w", src, err)
		}
		return buf.Bytes(), nil
	}
}
