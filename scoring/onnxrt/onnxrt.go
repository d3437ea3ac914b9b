// Package onnxrt is the one place where screend starts and stops ONNX
// Runtime, through github.com/yalue/onnxruntime_go.
//
// Lifecycle: call Init once per process with the path of
// libonnxruntime.so before anything else here; further calls with the same
// path return at once, so every test and every part of the daemon may call
// it. Open models with NewSession, run them with Session.Run, Close each
// session when done. Close (the package function) destroys the environment
// and unloads the library once every session is closed; the daemon calls it
// at exit, tests usually leave it to the end of the process. After Close,
// Init may be called again.
package onnxrt

import (
	"errors"
	"fmt"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibEnv is the environment variable tests read for the path of
// libonnxruntime.so (`make test` sets it).
const LibEnv = "SCREEND_ONNXRUNTIME_LIB"

// ErrNotInitialized is returned when ONNX Runtime is used before Init.
var ErrNotInitialized = errors.New("onnxrt: ONNX Runtime is not initialised (call onnxrt.Init)")

var state struct {
	mu      sync.Mutex
	lib     string
	version string
}

// Init loads the ONNX Runtime shared library at libPath, creates the
// process-wide environment and returns the library's version. It is safe to
// call from several goroutines; once it has succeeded, later calls with the
// same path return the same version, and calls with another path fail.
func Init(libPath string) (version string, err error) {
	if libPath == "" {
		return "", errors.New("onnxrt: empty ONNX Runtime library path")
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.version != "" {
		if libPath != state.lib {
			return "", fmt.Errorf("onnxrt: already initialised with %s, not %s", state.lib, libPath)
		}
		return state.version, nil
	}
	if ort.IsInitialized() {
		return "", errors.New("onnxrt: ONNX Runtime was initialised outside package onnxrt")
	}
	fixMmapThreshold()
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return "", fmt.Errorf("onnxrt: initialise ONNX Runtime from %s: %w", libPath, err)
	}
	state.lib, state.version = libPath, ort.GetVersion()
	return state.version, nil
}

// Version returns the version of the loaded library, or "" before Init.
func Version() string {
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.version
}

// Close destroys the ONNX Runtime environment and unloads the library. Every
// session must be closed first. Closing when not initialised does nothing.
func Close() error {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.version == "" {
		return nil
	}
	state.lib, state.version = "", ""
	if err := ort.DestroyEnvironment(); err != nil {
		return fmt.Errorf("onnxrt: destroy environment: %w", err)
	}
	return nil
}

func initialized() bool {
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.version != ""
}
