package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"screend/sql/sqltest"
)

func TestDoctorNamesWhatIsMissing(t *testing.T) {
	t.Setenv("SCREEND_DATABASE_URL", "postgres://nobody:x@127.0.0.1:1/none?connect_timeout=2")
	t.Setenv("SCREEND_ONNXRUNTIME_LIB", "/nonexistent/libonnxruntime.so")
	t.Setenv("SCREEND_INBOX", "/nonexistent/inbox")
	t.Setenv("SCREEND_EMBEDDER", "/nonexistent/encoder.onnx")
	code, out, _ := runCLI(t, "doctor", "--json")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	failed := doctorFailures(t, out)
	for _, name := range []string{"database", "onnxruntime", "embedder model", "inbox /nonexistent/inbox"} {
		if !failed[name] {
			t.Errorf("doctor does not report %q as failed: %s", name, out)
		}
	}
}

func TestDoctorPassesOnTheSetUpMachine(t *testing.T) {
	inbox := t.TempDir()
	if err := os.MkdirAll(filepath.Join(inbox, "p", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCREEND_DATABASE_URL", sqltest.URL(t))
	t.Setenv("SCREEND_INBOX", inbox)
	code, out, errOut := runCLI(t, "doctor", "--json")
	if code != 0 || len(doctorFailures(t, out)) != 0 {
		t.Errorf("exit %d (%s): %s", code, errOut, out)
	}
}

// Item 12 of issue 10: doctor names the folder a symlinked root resolves to.
func TestDoctorNamesTheWatchedFolder(t *testing.T) {
	real := t.TempDir()
	inbox := filepath.Join(t.TempDir(), "inbox")
	if err := os.Symlink(real, inbox); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCREEND_DATABASE_URL", sqltest.URL(t))
	t.Setenv("SCREEND_INBOX", inbox)
	_, out, _ := runCLI(t, "doctor", "--json")
	var checks []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(out), &checks); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	for _, c := range checks {
		if c.Name == "inbox "+inbox {
			if !c.OK || !strings.Contains(c.Detail, "watching "+real) {
				t.Errorf("doctor: %+v, want it to say it watches %s", c, real)
			}
			return
		}
	}
	t.Errorf("doctor has no check of inbox %s: %s", inbox, out)
}

func doctorFailures(t *testing.T, out string) map[string]bool {
	t.Helper()
	var checks []struct {
		Name string `json:"name"`
		OK   bool   `json:"ok"`
	}
	if err := json.Unmarshal([]byte(out), &checks); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	failed := map[string]bool{}
	for _, c := range checks {
		if !c.OK {
			failed[c.Name] = true
		}
	}
	return failed
}
