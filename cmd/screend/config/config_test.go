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
	file := filepath.Join(t.TempDir(), "screend.toml") // empty: not the machine's file
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
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
