// Package freeport finds a free TCP port on the loopback address for a
// test server (a broker, a database) to listen on.
package freeport

import (
	"fmt"
	"net"
)

// Get returns a port that was free when it was asked for. It is found by
// binding and releasing it, so another process may take it before the
// caller binds it: callers retry a few times.
func Get() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
