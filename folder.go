package screend

import "strings"

// Output folders, inside each project folder (README, "Folders inside a
// project"). The daemon never watches them.
const (
	// FolderSelected receives the chosen image when no crop is needed, with
	// its companions.
	FolderSelected = "__selected"
	// FolderCropped receives the chosen image cropped (same file name), with
	// its companions and a .decision sidecar.
	FolderCropped = "__cropped"
	// FolderOriginals receives the uncropped original of every image the
	// daemon cropped.
	FolderOriginals = "__originals"
	// FolderManualCrop receives chosen images a reviewer marked for manual
	// cropping (outcome manual_crop).
	FolderManualCrop = "__crop"
	// FolderDeleteStaging receives the other images of decided groups, and
	// whole rejected groups.
	FolderDeleteStaging = "__delete_staging"
	// FolderQuarantine receives files that are not valid images.
	FolderQuarantine = "__quarantine"
)

// reservedPrefix starts the name of every folder screend writes to.
const reservedPrefix = "__"

// IsReservedFolder reports whether a folder name is one screend writes to
// or leaves alone (every "__" folder, not only the output folders above): it
// is never watched and never a project.
func IsReservedFolder(name string) bool {
	return strings.HasPrefix(name, reservedPrefix)
}

// TempPrefix starts the names of the files screend writes before renaming
// them into place; as dot-files they are never taken as input.
const TempPrefix = ".screend-tmp-"

// Ignored tells whether a file or folder name in the inbox is left alone:
// reserved folders (__*), dot-files, and temporary names of writers (*.part,
// *.tmp, *.crdownload, *~, editors' .*.swp, rsync's .name.XXXXXX).
func Ignored(name string) bool {
	return IsReservedFolder(name) || strings.HasPrefix(name, ".") ||
		strings.HasSuffix(name, ".part") || strings.HasSuffix(name, ".tmp") ||
		strings.HasSuffix(name, ".crdownload") || strings.HasSuffix(name, "~")
}

// IsWorkingFolder reports whether a folder name is one of the workflow's
// routing folders (crop, selected, cropped, crop_auto, delete_staging, with or
// without the "__" prefix, and any other "__" folder), which live inside a
// project and therefore never name one.
func IsWorkingFolder(name string) bool {
	if IsReservedFolder(name) {
		return true
	}
	switch strings.ToLower(name) {
	case "crop", "selected", "cropped", "crop_auto", "delete_staging":
		return true
	}
	return false
}
