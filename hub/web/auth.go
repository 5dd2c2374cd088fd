package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

const sessionCookie = "ood_hub_session"

// auth checks requests against one token. The session cookie holds an
// HMAC of the token rather than the token, so a leaked cookie does not
// reveal the API token, and changing the token logs every browser out.
type auth struct {
	token   []byte
	session string
}

func newAuth(token string) *auth {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("ood-agent hub session v1"))
	return &auth{token: []byte(token), session: hex.EncodeToString(mac.Sum(nil))}
}

func (a *auth) validToken(s string) bool {
	return subtle.ConstantTimeCompare([]byte(s), a.token) == 1
}

// allowed reports whether r carries the token or the session cookie.
func (a *auth) allowed(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return a.validToken(t)
		}
		if _, pw, ok := r.BasicAuth(); ok {
			return a.validToken(pw)
		}
		return false
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.session)) == 1
}

// wrap guards next. A ?token= that matches logs a browser in: it gets
// the session cookie and is redirected to the URL without the token, so
// that the token does not stay in the address bar or the history.
func (a *auth) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := r.URL.Query().Get("token"); t != "" && r.Method == http.MethodGet {
			if !a.validToken(t) {
				unauthorized(w, r)
				return
			}
			http.SetCookie(w, &http.Cookie{
				Name: sessionCookie, Value: a.session, Path: "/", HttpOnly: true,
				Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: 30 * 24 * 3600,
			})
			u := *r.URL
			q := u.Query()
			q.Del("token")
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		if !a.allowed(r) {
			unauthorized(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func unauthorized(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ood-agent hub"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong token")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(`<!doctype html><meta name="viewport" content="width=device-width"><title>ood-agent hub</title>` +
		`<p style="font-family:sans-serif">Open the link that <code>ood-agent hub</code> printed (it ends in <code>?token=…</code>), or add <code>?token=</code> and the hub's token to this address.</p>`))
}
