package reviewpage

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"unicode"
)

// CheckListen refuses an address other than loopback without a password:
// the page decides what happens to files, so off the machine it needs a
// credential.
func CheckListen(addr, password string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if password == "" && !isLoopback(host) {
		return errors.New("the review page on a non-loopback address needs a password: set SCREEND_REVIEW_PASSWORD (e.g. in the environment file) or listen on 127.0.0.1")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Inside tells whether path is root or inside it (both made absolute).
func Inside(path, root string) bool {
	p, err1 := filepath.Abs(path)
	r, err2 := filepath.Abs(root)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(r, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

const (
	sessionCookie = "screend_session"
	csrfHeader    = "X-CSRF-Token"
	// anonymousReviewer is recorded for decisions made on a page without a
	// password (which is only served on loopback).
	anonymousReviewer = "review-page"
)

// guard authenticates requests and protects state-changing ones against
// cross-site requests.
type guard struct {
	password string
	key      []byte // signs CSRF tokens; new at every start
	origin   *http.CrossOriginProtection
}

func newGuard(password string) (*guard, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &guard{password: password, key: key, origin: http.NewCrossOriginProtection()}, nil
}

// reviewer returns who makes the request: the basic-auth user name when a
// password is set, else anonymousReviewer. It fails when the password is
// wrong or the name is unusable.
func (g *guard) reviewer(r *http.Request) (string, bool) {
	if g.password == "" {
		return anonymousReviewer, true
	}
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(g.password)) != 1 {
		return "", false
	}
	user = strings.TrimSpace(user)
	if user == "" || len(user) > 64 || strings.IndexFunc(user, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0 {
		return "", false
	}
	return user, true
}

// hostAllowed refuses, on a page without a password, requests whose Host
// is not a loopback name: a DNS-rebinding site cannot reach the API.
func (g *guard) hostAllowed(r *http.Request) bool {
	if g.password != "" {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return isLoopback(strings.Trim(host, "[]"))
}

// session returns the request's session id, setting a new cookie when it
// has none.
func (g *guard) session(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil && len(c.Value) == 64 {
		if _, err := hex.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	b := make([]byte, 32)
	rand.Read(b)
	id := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return id
}

// csrfToken is the token a session's state-changing requests must carry.
func (g *guard) csrfToken(session string) string {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkPost refuses a state-changing request that a browser marks as
// cross-site, that is not JSON, or whose CSRF token does not match its
// session.
func (g *guard) checkPost(r *http.Request) error {
	if err := g.origin.Check(r); err != nil {
		return err
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return errors.New("only JSON requests change anything")
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return errors.New("no session: reload the page")
	}
	want := g.csrfToken(c.Value)
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(want)) != 1 {
		return errors.New("bad or missing CSRF token: reload the page")
	}
	return nil
}

// wrap applies the checks to every request and sets the headers that keep
// the page from being framed or leaking.
func (g *guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !g.hostAllowed(r) {
			http.Error(w, "forbidden host", http.StatusForbidden)
			return
		}
		who, ok := g.reviewer(r)
		if !ok {
			h.Set("WWW-Authenticate", `Basic realm="screend review", charset="UTF-8"`)
			http.Error(w, "sign in with any user name and the review password", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := g.checkPost(r); err != nil {
				http.Error(w, "refused: "+err.Error(), http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(withReviewer(r.Context(), who)))
	})
}
