package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestDefaultIsLoadWithNothingSet: the defaults the tests and the daemon
// start from are what Load gives with no file and no environment, and they
// are valid.
func TestDefaultIsLoadWithNothingSet(t *testing.T) {
	if _, err := os.Stat(DefaultConfigFile); err == nil {
		t.Skipf("%s exists on this machine and Load would read it", DefaultConfigFile)
	}
	loaded, err := Load("", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if d := Default(); !reflect.DeepEqual(d, loaded) {
		t.Errorf("Default() = %+v\nLoad = %+v", d, loaded)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("the defaults are not valid: %v", err)
	}
}

func TestEmbedderViews(t *testing.T) {
	file := emptyConfigFile(t)
	for _, c := range []struct {
		embedder, views string
		want            string // "" for an error
	}{
		{"builtin", "", "full"},
		{"builtin", "full", "full"},
		{"builtin", "full,subject", ""},
		{"/models/enc/model.onnx", "", "full"},
		{"/models/enc/model.onnx", "full,subject", "full,subject"},
		{"/models/enc/model.onnx", "subject", "subject"},
		{"/models/enc/model.onnx", "face", ""},
		{"/models/enc/model.onnx", "full,full", ""},
	} {
		env := map[string]string{"SCREEND_EMBEDDER": c.embedder, "SCREEND_EMBEDDER_VIEWS": c.views}
		cfg, err := Load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if c.want == "" {
			var e *Error
			if !errors.As(err, &e) || e.Setting != "SCREEND_EMBEDDER_VIEWS" {
				t.Errorf("%s with views %q: %v, want an error naming SCREEND_EMBEDDER_VIEWS", c.embedder, c.views, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s with views %q: %v", c.embedder, c.views, err)
			continue
		}
		var got []string
		for _, s := range cfg.Settings() {
			if s[0] == "SCREEND_EMBEDDER_VIEWS" {
				got = append(got, s[1])
			}
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s with views %q: setting %v, want %q", c.embedder, c.views, got, c.want)
		}
	}
}

func TestInferenceLayout(t *testing.T) {
	for _, c := range []struct {
		cpus, lanes, threads   int
		wantLanes, wantThreads int
	}{
		{cpus: 2, wantLanes: 2, wantThreads: 1},                       // this machine: two one-thread lanes
		{cpus: 1, wantLanes: 1, wantThreads: 1},                       //
		{cpus: 4, wantLanes: 4, wantThreads: 1},                       //
		{cpus: 16, wantLanes: 4, wantThreads: 4},                      // lanes bounded, threads fill the cores
		{cpus: 6, wantLanes: 4, wantThreads: 1},                       // never more threads than cores
		{cpus: 2, threads: 2, wantLanes: 1, wantThreads: 2},           // threads given: lanes fill the cores
		{cpus: 8, threads: 2, wantLanes: 4, wantThreads: 2},           //
		{cpus: 2, threads: 4, wantLanes: 1, wantThreads: 4},           // more threads than cores: one lane
		{cpus: 64, threads: 1, wantLanes: 4, wantThreads: 1},          // still bounded
		{cpus: 8, lanes: 2, wantLanes: 2, wantThreads: 4},             // lanes given: threads fill the cores
		{cpus: 2, lanes: 3, wantLanes: 3, wantThreads: 1},             //
		{cpus: 2, lanes: 3, threads: 2, wantLanes: 3, wantThreads: 2}, // both given: kept
		{cpus: 0, wantLanes: 1, wantThreads: 1},                       // no count of CPUs
	} {
		l, th := InferenceLayout(c.cpus, c.lanes, c.threads)
		if l != c.wantLanes || th != c.wantThreads {
			t.Errorf("InferenceLayout(%d cpus, lanes %d, threads %d) = %d lanes, %d threads, want %d, %d",
				c.cpus, c.lanes, c.threads, l, th, c.wantLanes, c.wantThreads)
		}
	}
}

func TestInferenceSettings(t *testing.T) {
	file := emptyConfigFile(t)
	for _, c := range []struct {
		lanes, threads string
		bad            string // the setting an error names, "" for none
	}{
		{lanes: "auto", threads: "auto"},
		{lanes: "2", threads: "1"},
		{lanes: "0", bad: "SCREEND_INFERENCE_LANES"},
		{lanes: "two", bad: "SCREEND_INFERENCE_LANES"},
		{threads: "-1", bad: "SCREEND_INTRA_OP_THREADS"},
		{lanes: "300", bad: "SCREEND_INFERENCE_LANES"},
	} {
		env := map[string]string{}
		if c.lanes != "" {
			env["SCREEND_INFERENCE_LANES"] = c.lanes
		}
		if c.threads != "" {
			env["SCREEND_INTRA_OP_THREADS"] = c.threads
		}
		cfg, err := Load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		var e *Error
		switch {
		case c.bad != "" && (!errors.As(err, &e) || e.Setting != c.bad):
			t.Errorf("lanes %q, threads %q: %v, want an error naming %s", c.lanes, c.threads, err, c.bad)
		case c.bad == "" && err != nil:
			t.Errorf("lanes %q, threads %q: %v", c.lanes, c.threads, err)
		case c.bad == "" && (cfg.InferenceLanes < 1 || cfg.IntraOpThreads < 1):
			t.Errorf("lanes %q, threads %q: resolved to %d lanes, %d threads", c.lanes, c.threads, cfg.InferenceLanes, cfg.IntraOpThreads)
		}
	}
}

// emptyConfigFile writes an empty configuration file, for Load to read
// instead of the machine's.
func emptyConfigFile(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "screend.toml")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
