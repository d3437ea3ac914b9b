package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"screend"

	"screend/cmd/screend/config"
	"screend/scoring/onnxrt"
	"screend/sql"
)

// doctor is `screend doctor [--json]`: runChecks, printed.
func doctor(ctx context.Context, e env, args []string) error {
	var asJSON bool
	if _, err := flags("doctor", e, args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") }); err != nil {
		return err
	}
	checks := runChecks(ctx, e.cfg)
	failed := 0
	for _, c := range checks {
		if !c.OK {
			failed++
		}
	}
	if asJSON {
		if err := writeJSON(e.stdout, checks); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(e.stdout, "%s %-20s %s\n", mark, c.Name, c.Detail)
			if c.Fix != "" {
				fmt.Fprintf(e.stdout, "     %-20s fix: %s\n", "", c.Fix)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(checks))
	}
	return nil
}

// check is the result of one `screend doctor` check.
type check struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Detail says what was found; Fix, for a failed check, what to do.
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// runChecks checks the set-up: database, pgvector, schema, ONNX Runtime,
// embedder model, inbox folders and inotify limits. It changes nothing.
func runChecks(ctx context.Context, cfg config.Config) []check {
	var checks []check
	add := func(name string, err error, detail, fix string) {
		c := check{Name: name, OK: err == nil, Detail: detail}
		if err != nil {
			c.Detail, c.Fix = err.Error(), fix
		}
		checks = append(checks, c)
	}

	dbCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := sql.Open(dbCtx, cfg.DatabaseURL)
	add("database", err, "reachable at "+config.RedactURL(cfg.DatabaseURL),
		"start PostgreSQL and check SCREEND_DATABASE_URL (scripts/setup.sh sets up a local one)")
	if err == nil {
		defer db.Close()
		available, installed, err := db.VectorExtension(dbCtx)
		switch {
		case err != nil:
		case !available:
			err = fmt.Errorf("the pgvector extension is not installed on the server")
		case !installed:
			err = fmt.Errorf("pgvector is available but not created in this database")
		}
		add("pgvector", err, "extension vector is installed",
			"run scripts/setup.sh, or as a superuser: CREATE EXTENSION vector")
		pending, err := db.Pending(dbCtx)
		if err == nil && len(pending) > 0 {
			err = fmt.Errorf("%d migrations pending (from %03d_%s)", len(pending), pending[0].Version, pending[0].Name)
		}
		add("schema", err, "all migrations applied", "run `screend migrate` (screend run also applies them)")
	}

	version, err := onnxrt.Init(cfg.ONNXRuntimeLib)
	add("onnxruntime", err, fmt.Sprintf("%s loaded, version %s", cfg.ONNXRuntimeLib, version),
		"run scripts/setup.sh or set SCREEND_ONNXRUNTIME_LIB to libonnxruntime.so 1.24.x")
	if err == nil && !strings.HasPrefix(version, "1.24.") {
		add("onnxruntime version", fmt.Errorf("version %s; onnxruntime_go v1.27.0 needs 1.24.x", version), "",
			"install ONNX Runtime 1.24.x (scripts/setup.sh does)")
	}

	if cfg.Embedder != "builtin" {
		_, err := os.Stat(cfg.Embedder)
		if err == nil {
			_, err = os.Stat(filepath.Join(filepath.Dir(cfg.Embedder), "preprocessor_config.json"))
		}
		add("embedder model", err, cfg.Embedder+" and its preprocessor_config.json exist",
			"set SCREEND_EMBEDDER to builtin or to an ONNX image encoder with preprocessor_config.json beside it")
	}

	folders := 0
	for _, root := range cfg.Inbox {
		real, err := filepath.EvalSymlinks(root)
		if err == nil {
			err = checkWritable(real)
		}
		n := 0
		if err == nil {
			n = countFolders(real)
			folders += n
		}
		add("inbox "+root, err, fmt.Sprintf("exists and is writable; watching %s (%d folders)", real, n),
			"create the folder and give the screend user write access (files are moved inside it)")
	}
	limit, err := readInt("/proc/sys/fs/inotify/max_user_watches")
	if err == nil && folders > limit*9/10 {
		err = fmt.Errorf("%d folders to watch, limit %d", folders, limit)
	}
	add("inotify watches", err, fmt.Sprintf("%d folders to watch, limit %d", folders, limit),
		"raise fs.inotify.max_user_watches (sysctl); the periodic scan still finds files meanwhile")
	return checks
}

func checkWritable(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	f, err := os.CreateTemp(dir, screend.TempPrefix+"doctor-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func countFolders(root string) int {
	n := 0
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if path != root && screend.Ignored(d.Name()) {
				return filepath.SkipDir
			}
			n++
		}
		return nil
	})
	return n
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
