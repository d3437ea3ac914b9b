package main

// The apply half of issue 10's hostile-input suite: moves, the journal,
// resolve_group and reject_group, the reviewer role, instance liveness,
// output modes and unmigrated databases. Each case drives the real
// `screend run` binary (see hostile.go).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

func init() {
	registerHostile(
		hostileCase{Item: "2", Name: "names near 255 bytes: a crop's sidecar and a quarantine clash", Run: hostileLongNames},
		hostileCase{Item: "3", Name: "a crop box with a NULL is refused; a stored bad decision does not block others", Run: hostileBadDecision},
		hostileCase{Item: "5", Name: "instance_alive ignores another database's instance of the same id", Run: hostileInstanceAlive},
		hostileCase{Item: "10", Name: "a failed move is retried, visible, and done once the cause is fixed", Run: hostileFailedMove},
		hostileCase{Item: "13", Name: "lost connection: the live daemon finishes journal rows", Run: hostileLostConnection},
		hostileCase{Item: "14", Name: "renamed chosen file and renamed project fail their groups", Run: hostileRenamed},
		hostileCase{Item: "15b", Name: "a tiny crop box is refused", Run: hostileTinyCrop},
		hostileCase{Item: "15c", Name: "companions by exact stem", Run: hostileCompanions},
		hostileCase{Item: "17", Name: "status on an unmigrated database says what to run", Run: hostileUnmigrated},
		hostileCase{Item: "18", Name: "output modes follow the source and the project folder", Run: hostileModes},
		hostileCase{Item: "19", Name: "a screend_reviewer login resolves as itself and can do nothing else", Run: hostileReviewer},
	)
}

// stagePair writes a two-stage picture (stage 1 and stage 2 of stamp) with
// a .yaml companion each into dir.
func stagePair(dir, stamp string, seed uint64) error {
	for i, st := range []string{"stage1_generated", "stage2_upscaled"} {
		if err := hostilePhoto(filepath.Join(dir, stamp+"_"+st+".png"), 48*(i+1), 48*(i+1), seed*10+uint64(i)); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, stamp+"_"+st+".yaml"), []byte("seed: 1\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// flaggedPair writes a two-stage picture (stamp 20250101_010000, seed 1)
// into the project folder p of the inbox, lets prepare (when not nil)
// change that folder, starts the daemon and waits until the picture's
// group is flagged. It returns the folder, the group and its stage-2 image.
func (hc *hostileRun) flaggedPair(ctx context.Context, prepare func(p string) error) (p string, group, image int64, err error) {
	p = filepath.Join(hc.inbox, "p")
	if err := stagePair(p, "20250101_010000", 1); err != nil {
		return p, 0, 0, err
	}
	if prepare != nil {
		if err := prepare(p); err != nil {
			return p, 0, 0, err
		}
	}
	if _, err := hc.start(); err != nil {
		return p, 0, 0, err
	}
	group, image, err = hc.flaggedGroupOf(ctx, "20250101_010000_stage2_upscaled.png")
	return p, group, image, err
}

// flaggedGroupOf returns the group of the image named name, once flagged.
func (hc *hostileRun) flaggedGroupOf(ctx context.Context, name string) (group, image int64, err error) {
	err = until(ctx, 60*time.Second, name+"'s group flagged", func() bool {
		return hc.queryRow(ctx, `
			SELECT gi.group_id, i.image_id FROM screend.images i JOIN screend.group_images gi USING (image_id)
			JOIN screend.groups g USING (group_id) WHERE i.file_name = $1 AND g.state = 'flagged'`,
			[]any{name}, &group, &image) == nil
	})
	return group, image, err
}

// groupState returns a group's state and error.
func (hc *hostileRun) groupState(ctx context.Context, group int64) (state, reason string) {
	if err := hc.queryRow(ctx, `SELECT state, coalesce(error, '') FROM screend.groups WHERE group_id = $1`,
		[]any{group}, &state, &reason); err != nil {
		return "", err.Error()
	}
	return state, reason
}

// waitGroup waits until a group is in one of states.
func (hc *hostileRun) waitGroup(ctx context.Context, group int64, states ...string) (string, string, error) {
	var state, reason string
	err := until(ctx, 60*time.Second, fmt.Sprintf("group %d %v", group, states), func() bool {
		state, reason = hc.groupState(ctx, group)
		for _, s := range states {
			if state == s {
				return true
			}
		}
		return false
	})
	return state, reason, err
}

func hostileLongNames(ctx context.Context, hc *hostileRun) (string, error) {
	p := filepath.Join(hc.inbox, "p")
	long := "20250101_010000_a" + strings.Repeat("ü", 117) + ".png" // 255 bytes
	if err := hostilePhoto(filepath.Join(p, long), 64, 64, 1); err != nil {
		return "", err
	}
	broken := strings.Repeat("x", 250) + ".png" // 254 bytes, its name taken in __quarantine
	if err := os.MkdirAll(filepath.Join(p, "__quarantine"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(p, "__quarantine", broken), []byte("earlier"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(p, broken), []byte("not a png"), 0o644); err != nil {
		return "", err
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 2); err != nil {
		return "", err
	}
	g, img, err := hc.flaggedGroupOf(ctx, long)
	if err != nil {
		return "", err
	}
	if err := hc.exec(ctx, `SELECT screend.resolve_group($1, $2, '{0,0,0.5,0.5}')`, g, img); err != nil {
		return "", err
	}
	state, reason, err := hc.waitGroup(ctx, g, "applied", "failed")
	if err != nil {
		return "", err
	}
	entries, _ := os.ReadDir(filepath.Join(p, "__cropped"))
	var quarantined string
	hc.queryRow(ctx, `SELECT path FROM screend.images WHERE state = 'quarantined'`, nil, &quarantined)
	detail := fmt.Sprintf("crop group %s %s, %d files in __cropped, quarantined as %d-byte %q", state, reason, len(entries),
		len(filepath.Base(quarantined)), filepath.Base(quarantined)[240:])
	if state != "applied" || len(entries) != 2 || !strings.HasSuffix(quarantined, "_1.png") || len(filepath.Base(quarantined)) > 255 {
		return detail, errors.New("want the crop and its sidecar in __cropped and the broken file quarantined under a shortened name")
	}
	return detail, nil
}

func hostileBadDecision(ctx context.Context, hc *hostileRun) (string, error) {
	p := filepath.Join(hc.inbox, "p")
	for i, stamp := range []string{"20250101_010000", "20250101_020000"} {
		if err := stagePair(p, stamp, uint64(i+1)); err != nil {
			return "", err
		}
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	bad, badImg, err := hc.flaggedGroupOf(ctx, "20250101_010000_stage2_upscaled.png")
	if err != nil {
		return "", err
	}
	good, goodImg, err := hc.flaggedGroupOf(ctx, "20250101_020000_stage2_upscaled.png")
	if err != nil {
		return "", err
	}
	refused := hc.exec(ctx, `SELECT screend.resolve_group($1, $2, '{0,NULL,1,1}')`, bad, badImg)
	if refused == nil || !strings.Contains(refused.Error(), "bad crop box") {
		return "", fmt.Errorf("resolve_group with a NULL in the box: %v, want refused", refused)
	}
	// A decision stored before the check existed.
	if err := hc.exec(ctx, `
		WITH d AS (INSERT INTO screend.decisions (group_id, outcome, chosen_image_id, crop, automatic, decided_by)
			VALUES ($1, 'crop', $2, '{0,NULL,1,1}', false, 'old'))
		UPDATE screend.groups SET state = 'decided' WHERE group_id = $1`, bad, badImg); err != nil {
		return "", err
	}
	if err := hc.exec(ctx, `SELECT screend.resolve_group($1, $2)`, good, goodImg); err != nil {
		return "", err
	}
	if _, _, err := hc.waitGroup(ctx, good, "applied"); err != nil {
		return "", err
	}
	state, reason, err := hc.waitGroup(ctx, bad, "failed")
	detail := fmt.Sprintf("NULL box refused; stored bad decision: group %s (%s); the next group applied", state, reason)
	return detail, err
}

func hostileInstanceAlive(ctx context.Context, hc *hostileRun) (string, error) {
	if err := hc.migrate(ctx); err != nil {
		return "", err
	}
	src := filepath.Join(hc.inbox, "p", "20250101_000000_stage1_generated.png")
	if err := hostilePhoto(src, 48, 48, 5); err != nil {
		return "", err
	}
	if err := hc.recordFile(ctx, hc.inbox, "p", src, src); err != nil {
		return "", err
	}
	// A killed instance of this deployment claimed the file...
	var dead int32
	if err := hc.queryRow(ctx, `INSERT INTO screend.instances (hostname, pid) VALUES ('killed', 1) RETURNING instance_id`, nil, &dead); err != nil {
		return "", err
	}
	if err := hc.exec(ctx, `UPDATE screend.images SET claimed_by = $1`, dead); err != nil {
		return "", err
	}
	// ...while an instance of the same id of another deployment on the
	// cluster (here: a session in the postgres database) holds its lock.
	otherURL, err := withDatabase(hc.dbURL, "postgres")
	if err != nil {
		return "", err
	}
	other, err := connect(ctx, otherURL)
	if err != nil {
		return "", err
	}
	defer other.Close(context.WithoutCancel(ctx))
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock(1935897189, $1)`, dead); err != nil {
		return "", err
	}
	var alive bool
	if err := hc.queryRow(ctx, `SELECT screend.instance_alive($1)`, []any{dead}, &alive); err != nil {
		return "", err
	}
	if alive {
		return "", fmt.Errorf("instance %d looks alive through another database's lock", dead)
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 1); err != nil {
		return "", err
	}
	state, _ := hc.state(ctx, filepath.Base(src))
	return fmt.Sprintf("instance %d not alive; its claimed file %s", dead, state), nil
}

func hostileFailedMove(ctx context.Context, hc *hostileRun) (string, error) {
	var blocker string
	_, g, img, err := hc.flaggedPair(ctx, func(p string) error {
		blocker = filepath.Join(p, "__selected")
		return os.WriteFile(blocker, []byte("in the way"), 0o644)
	})
	if err != nil {
		return "", err
	}
	if err := hc.exec(ctx, `SELECT screend.resolve_group($1, $2)`, g, img); err != nil {
		return "", err
	}
	var failing string
	err = until(ctx, 30*time.Second, "a failing move in screend status", func() bool {
		cmd := exec.CommandContext(ctx, hc.bin, "--config", filepath.Join(hc.work, "screend.toml"), "status")
		cmd.Env = append(os.Environ(), hc.harness.env...)
		out, _ := cmd.Output()
		if i := bytes.Index(out, []byte("failing:")); i >= 0 {
			failing = strings.TrimSpace(string(out[i:]))
			return true
		}
		return false
	})
	if err != nil {
		return "", err
	}
	if state, _ := hc.groupState(ctx, g); state != "applying" {
		return failing, fmt.Errorf("group is %s while its move fails, want applying", state)
	}
	if err := os.Remove(blocker); err != nil {
		return "", err
	}
	start := time.Now()
	if _, _, err := hc.waitGroup(ctx, g, "applied"); err != nil {
		return failing, err
	}
	return fmt.Sprintf("status said %q; applied %.1f s after the cause was removed", firstLine(failing), time.Since(start).Seconds()), nil
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func hostileLostConnection(ctx context.Context, hc *hostileRun) (string, error) {
	p := filepath.Join(hc.inbox, "p")
	if err := stagePair(p, "20250101_010000", 1); err != nil {
		return "", err
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 2); err != nil {
		return "", err
	}
	notes := filepath.Join(p, "notes")
	if err := os.MkdirAll(notes, 0o755); err != nil {
		return "", err
	}
	for _, n := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(notes, n), []byte(n), 0o644); err != nil {
			return "", err
		}
	}
	// Journal rows of the running instance, planned when its connections
	// are cut (as a PostgreSQL restart cuts them).
	if err := hc.exec(ctx, `
		INSERT INTO screend.file_moves (kind, src, dst, claimed_by)
		SELECT 'move', $1 || '/' || n, $2 || '/' || n, (SELECT max(instance_id) FROM screend.instances)
		FROM unnest(ARRAY['a.txt', 'b.txt']) n`, notes, filepath.Join(p, "__delete_staging")); err != nil {
		return "", err
	}
	if err := hc.exec(ctx, `
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		return "", err
	}
	start := time.Now()
	err := until(ctx, 60*time.Second, "the journal finished", func() bool {
		var planned int
		return hc.queryRow(ctx, `SELECT count(*) FROM screend.file_moves WHERE state = 'planned'`, nil, &planned) == nil && planned == 0
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("journal finished %.1f s after the connections were cut, without a restart", time.Since(start).Seconds()), nil
}

func hostileRenamed(ctx context.Context, hc *hostileRun) (string, error) {
	if err := stagePair(filepath.Join(hc.inbox, "p"), "20250101_010000", 1); err != nil {
		return "", err
	}
	if err := stagePair(filepath.Join(hc.inbox, "q"), "20250101_020000", 2); err != nil {
		return "", err
	}
	d, err := hc.start()
	if err != nil {
		return "", err
	}
	gp, img, err := hc.flaggedGroupOf(ctx, "20250101_010000_stage2_upscaled.png")
	if err != nil {
		return "", err
	}
	gq, _, err := hc.flaggedGroupOf(ctx, "20250101_020000_stage2_upscaled.png")
	if err != nil {
		return "", err
	}
	if err := d.Stop(30 * time.Second); err != nil {
		return "", err
	}
	if err := hc.exec(ctx, `SELECT screend.resolve_group($1, $2)`, gp, img); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(hc.inbox, "p", "20250101_010000_stage2_upscaled.png"), filepath.Join(hc.inbox, "p", "renamed.png")); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(hc.inbox, "q"), filepath.Join(hc.inbox, "q-renamed")); err != nil {
		return "", err
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	sp, rp, err := hc.waitGroup(ctx, gp, "failed", "applied")
	if err != nil {
		return "", err
	}
	sq, rq, err := hc.waitGroup(ctx, gq, "failed")
	detail := fmt.Sprintf("renamed file: group %s (%s); renamed project: group %s (%s)", sp, rp, sq, rq)
	if err == nil && sp != "failed" {
		err = errors.New("want the group of the renamed file failed, not applied")
	}
	return detail, err
}

func hostileTinyCrop(ctx context.Context, hc *hostileRun) (string, error) {
	_, g, img, err := hc.flaggedPair(ctx, nil)
	if err != nil {
		return "", err
	}
	refused := hc.exec(ctx, `SELECT screend.resolve_group($1, $2, '{0.5,0.5,0.5001,0.5001}')`, g, img)
	if refused == nil || !strings.Contains(refused.Error(), "too small") {
		return "", fmt.Errorf("tiny box: %v, want refused as too small", refused)
	}
	return "refused: " + refused.Error(), nil
}

func hostileCompanions(ctx context.Context, hc *hostileRun) (string, error) {
	other := "20250101_010000_stage2_upscaled.1.yaml"
	p, g, img, err := hc.flaggedPair(ctx, func(p string) error {
		return os.WriteFile(filepath.Join(p, other), []byte("other\n"), 0o644)
	})
	if err != nil {
		return "", err
	}
	if err := hc.exec(ctx, `SELECT screend.resolve_group($1, $2)`, g, img); err != nil {
		return "", err
	}
	if _, _, err := hc.waitGroup(ctx, g, "applied"); err != nil {
		return "", err
	}
	_, errYAML := os.Stat(filepath.Join(p, "__selected", "20250101_010000_stage2_upscaled.yaml"))
	_, errOther := os.Stat(filepath.Join(p, other))
	if errYAML != nil || errOther != nil {
		return "", fmt.Errorf("want the .yaml moved (%v) and %s left (%v)", errYAML, other, errOther)
	}
	return "stage2_upscaled.yaml moved with its image, stage2_upscaled.1.yaml left", nil
}

func hostileUnmigrated(ctx context.Context, hc *hostileRun) (string, error) {
	cmd := exec.CommandContext(ctx, hc.bin, "--config", filepath.Join(hc.work, "screend.toml"), "status")
	cmd.Env = append(os.Environ(), hc.harness.env...)
	out, err := cmd.CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if err == nil || !strings.Contains(msg, "screend migrate") || strings.Contains(msg, "does not exist") {
		return msg, errors.New("want status to fail naming `screend migrate`")
	}
	return msg, nil
}

func hostileModes(ctx context.Context, hc *hostileRun) (string, error) {
	var src string
	p, g, img, err := hc.flaggedPair(ctx, func(p string) error {
		if err := os.Chmod(p, 0o770|fs.ModeSetgid); err != nil {
			return err
		}
		src = filepath.Join(p, "20250101_010000_stage2_upscaled.png")
		return os.Chmod(src, 0o640)
	})
	if err != nil {
		return "", err
	}
	if err := hc.exec(ctx, `SELECT screend.resolve_group($1, $2, '{0.25,0.25,0.75,0.75}')`, g, img); err != nil {
		return "", err
	}
	if _, _, err := hc.waitGroup(ctx, g, "applied"); err != nil {
		return "", err
	}
	mode := func(rel string) fs.FileMode {
		st, err := os.Stat(filepath.Join(p, rel))
		if err != nil {
			return 0
		}
		return st.Mode() & (fs.ModeDir | fs.ModeSetgid | fs.ModePerm)
	}
	crop, folder := mode("__cropped/20250101_010000_stage2_upscaled.png"), mode("__delete_staging")
	detail := fmt.Sprintf("crop %v (source -rw-r-----), __delete_staging %v (project dgrwxrwx---)", crop, folder)
	if crop != 0o640 || folder != fs.ModeDir|fs.ModeSetgid|0o770 {
		return detail, errors.New("want the crop with its source's mode and the folder with the project's")
	}
	return detail, nil
}

func hostileReviewer(ctx context.Context, hc *hostileRun) (string, error) {
	_, g, img, err := hc.flaggedPair(ctx, nil)
	if err != nil {
		return "", err
	}
	name, password := "screend_bench_rev_"+randomHex(4), randomHex(8)
	var create string
	if err := hc.queryRow(ctx, `SELECT format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE screend_reviewer', $1::text, $2::text)`,
		[]any{name, password}, &create); err != nil {
		return "", err
	}
	if err := hc.exec(ctx, create); err != nil {
		return "", fmt.Errorf("create a reviewer login (needs CREATEROLE, as scripts/setup.sh grants): %w", err)
	}
	defer hc.exec(context.WithoutCancel(ctx), fmt.Sprintf(`DROP ROLE %s`, pgx.Identifier{name}.Sanitize()))
	cfg, err := pgx.ParseConfig(hc.dbURL)
	if err != nil {
		return "", err
	}
	cfg.User, cfg.Password = name, password
	rev, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer rev.Close(context.WithoutCancel(ctx))
	var denied []string
	for _, q := range []string{
		`INSERT INTO screend.decisions (group_id, outcome, automatic, decided_by) VALUES (1, 'reject', true, 'screend')`,
		`UPDATE screend.groups SET state = 'decided'`,
		`SELECT count(*) FROM screend.images`,
	} {
		if _, err := rev.Exec(ctx, q); err != nil && strings.Contains(err.Error(), "permission denied") {
			denied = append(denied, strings.Fields(q)[0])
		}
	}
	if len(denied) != 3 {
		return "", fmt.Errorf("reviewer denied only %v", denied)
	}
	if _, err := rev.Exec(ctx, `SELECT screend.resolve_group($1, $2, reviewer => 'mallory')`, g, img); err == nil {
		return "", errors.New("the reviewer named another reviewer")
	}
	if _, err := rev.Exec(ctx, `SELECT screend.resolve_group($1, $2)`, g, img); err != nil {
		return "", err
	}
	var by string
	if err := hc.queryRow(ctx, `SELECT decided_by FROM screend.decisions WHERE group_id = $1`, []any{g}, &by); err != nil {
		return "", err
	}
	if by != name {
		return "", fmt.Errorf("decision recorded as by %q, want the login %q", by, name)
	}
	return fmt.Sprintf("insert, update and table reads denied; naming another reviewer refused; resolved as %s", name), nil
}
