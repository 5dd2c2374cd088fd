package mosquittotest

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections from a loopback port to a target
// address. Cutting it closes every forwarded connection on both sides, as
// a failing network would, while it keeps accepting new ones.
type Proxy struct {
	t         testing.TB
	ln        net.Listener
	target    string
	blackhole atomic.Bool

	mu     sync.Mutex
	pairs  map[*pair]struct{}
	closed bool
	wg     sync.WaitGroup
}

type pair struct {
	client, upstream net.Conn
}

func (p *pair) close() {
	p.client.Close()
	p.upstream.Close()
}

// StartProxy listens on a free 127.0.0.1 port and forwards connections to
// target (host:port). It is closed in t.Cleanup.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mosquittotest: proxy listen: %v", err)
	}
	p := &Proxy{t: t, ln: ln, target: target, pairs: make(map[*pair]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string {
	return p.ln.Addr().String()
}

// URL returns tcp://ADDR for MQTT clients.
func (p *Proxy) URL() string {
	return "tcp://" + p.Addr()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Errorf("mosquittotest: proxy accept: %v", err)
			}
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			// The target being down is a normal test situation; the
			// client sees its connection closed, as it would see a
			// refused one.
			c.Close()
			continue
		}
		pr := &pair{client: c, upstream: up}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pr.close()
			return
		}
		p.pairs[pr] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(pr, pr.upstream, pr.client)
		go p.pipe(pr, pr.client, pr.upstream)
	}
}

func (p *Proxy) pipe(pr *pair, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.blackhole.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	// Either direction ending ends the pair: half-open forwarding would
	// hide the failure the test wants the peers to see.
	pr.close()
	p.mu.Lock()
	delete(p.pairs, pr)
	p.mu.Unlock()
}

// SetBlackhole makes the proxy silently discard (on) or forward again
// (off) the data of all its connections, like a network path that died
// without resets. Discarding may split protocol packets, so a test cuts
// the connections before turning the blackhole off.
func (p *Proxy) SetBlackhole(on bool) {
	p.blackhole.Store(on)
}

// Cut closes all forwarded connections and reports how many there were.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.pairs)
	for pr := range p.pairs {
		pr.close()
		delete(p.pairs, pr)
	}
	return n
}

// Close stops accepting, cuts all connections and waits for the
// forwarding goroutines to finish. Closing twice does nothing.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
