package freeport

import (
	"fmt"
	"net"
	"testing"
)

func TestGetIsBindable(t *testing.T) {
	port, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("port %d out of range", port)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d from Get cannot be bound: %v", port, err)
	}
	l.Close()
}
