package config

import (
	"os"
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
