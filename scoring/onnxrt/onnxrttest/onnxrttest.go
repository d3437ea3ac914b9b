// Package onnxrttest initialises ONNX Runtime for tests, from the library
// path in the SCREEND_ONNXRUNTIME_LIB environment variable that `make test`
// sets.
package onnxrttest

import (
	"os"
	"testing"

	"screend/scoring/onnxrt"
)

// Init initialises ONNX Runtime (once per test binary) and returns its
// version. It fails the test, telling to run `make test`, when
// SCREEND_ONNXRUNTIME_LIB is unset, and when the library does not load.
func Init(tb testing.TB) string {
	tb.Helper()
	lib := os.Getenv(onnxrt.LibEnv)
	if lib == "" {
		tb.Fatalf("%s is not set: it must name libonnxruntime.so; run the tests with `make test`, "+
			"which sets it (or set it by hand, e.g. %s=/usr/local/lib/screend/libonnxruntime.so)",
			onnxrt.LibEnv, onnxrt.LibEnv)
	}
	v, err := onnxrt.Init(lib)
	if err != nil {
		tb.Fatalf("%v (check %s, or run `make test`)", err, onnxrt.LibEnv)
	}
	return v
}
