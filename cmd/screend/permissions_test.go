package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"screend"
	"screend/sql"
	"screend/sql/sqltest"
)

// TestGroupDeploymentAsUnprivilegedUsers runs the documented deployment
// with throwaway users: an inbox owned by the service's group, mode 2770
// with the default ACL of systemd/screend.tmpfiles; a person of the group
// with umask 022 makes a project folder and drops files; the daemon runs as
// another member of the group with the unit's umask 0007. Every move works,
// and the person can read the crop and its sidecar and empty
// __delete_staging: output files get their source's mode (or 0666 less the
// umask), output folders the mode of their project folder, setgid included.
func TestGroupDeploymentAsUnprivilegedUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create throwaway users and run the daemon as one of them (CI runs as root)")
	}
	suffix := make([]byte, 3)
	rand.Read(suffix)
	tag := hex.EncodeToString(suffix)
	group, daemonUser, person := "sdtg"+tag, "sdtd"+tag, "sdtp"+tag
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("groupadd", group)
	t.Cleanup(func() { exec.Command("groupdel", group).Run() })
	for _, u := range []string{daemonUser, person} {
		run("useradd", "--no-create-home", "--no-user-group", "--gid", group, "--shell", "/usr/sbin/nologin", u)
		t.Cleanup(func() { exec.Command("userdel", u).Run() })
	}
	gid := lookupGroup(t, group)

	base, err := os.MkdirTemp("", "screend-perm-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	must(t, os.Chmod(base, 0o755))
	bin := filepath.Join(base, "screend")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// The inbox as systemd/screend.tmpfiles makes it.
	inbox := filepath.Join(base, "inbox")
	must(t, os.Mkdir(inbox, 0o700))
	must(t, os.Chown(inbox, 0, gid))
	must(t, os.Chmod(inbox, fs.ModeSetgid|0o770))
	if err := setDefaultACL(inbox, 0o7, 0o7, 0); err != nil {
		t.Fatalf("set the inbox's default ACL (the file system must support POSIX ACLs): %v", err)
	}
	// The files the person drops, made by the test.
	src := filepath.Join(base, "src")
	must(t, os.Mkdir(src, 0o755))
	for i, name := range []string{"20250101_010000_stage1_generated", "20250101_010000_stage2_upscaled",
		"20250101_020000_stage1_generated", "20250101_020000_stage2_upscaled",
		"20250101_030000_stage1_generated", "20250101_030000_stage2_upscaled"} {
		writeSquarePNG(t, filepath.Join(src, name+".png"), 64+16*(i%2), uint8(40*i))
		must(t, os.WriteFile(filepath.Join(src, name+".yaml"), []byte("seed: 1\n"), 0o644))
	}
	asPerson := func(script string) error {
		out, err := exec.Command("runuser", "-u", person, "--", "sh", "-c", "umask 022 && "+script).CombinedOutput()
		if err != nil {
			return errors.New(err.Error() + ": " + string(out))
		}
		return nil
	}
	must(t, asPerson("mkdir "+filepath.Join(inbox, "p")+" && cp "+src+"/* "+filepath.Join(inbox, "p")+"/"))

	// The service's working folder, as the unit's StateDirectory= makes it.
	state := filepath.Join(base, "state")
	must(t, os.Mkdir(state, 0o750))
	owner, err := user.Lookup(daemonUser)
	must(t, err)
	uid, err := strconv.Atoi(owner.Uid)
	must(t, err)
	must(t, os.Chown(state, uid, gid))

	dbURL := sqltest.URL(t)
	cmd := exec.Command("setpriv", "--reuid", daemonUser, "--regid", group, "--init-groups", "--",
		"sh", "-c", "umask 0007 && exec "+bin+" run")
	cmd.Dir = state
	cmd.Env = append(os.Environ(), "SCREEND_DATABASE_URL="+dbURL, "SCREEND_INBOX="+inbox, "SCREEND_LISTEN=", "SCREEND_REVIEW_LISTEN=",
		"SCREEND_STABLE_FOR=100ms", "SCREEND_SETTLE=2s", "SCREEND_SCAN_INTERVAL=1s", "SCREEND_RETRAIN_SCHEDULE=",
		"SCREEND_LOG_FORMAT=plain", "HOME="+base)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("screend run: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	}()

	ctx := context.Background()
	db, err := sql.Open(ctx, dbURL)
	must(t, err)
	defer db.Close()
	groups := map[string]int64{}
	waitCond(t, 60*time.Second, "three flagged groups", func() bool {
		rows, err := sqltest.Pool(db).Query(ctx, `
			SELECT g.group_id, min(i.file_name) FROM screend.groups g JOIN screend.group_images USING (group_id)
			JOIN screend.images i USING (image_id) WHERE g.state = 'flagged' GROUP BY g.group_id`)
		if err != nil {
			return false
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var first string
			if rows.Scan(&id, &first) == nil {
				groups[first[:15]] = id
			}
		}
		return len(groups) == 3
	})
	chosen := func(name string) int64 {
		var id int64
		must(t, sqltest.Pool(db).QueryRow(ctx, `SELECT image_id FROM screend.images WHERE file_name = $1`, name).Scan(&id))
		return id
	}
	_, err = db.Resolve(ctx, sql.Resolution{GroupID: groups["20250101_010000"], ChosenImageID: chosen("20250101_010000_stage2_upscaled.png")})
	must(t, err)
	_, err = db.Resolve(ctx, sql.Resolution{GroupID: groups["20250101_020000"], ChosenImageID: chosen("20250101_020000_stage2_upscaled.png"),
		Crop: []float32{0.25, 0.25, 0.75, 0.75}})
	must(t, err)
	_, err = db.Reject(ctx, groups["20250101_030000"], "")
	must(t, err)
	waitCond(t, 60*time.Second, "three groups applied", func() bool {
		var n int
		return sqltest.Pool(db).QueryRow(ctx, `SELECT count(*) FROM screend.groups WHERE state = 'applied'`).Scan(&n) == nil && n == 3
	})

	proj := filepath.Join(inbox, "p")
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{
		{screend.FolderSelected + "/20250101_010000_stage2_upscaled.png", 0o640}, // moved: the person's file as it was
		{screend.FolderCropped + "/20250101_020000_stage2_upscaled.png", 0o640},  // the source's mode
		{screend.FolderCropped + "/20250101_020000_stage2_upscaled.decision", 0o660},
		{screend.FolderOriginals, fs.ModeDir | fs.ModeSetgid | 0o770}, // the project folder's mode
		{screend.FolderDeleteStaging, fs.ModeDir | fs.ModeSetgid | 0o770},
	} {
		info, err := os.Stat(filepath.Join(proj, c.path))
		if err != nil {
			t.Error(err)
			continue
		}
		if got := info.Mode() & (fs.ModeType | fs.ModePerm | fs.ModeSetgid); got != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, got, c.want)
		}
		if st := info.Sys().(*syscall.Stat_t); int(st.Gid) != gid {
			t.Errorf("%s: group %d, want the inbox's %d", c.path, st.Gid, gid)
		}
	}
	if err := asPerson("cat " + filepath.Join(proj, screend.FolderCropped, "*") + " > /dev/null"); err != nil {
		t.Errorf("the person cannot read the crop and its sidecar: %v", err)
	}
	if err := asPerson("rm " + filepath.Join(proj, screend.FolderDeleteStaging, "20250101_030000_stage1_generated.png")); err != nil {
		t.Errorf("the person cannot empty __delete_staging: %v", err)
	}
}

// setDefaultACL sets the minimal default ACL (owner, group and other
// permissions, each rwx bits) on dir, as `setfacl -d` or tmpfiles.d's `a+`
// line would: new files and folders inside get these permissions, less
// only what their creator asked for, whatever the creator's umask.
func setDefaultACL(dir string, owner, group, other uint16) error {
	const (
		aclVersion  = 2
		aclUserObj  = 0x01
		aclGroupObj = 0x04
		aclOther    = 0x20
		undefinedID = 0xffffffff
	)
	buf := binary.LittleEndian.AppendUint32(nil, aclVersion)
	for _, e := range [][2]uint16{{aclUserObj, owner}, {aclGroupObj, group}, {aclOther, other}} {
		buf = binary.LittleEndian.AppendUint16(buf, e[0])
		buf = binary.LittleEndian.AppendUint16(buf, e[1])
		buf = binary.LittleEndian.AppendUint32(buf, undefinedID)
	}
	return unix.Setxattr(dir, "system.posix_acl_default", buf, 0)
}

func lookupGroup(t *testing.T, name string) int {
	t.Helper()
	g, err := user.LookupGroup(name)
	must(t, err)
	gid, err := strconv.Atoi(g.Gid)
	must(t, err)
	return gid
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeSquarePNG writes a size x size picture with a gradient and a shape,
// different for every shade.
func writeSquarePNG(t *testing.T, path string, size int, shade uint8) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			v := uint8(x*255/size) ^ shade
			if (x-size/2)*(x-size/2)+(y-size/3)*(y-size/3) < size*size/16 {
				v = 255 - v
			}
			img.Set(x, y, color.NRGBA{v, uint8(y * 255 / size), shade, 255})
		}
	}
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	must(t, png.Encode(f, img))
}

func waitCond(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
