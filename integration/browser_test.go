package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// A headless Chromium driven over the DevTools protocol: the protocol's
// JSON messages over a websocket, with a minimal websocket client below so
// that the tests need no browser-automation module.

// chromiumPath finds Chromium, installing Debian's package when it is
// missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Log("installing Debian's chromium (apt-get install -y chromium)")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-noto-cjk")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the dashboard test needs a browser: `apt-get install -y chromium` failed (%v); install Chromium and run again:\n%s", err, harness.TailLines(string(out), 20))
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("apt-get installed chromium but it is not on PATH: %v", err)
	}
	return p
}

// browser is one headless Chromium with one page.
type browser struct {
	t      *testing.T
	cmd    *exec.Cmd
	done   chan struct{}
	conn   *cdpConn
	dir    string
	stderr *strings.Builder
}

// startBrowser starts Chromium with a window of w x h CSS pixels.
func startBrowser(t *testing.T, w, h int) *browser {
	t.Helper()
	dir, err := os.MkdirTemp("", "callscreen-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, dir: dir, done: make(chan struct{}), stderr: &strings.Builder{}}
	b.cmd = exec.Command(chromiumPath(t),
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--lang=en-US",
		"--user-data-dir="+dir, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		fmt.Sprintf("--window-size=%d,%d", w, h), "about:blank")
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(b.close)

	// Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			b.stderr.WriteString(line + "\n")
			if rest, ok := strings.CutPrefix(line, "DevTools listening on "); ok {
				select {
				case found <- strings.TrimSpace(rest):
				default:
				}
			}
		}
	}()
	go func() { b.cmd.Wait(); close(b.done) }()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-b.done:
		t.Fatalf("chromium exited at start-up:\n%s", b.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("chromium did not open its DevTools port in 30 s:\n%s", b.stderr)
	}
	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatalf("DevTools URL %q: %v", wsURL, err)
	}

	// The page target's own websocket.
	var targets []struct {
		Type, WebSocketDebuggerURL string
	}
	resp, err := http.Get("http://" + u.Host + "/json/list")
	if err != nil {
		t.Fatalf("DevTools target list: %v", err)
	}
	err = json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("DevTools target list: %v", err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			if b.conn, err = dialCDP(tg.WebSocketDebuggerURL); err != nil {
				t.Fatalf("DevTools websocket: %v", err)
			}
			break
		}
	}
	if b.conn == nil {
		t.Fatalf("chromium has no page target: %+v", targets)
	}
	b.call("Page.enable", nil, nil)
	b.call("Runtime.enable", nil, nil)
	b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false}, nil)
	return b
}

func (b *browser) close() {
	if b.conn != nil {
		b.conn.close()
	}
	if b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	}
	os.RemoveAll(b.dir)
}

// call sends one DevTools command and decodes its result into out.
func (b *browser) call(method string, params any, out any) {
	b.t.Helper()
	res, err := b.conn.call(method, params, 30*time.Second)
	if err != nil {
		b.t.Fatalf("DevTools %s: %v", method, err)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			b.t.Fatalf("DevTools %s: decoding %s: %v", method, res, err)
		}
	}
}

// navigate loads url and waits for the page's load event.
func (b *browser) navigate(url string) {
	b.t.Helper()
	loaded := b.conn.waitEvent("Page.loadEventFired")
	b.call("Page.navigate", map[string]any{"url": url}, nil)
	select {
	case <-loaded:
	case <-time.After(30 * time.Second):
		b.t.Fatalf("page %s did not load in 30 s", url)
	}
}

// reload reloads the page and waits for its load event.
func (b *browser) reload() {
	b.t.Helper()
	loaded := b.conn.waitEvent("Page.loadEventFired")
	b.call("Page.reload", map[string]any{"ignoreCache": true}, nil)
	select {
	case <-loaded:
	case <-time.After(30 * time.Second):
		b.t.Fatal("page did not reload in 30 s")
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its value into out.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	var res struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.call("Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &res)
	if e := res.ExceptionDetails; e != nil {
		b.t.Fatalf("JavaScript %q: %s %s", expr, e.Text, e.Exception.Description)
	}
	if out != nil && len(res.Result.Value) > 0 {
		if err := json.Unmarshal(res.Result.Value, out); err != nil {
			b.t.Fatalf("JavaScript %q returned %s: %v", expr, res.Result.Value, err)
		}
	}
}

// waitFor polls a JavaScript condition until it is true.
func (b *browser) waitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		b.eval("!!("+expr+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var text string
			b.eval("document.body.innerText.slice(0, 2000)", &text)
			b.t.Fatalf("after %s the page shows no %s (%s); page text:\n%s", timeout, what, expr, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// click clicks the centre of the element selector names, with real mouse
// events, as a person would.
func (b *browser) click(selector string) {
	b.t.Helper()
	var pt struct{ X, Y float64 }
	b.eval(fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		if (!e) return null;
		e.scrollIntoView({block: 'center'});
		const r = e.getBoundingClientRect();
		return {X: r.left + r.width / 2, Y: r.top + r.height / 2};
	})()`, selector), &pt)
	if pt.X == 0 && pt.Y == 0 {
		b.t.Fatalf("no element %s to click", selector)
	}
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		b.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": pt.X, "y": pt.Y, "button": "left", "clickCount": 1}, nil)
	}
}

// typeText clicks into the field and types text.
func (b *browser) typeText(selector, text string) {
	b.t.Helper()
	b.click(selector)
	b.call("Input.insertText", map[string]any{"text": text}, nil)
}

// screenshot saves the page as a PNG.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	var res struct{ Data string }
	b.call("Page.captureScreenshot", map[string]any{"format": "png"}, &res)
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// dialogs reports whether the page opened a JavaScript dialog (alert,
// confirm, prompt) since the browser started.
func (b *browser) dialogs() int { return b.conn.count("Page.javascriptDialogOpening") }

// ---- the DevTools connection -----------------------------------------------------

type cdpConn struct {
	ws *wsConn

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpMessage
	waiters map[string][]chan struct{}
	events  map[string]int
	err     error
}

type cdpMessage struct {
	ID     int             `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params any             `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func dialCDP(wsURL string) (*cdpConn, error) {
	ws, err := dialWebsocket(wsURL)
	if err != nil {
		return nil, err
	}
	c := &cdpConn{ws: ws, pending: map[int]chan cdpMessage{}, waiters: map[string][]chan struct{}{}, events: map[string]int{}}
	go c.read()
	return c, nil
}

func (c *cdpConn) read() {
	for {
		data, err := c.ws.readMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		c.mu.Lock()
		if m.ID != 0 {
			if ch, ok := c.pending[m.ID]; ok {
				ch <- m
				delete(c.pending, m.ID)
			}
		} else if m.Method != "" {
			c.events[m.Method]++
			for _, ch := range c.waiters[m.Method] {
				close(ch)
			}
			delete(c.waiters, m.Method)
		}
		c.mu.Unlock()
	}
}

func (c *cdpConn) call(method string, params any, timeout time.Duration) (json.RawMessage, error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = map[string]any{}
	}
	b, err := json.Marshal(cdpMessage{ID: id, Method: method, Params: params})
	if err != nil {
		return nil, err
	}
	if err := c.ws.writeText(b); err != nil {
		return nil, err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("connection closed: %v", c.err)
		}
		if m.Error != nil {
			return nil, fmt.Errorf("%s (%d)", m.Error.Message, m.Error.Code)
		}
		return m.Result, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("no answer in %s", timeout)
	}
}

// waitEvent returns a channel closed at the next event named method.
func (c *cdpConn) waitEvent(method string) <-chan struct{} {
	ch := make(chan struct{})
	c.mu.Lock()
	c.waiters[method] = append(c.waiters[method], ch)
	c.mu.Unlock()
	return ch
}

func (c *cdpConn) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events[method]
}

func (c *cdpConn) close() { c.ws.conn.Close() }

// ---- a minimal websocket client (RFC 6455) ---------------------------------------------

type wsConn struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
}

func dialWebsocket(rawURL string) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("websocket URL %s: want ws://", rawURL)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	keyBytes := make([]byte, 16)
	rand.Read(keyBytes)
	key := base64.StdEncoding.EncodeToString(keyBytes)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		u.RequestURI(), u.Host, key)
	r := bufio.NewReaderSize(conn, 1<<16)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(r, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	conn.SetReadDeadline(time.Time{})
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake refused: %s", resp.Status)
	}
	return &wsConn{conn: conn, r: r}, nil
}

// writeText sends one masked text frame.
func (w *wsConn) writeText(payload []byte) error {
	return w.writeFrame(0x1, payload)
}

func (w *wsConn) writeFrame(opcode byte, payload []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	hdr := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	hdr = append(hdr, mask...)
	masked := make([]byte, len(payload))
	for i, c := range payload {
		masked[i] = c ^ mask[i%4]
	}
	_, err := w.conn.Write(append(hdr, masked...))
	return err
}

// readMessage returns the next text or binary message, joining fragments
// and answering pings.
func (w *wsConn) readMessage() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.r, h[:]); err != nil {
			return nil, err
		}
		fin, opcode := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(w.r, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(w.r, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if n > 256<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes", n)
		}
		var mask [4]byte
		if h[1]&0x80 != 0 {
			if _, err := io.ReadFull(w.r, mask[:]); err != nil {
				return nil, err
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.r, payload); err != nil {
			return nil, err
		}
		if h[1]&0x80 != 0 {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch opcode {
		case 0x8: // close
			return nil, errors.New("websocket closed by the browser")
		case 0x9: // ping
			if err := w.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
			continue
		case 0xA: // pong
			continue
		}
		msg = append(msg, payload...)
		if fin {
			return msg, nil
		}
	}
}
