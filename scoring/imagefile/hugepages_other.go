//go:build !linux

package imagefile

// adviseHugePages does nothing where huge pages are not advised (see its
// Linux version).
func adviseHugePages([]byte) {}
