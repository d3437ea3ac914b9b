package reviewpage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"screend/cmd/screend/config"

	"screend/daemon/reviewpage"
	"screend/sql"
	"screend/sql/sqltest"
)

// fixture is a database with one project and two flagged groups of two
// real image files each, and an image recorded outside any group.
type fixture struct {
	db       *sql.DB
	groups   []int64
	images   [][]int64
	loose    int64
	dir      string
	imageRaw []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{db: sqltest.New(t), dir: t.TempDir()}
	project, err := f.db.EnsureProject(ctx, f.dir, "p")
	must(t, err)
	f.imageRaw, err = os.ReadFile("testdata/tiny.png")
	must(t, err)
	add := func(name string) int64 {
		path := filepath.Join(f.dir, "p", name)
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, f.imageRaw, 0o644))
		var id int64
		must(t, sqltest.Pool(f.db).QueryRow(ctx, `
			INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state, format, width, height)
			VALUES ($1, $2, $3, $3, 1, now(), 1, 'embedded', 'png', 4, 4) RETURNING image_id`, project, path, name).Scan(&id))
		return id
	}
	for g := range 2 {
		ids := []int64{add("g" + strconv.Itoa(g) + "_a.png"), add("g" + strconv.Itoa(g) + "_b.png")}
		var group int64
		must(t, sqltest.Pool(f.db).QueryRow(ctx, `
			WITH g AS (INSERT INTO screend.groups (project_id, state, reasons, flagged_at)
				VALUES ($1, 'flagged', '{no_model}', now()) RETURNING group_id)
			INSERT INTO screend.group_images (group_id, image_id, position)
			SELECT g.group_id, u.id, u.n - 1 FROM g, unnest($2::bigint[]) WITH ORDINALITY AS u(id, n)
			RETURNING group_id`, project, ids).Scan(&group))
		f.groups = append(f.groups, group)
		f.images = append(f.images, ids)
	}
	// A recorded image that belongs to no group, pointing at a file the
	// page must never serve.
	must(t, sqltest.Pool(f.db).QueryRow(ctx, `
		INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state)
		VALUES ($1, '/etc/passwd', 'passwd', 'passwd', 1, now(), 1, 'embedded') RETURNING image_id`, project).Scan(&f.loose))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func serve(t *testing.T, db *sql.DB, password string) *httptest.Server {
	t.Helper()
	s, err := reviewpage.New(reviewpage.Config{Listen: "127.0.0.1:0", Password: password, CacheDir: t.TempDir(),
		CacheBytes: 1 << 20, MemoryBytes: 1 << 20, MaxPixels: 1 << 20}, db, slog.New(slog.DiscardHandler))
	must(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// client is a browser-like client: a cookie jar and the page's CSRF token.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
	user string
	pass string
}

func newClient(t *testing.T, base, user, pass string) *client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: base, http: &http.Client{Jar: jar}, user: user, pass: pass}
	res := c.do("GET", "/api/session", nil, nil)
	if res.StatusCode == http.StatusOK {
		var s struct{ CSRF string }
		json.NewDecoder(res.Body).Decode(&s)
		c.csrf = s.CSRF
	}
	res.Body.Close()
	return c
}

func (c *client) do(method, path string, body []byte, header map[string]string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	must(c.t, err)
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	must(c.t, err)
	return res
}

func status(t *testing.T, res *http.Response) (int, string) {
	t.Helper()
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, string(data)
}

// TestOnlyRecordedImagesAreServed asks for images by id and by every path
// trick: only the files of recorded group images come back.
func TestOnlyRecordedImagesAreServed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := serve(t, f.db, "")
	c := newClient(t, srv.URL, "", "")
	id := strconv.FormatInt(f.images[0][0], 10)
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/images/" + id + "/full", 200},
		{"/api/images/" + id + "/thumb", 200},
		{"/api/images/" + id + "/companions", 200},
		{"/api/images/" + strconv.FormatInt(f.loose, 10) + "/full", 404}, // recorded, but in no group
		{"/api/images/" + strconv.FormatInt(f.loose, 10) + "/thumb", 404},
		{"/api/images/999999/full", 404},
		{"/api/images/-1/full", 404},
		{"/api/images/..%2f..%2f..%2fetc%2fpasswd/full", 404},
		{"/api/images/%2fetc%2fpasswd/full", 404},
		{"/api/images/" + id + "/full/../../../../etc/passwd", 404},
		{"/static/../../../../etc/passwd", 404},
		{"/static/..%2f..%2f..%2f..%2fetc%2fpasswd", 404},
		{"/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404},
		{"/etc/passwd", 404},
	} {
		code, body := status(t, c.do("GET", tc.path, nil, nil))
		if strings.Contains(body, "root:") {
			t.Errorf("%s served /etc/passwd", tc.path)
		}
		if code != tc.want && !(tc.want == 404 && code >= 300 && code < 500) {
			t.Errorf("GET %s: %d, want %d", tc.path, code, tc.want)
		}
		if tc.want == 200 && strings.HasSuffix(tc.path, "/full") && body != string(f.imageRaw) {
			t.Errorf("GET %s: not the recorded file", tc.path)
		}
	}
}

// TestCrossSitePostsAreRefused posts decisions the ways another site could
// make a browser post them: each is refused and the group stays as it was;
// the page's own request goes through.
func TestCrossSitePostsAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := serve(t, f.db, "")
	c := newClient(t, srv.URL, "", "")
	other := newClient(t, srv.URL, "", "")
	if c.csrf == "" || c.csrf == other.csrf {
		t.Fatalf("CSRF tokens %q and %q: want one per session", c.csrf, other.csrf)
	}
	body, _ := json.Marshal(map[string]any{"group_id": f.groups[0], "image_id": f.images[0][1]})
	json := "application/json"
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"cross-site fetch", map[string]string{"Content-Type": json, "X-CSRF-Token": c.csrf, "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"other origin without fetch metadata", map[string]string{"Content-Type": json, "X-CSRF-Token": c.csrf, "Origin": "https://evil.example"}},
		{"form post", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": c.csrf}},
		{"no token", map[string]string{"Content-Type": json}},
		{"another session's token", map[string]string{"Content-Type": json, "X-CSRF-Token": other.csrf}},
		{"same-site but not same-origin", map[string]string{"Content-Type": json, "X-CSRF-Token": c.csrf, "Sec-Fetch-Site": "same-site"}},
	} {
		if code, msg := status(t, c.do("POST", "/api/resolve", body, tc.header)); code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", tc.name, code, msg)
		}
		if code, _ := status(t, c.do("POST", "/api/undo", []byte(`{"group_id":1}`), tc.header)); code != http.StatusForbidden {
			t.Errorf("%s on undo: %d, want 403", tc.name, code)
		}
	}
	var state string
	must(t, sqltest.Pool(f.db).QueryRow(context.Background(), `SELECT state FROM screend.groups WHERE group_id = $1`, f.groups[0]).Scan(&state))
	if state != "flagged" {
		t.Fatalf("after refused posts the group is %s", state)
	}
	// The page's own request, and a host name other than loopback refused
	// (DNS rebinding) on a page without a password.
	ok := map[string]string{"Content-Type": json, "X-CSRF-Token": c.csrf, "Sec-Fetch-Site": "same-origin", "Origin": srv.URL}
	if code, msg := status(t, c.do("POST", "/api/resolve", body, ok)); code != http.StatusOK {
		t.Fatalf("the page's own post: %d %s", code, msg)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/queue", nil)
	req.Host = "rebound.example:9465"
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	if code, _ := status(t, res); code != http.StatusForbidden {
		t.Errorf("Host rebound.example: %d, want 403", code)
	}
	// A second post for the decided group is a clear conflict.
	code, msg := status(t, c.do("POST", "/api/resolve", body, ok))
	if code != http.StatusConflict || !strings.Contains(msg, "decided by someone else") {
		t.Errorf("second decision: %d %s, want 409 with a clear message", code, msg)
	}
}

// TestCredentialsAreRequired: off loopback the page does not start without
// a password (nor does the daemon's configuration load); with one, every
// request needs it, and the user name is recorded as the reviewer.
func TestCredentialsAreRequired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := reviewpage.New(reviewpage.Config{Listen: "0.0.0.0:9465", CacheDir: t.TempDir()}, f.db, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("the page starts on 0.0.0.0 without a password")
	}
	_, err := config.Load("", func(k string) (string, bool) {
		v, ok := map[string]string{"SCREEND_REVIEW_LISTEN": "192.0.2.1:9465"}[k]
		return v, ok
	})
	if err == nil || !strings.Contains(err.Error(), "SCREEND_REVIEW_LISTEN") || !strings.Contains(err.Error(), "password") {
		t.Errorf("configuration without a password off loopback: %v", err)
	}
	cfg, err := config.Load("", func(k string) (string, bool) {
		v, ok := map[string]string{"SCREEND_REVIEW_LISTEN": "192.0.2.1:9465", "SCREEND_REVIEW_PASSWORD": "s3cret-pw"}[k]
		return v, ok
	})
	must(t, err)
	for _, kv := range cfg.Settings() {
		if strings.Contains(kv[1], "s3cret-pw") {
			t.Errorf("screend config prints the password: %v", kv)
		}
	}

	srv := serve(t, f.db, "s3cret-pw")
	for _, tc := range []struct{ user, pass string }{{"", ""}, {"alice", "wrong"}, {"", "s3cret-pw"}} {
		c := &client{t: t, base: srv.URL, http: http.DefaultClient, user: tc.user, pass: tc.pass}
		for _, path := range []string{"/", "/api/queue", "/api/images/" + strconv.FormatInt(f.images[0][0], 10) + "/full"} {
			if code, _ := status(t, c.do("GET", path, nil, nil)); code != http.StatusUnauthorized {
				t.Errorf("GET %s as %q/%q: %d, want 401", path, tc.user, tc.pass, code)
			}
		}
	}
	c := newClient(t, srv.URL, "alice", "s3cret-pw")
	body, _ := json.Marshal(map[string]any{"group_id": f.groups[1], "reject": true})
	code, msg := status(t, c.do("POST", "/api/resolve", body, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": c.csrf}))
	if code != http.StatusOK {
		t.Fatalf("resolve with the password: %d %s", code, msg)
	}
	var by string
	must(t, sqltest.Pool(f.db).QueryRow(context.Background(), `SELECT decided_by FROM screend.decisions WHERE group_id = $1`, f.groups[1]).Scan(&by))
	if by != "alice" {
		t.Errorf("decided_by %q, want the signed-in alice", by)
	}
}
