//go:build !linux

package onnxrt

// releaseFreedMemory does nothing where glibc's malloc_trim is unavailable.
func releaseFreedMemory() {}
