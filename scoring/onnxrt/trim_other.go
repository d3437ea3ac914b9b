//go:build !linux

package onnxrt

// releaseFreedMemory does nothing where glibc's malloc_trim is unavailable.
func releaseFreedMemory() {}

// fixMmapThreshold does nothing where glibc's mallopt is unavailable.
func fixMmapThreshold() {}
