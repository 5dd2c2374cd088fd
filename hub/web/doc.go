// Package web serves the hub's web UI and JSON API over the store.
//
// Every page and API call needs the access token: as a bearer token, as
// the password of basic auth, or once as ?token= in a URL, which sets a
// session cookie and redirects to the same URL without it. Only /healthz
// is open. Pages are rendered on the server (html/template, inline SVG
// charts, embedded CSS); a few lines of script refresh them in place.
package web
