package reviewpage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"screend"
	"screend/scoring/group"
	"screend/sql"
)

type reviewerKey struct{}

func withReviewer(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, reviewerKey{}, who)
}

// reviewerOf is who makes the request, as the guard authenticated it.
func reviewerOf(ctx context.Context) string {
	who, _ := ctx.Value(reviewerKey{}).(string)
	return who
}

// pageGroup is a group as the page shows it: the review queue's row with
// its images described for the page (the path stays on the server).
type pageGroup struct {
	sql.ReviewItem
	Images []pageImage `json:"images"`
}

type pageImage struct {
	ImageID int64    `json:"image_id"`
	Name    string   `json:"name"`
	Folder  string   `json:"folder"`
	Stage   float64  `json:"stage"`
	Score   *float64 `json:"score"`
	Width   int      `json:"width"`
	Height  int      `json:"height"`
	Bytes   int64    `json:"bytes"`
}

func toPageGroup(it sql.ReviewItem) pageGroup {
	g := pageGroup{ReviewItem: it, Images: []pageImage{}}
	for _, raw := range it.Images {
		var im struct {
			ImageID int64    `json:"image_id"`
			Path    string   `json:"path"`
			Stage   float64  `json:"stage"`
			Score   *float64 `json:"score"`
			Width   *int     `json:"width"`
			Height  *int     `json:"height"`
		}
		if json.Unmarshal(raw, &im) != nil {
			continue
		}
		p := pageImage{ImageID: im.ImageID, Name: filepath.Base(im.Path), Folder: filepath.Base(filepath.Dir(im.Path)),
			Stage: im.Stage, Score: im.Score}
		if im.Width != nil && im.Height != nil {
			p.Width, p.Height = *im.Width, *im.Height
		}
		if info, err := os.Stat(im.Path); err == nil {
			p.Bytes = info.Size()
		}
		g.Images = append(g.Images, p)
	}
	if g.Reasons == nil {
		g.Reasons = []screend.Reason{}
	}
	return g
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		s.log.Error("review page request", "path", r.URL.Path, "err", err)
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "the daemon could not answer: see its log"})
}

func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// session gives the page its reviewer's name and CSRF token.
func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	id := s.guard.session(w, r)
	writeJSON(w, http.StatusOK, map[string]any{"reviewer": reviewerOf(r.Context()), "csrf": s.guard.csrfToken(id)})
}

// queue returns the next groups waiting for review, leaving out those the
// reviewer skipped.
func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	limit = min(max(limit, 1), 20)
	var skip []int64
	for _, f := range strings.Split(r.URL.Query().Get("skip"), ",") {
		if id, err := strconv.ParseInt(f, 10, 64); err == nil {
			skip = append(skip, id)
		}
	}
	items, total, err := s.db.ReviewQueueExcept(r.Context(), limit, skip)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	groups := make([]pageGroup, 0, len(items))
	for _, it := range items {
		groups = append(groups, toPageGroup(it))
	}
	// How far the active model is from deciding each kind alone.
	readiness, err := s.db.ReadReadiness(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": groups, "total": total, "readiness": readiness})
}

// group returns one group if it waits for review.
func (s *Server) group(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	it, found, err := s.db.ReviewGroup(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !found {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("group %d is not waiting for review", id)})
		return
	}
	writeJSON(w, http.StatusOK, toPageGroup(it))
}

// image looks up a recorded image of a group by the request's id.
func (s *Server) image(w http.ResponseWriter, r *http.Request) (sql.ImageFile, bool) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return sql.ImageFile{}, false
	}
	f, found, err := s.db.GroupImage(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return f, false
	}
	if !found {
		http.Error(w, "no such image", http.StatusNotFound)
		return f, false
	}
	return f, true
}

func (s *Server) thumb(w http.ResponseWriter, r *http.Request) {
	f, ok := s.image(w, r)
	if !ok {
		return
	}
	side := thumbLarge
	if r.URL.Query().Get("size") == "small" {
		side = thumbSmall
	}
	data, err := s.thumbs.Get(r.Context(), f.SHA256, f.Path, side)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("thumbnail", "image_id", f.ID, "err", err)
		}
		http.Error(w, "no thumbnail: the file cannot be read", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(data)
}

var contentTypes = map[string]string{"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}

func (s *Server) full(w http.ResponseWriter, r *http.Request) {
	f, ok := s.image(w, r)
	if !ok {
		return
	}
	file, err := os.Open(f.Path)
	if err != nil {
		http.Error(w, "the file is not where it was recorded", http.StatusNotFound)
		return
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil || !info.Mode().IsRegular() {
		http.Error(w, "not a file", http.StatusNotFound)
		return
	}
	ct := contentTypes[strings.ToLower(f.Format)]
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "private, max-age=600")
	http.ServeContent(w, r, "", info.ModTime(), file)
}

// companionMax is the largest companion file the page shows.
const companionMax = 64 << 10

// companions returns the text files beside an image that share its stem
// (.yaml, .caption, ...): the files that move with it.
func (s *Server) companions(w http.ResponseWriter, r *http.Request) {
	f, ok := s.image(w, r)
	if !ok {
		return
	}
	dir, name := filepath.Dir(f.Path), filepath.Base(f.Path)
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	type companion struct {
		Name string `json:"name"`
		Text string `json:"text"`
	}
	out := []companion{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if n == name || !e.Type().IsRegular() || !strings.HasPrefix(n, stem+".") || group.IsImage(n) {
			continue
		}
		file, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(io.LimitReader(file, companionMax+1))
		file.Close()
		text := string(data)
		switch {
		case !utf8.Valid(data):
			text = "(not text)"
		case len(data) > companionMax:
			text = text[:companionMax] + "\n…"
		}
		out = append(out, companion{Name: n, Text: text})
	}
	writeJSON(w, http.StatusOK, out)
}

// resolveRequest is a decision posted by the page.
type resolveRequest struct {
	GroupID    int64     `json:"group_id"`
	ImageID    int64     `json:"image_id"`
	Crop       []float32 `json:"crop"`
	ManualCrop bool      `json:"manual_crop"`
	// FreeAspect allows a crop box of another aspect ratio than the image's.
	FreeAspect bool `json:"free_aspect"`
	Reject     bool `json:"reject"`
}

func (s *Server) resolve(w http.ResponseWriter, r *http.Request) {
	var req resolveRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.GroupID <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request"})
		return
	}
	if req.Reject == (req.ImageID != 0) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "choose an image or reject the group"})
		return
	}
	who := reviewerOf(r.Context())
	var id int64
	var err error
	if req.Reject {
		id, err = s.db.Reject(r.Context(), req.GroupID, who)
	} else {
		id, err = s.db.Resolve(r.Context(), sql.Resolution{GroupID: req.GroupID, ChosenImageID: req.ImageID,
			Crop: req.Crop, ManualCrop: req.ManualCrop, FreeAspect: req.FreeAspect, Reviewer: who})
	}
	if errors.Is(err, sql.ErrBadResolution) {
		if _, waiting, lerr := s.db.ReviewGroup(r.Context(), req.GroupID); lerr == nil && !waiting {
			writeJSON(w, http.StatusConflict, map[string]any{"conflict": true,
				"error": fmt.Sprintf("Group %d was decided by someone else a moment ago; your choice was not recorded.", req.GroupID)})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": strings.TrimPrefix(err.Error(), sql.ErrBadResolution.Error()+": ")})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("resolved on the review page", "group_id", req.GroupID, "decision_id", id, "reviewer", who)
	writeJSON(w, http.StatusOK, map[string]any{"decision_id": id})
}

func (s *Server) undo(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GroupID int64 `json:"group_id"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&req); err != nil || req.GroupID <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request"})
		return
	}
	who := reviewerOf(r.Context())
	id, err := s.db.TakeBack(r.Context(), req.GroupID, who)
	if errors.Is(err, sql.ErrBadTakeBack) {
		writeJSON(w, http.StatusConflict, map[string]string{"error": strings.TrimPrefix(err.Error(), sql.ErrBadTakeBack.Error()+": ")})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("taken back on the review page", "group_id", req.GroupID, "take_back_id", id, "reviewer", who)
	st, err := s.db.ReadTakeBack(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, takeBackJSON(st))
}

func takeBackJSON(st sql.TakeBackStatus) map[string]any {
	if st.Report == nil {
		st.Report = []sql.TakeBackNote{}
	}
	return map[string]any{"take_back_id": st.ID, "group_id": st.GroupID, "state": st.State, "left": st.Report}
}

// takeBack returns the state of a take-back, which the page polls.
func (s *Server) takeBack(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	st, err := s.db.ReadTakeBack(r.Context(), id)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, takeBackJSON(st))
}

// history returns decided groups, filtered by the query's project, kind,
// who (auto, human), min and max confidence, model and before (paging).
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := sql.HistoryFilter{Project: q.Get("project"), Outcome: q.Get("kind"), Automatic: q.Get("who"), Limit: 60}
	parse := func(name string) *float64 {
		if v, err := strconv.ParseFloat(q.Get(name), 64); err == nil {
			return &v
		}
		return nil
	}
	f.MinConfidence, f.MaxConfidence = parse("min_confidence"), parse("max_confidence")
	f.ModelID, _ = strconv.ParseInt(q.Get("model"), 10, 64)
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	items, err := s.db.History(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	projects, models, err := s.db.HistoryChoices(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if items == nil {
		items = []sql.HistoryItem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": items, "projects": projects, "models": models})
}
