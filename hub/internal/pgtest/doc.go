// Package pgtest starts a throw-away PostgreSQL server for a test: initdb
// into a temporary directory, pg_ctl start on a free loopback port, and
// stop and removal in t.Cleanup. The binaries come from the Debian
// package postgresql (/usr/lib/postgresql/<version>/bin). When they are
// missing the test is skipped, except under CI=true, where it fails.
//
// PostgreSQL refuses to run as root; a root test process runs the server
// as the system user "postgres" that the package creates.
package pgtest
