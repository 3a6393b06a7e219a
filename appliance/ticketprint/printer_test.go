package ticketprint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// Status bytes as an Epson printer sends them (fixed bits 0x12 always set).
const (
	online        = 0x12
	offline       = 0x12 | printerOffline
	paperOK       = 0x12
	paperNearEnd  = 0x12 | paperNearEndBits
	paperEnd      = 0x12 | paperNearEndBits | paperEndBits
	causeNone     = 0x12
	causeCover    = 0x12 | causeCoverOpen
	causePaper    = 0x12 | causePaperEnd
	causeErrorBit = 0x12 | causeError
)

// fakePrinter is a TCP listener speaking the raw-printing protocol of port
// 9100: it answers DLE EOT n with the byte set for n and records the rest
// of the connection as the print job. Status queries are recognised only
// before the first job byte, as Print sends them; a real printer would also
// react to DLE EOT inside raster data, which Print tolerates.
type fakePrinter struct {
	ln     net.Listener
	status map[byte]byte // DLE EOT n → reply; a missing n gets no reply
	chatty bool          // answer every job read with a status byte, as for a DLE EOT in raster data
	jobs   chan fakeJob
}

type fakeJob struct {
	queries []byte // the n of each DLE EOT n, in order
	data    []byte
	err     error
}

func newFakePrinter(t *testing.T, status map[byte]byte) *fakePrinter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePrinter{ln: ln, status: status, jobs: make(chan fakeJob, 4)}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p
}

func (p *fakePrinter) addr() string { return p.ln.Addr().String() }

func (p *fakePrinter) serve() {
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			p.jobs <- p.handle(conn)
		}()
	}
}

func (p *fakePrinter) handle(conn net.Conn) fakeJob {
	var job fakeJob
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var pending []byte
	inJob := false
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if inJob {
			job.data = append(job.data, buf[:n]...)
			if p.chatty && n > 0 {
				conn.Write([]byte{online})
			}
		} else {
			pending = append(pending, buf[:n]...)
			for len(pending) >= 3 && pending[0] == 0x10 && pending[1] == 0x04 {
				q := pending[2]
				job.queries = append(job.queries, q)
				pending = pending[3:]
				if reply, ok := p.status[q]; ok {
					if _, err := conn.Write([]byte{reply}); err != nil {
						job.err = err
						return job
					}
				}
			}
			if len(pending) > 0 && (pending[0] != 0x10 || len(pending) >= 2 && pending[1] != 0x04) {
				inJob = true
				job.data, pending = pending, nil
			}
		}
		if err == io.EOF {
			return job
		}
		if err != nil {
			job.err = err
			return job
		}
	}
}

func (p *fakePrinter) job(t *testing.T) fakeJob {
	t.Helper()
	select {
	case j := <-p.jobs:
		if j.err != nil {
			t.Fatalf("fake printer: %v", j.err)
		}
		return j
	case <-time.After(10 * time.Second):
		t.Fatal("fake printer saw no connection end")
		return fakeJob{}
	}
}

func TestPrintDeliversTheWholeJobByteExact(t *testing.T) {
	p := newFakePrinter(t, map[byte]byte{1: online, 2: causeNone, 4: paperOK})
	data, err := ESCPOS(sampleTicket(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Print(context.Background(), p.addr(), data, 5*time.Second)
	if err != nil {
		t.Fatalf("Print: %v", err)
	}
	if st != (PrinterStatus{}) {
		t.Errorf("status %+v, want all clear", st)
	}
	job := p.job(t)
	if !bytes.Equal(job.data, data) {
		t.Errorf("printer received %d bytes, want the %d-byte job byte for byte", len(job.data), len(data))
	}
	if !bytes.Equal(job.queries, []byte{1, 4}) {
		t.Errorf("status queries %v, want [1 4]: an online printer needs no cause query", job.queries)
	}
}

func TestPrintDeliversALargeJobToAPrinterThatTalksBack(t *testing.T) {
	p := newFakePrinter(t, map[byte]byte{1: online, 4: paperOK})
	p.chatty = true
	data := append([]byte{0x1B, '@'}, bytes.Repeat([]byte{0x10, 0x04, 0x01, 0xAA, 0x55}, 200_000)...) // 1 MB of unlucky raster
	if _, err := Print(context.Background(), p.addr(), data, 5*time.Second); err != nil {
		t.Fatalf("Print: %v", err)
	}
	if job := p.job(t); !bytes.Equal(job.data, data) {
		t.Errorf("printer received %d bytes, want all %d", len(job.data), len(data))
	}
}

func TestPrintStillPrintsWhenPaperIsNearTheEnd(t *testing.T) {
	p := newFakePrinter(t, map[byte]byte{1: online, 4: paperNearEnd})
	data := []byte("\x1b@ciao\n")
	st, err := Print(context.Background(), p.addr(), data, 5*time.Second)
	if err != nil {
		t.Fatalf("Print: %v", err)
	}
	if !st.PaperNearEnd || st.PaperOut {
		t.Errorf("status %+v, want paper near end, not out", st)
	}
	if job := p.job(t); !bytes.Equal(job.data, data) {
		t.Errorf("printer received %q, want %q", job.data, data)
	}
}

func TestPrintRefusesWhenThePrinterCannotPrint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status map[byte]byte
		want   *Error
		state  PrinterStatus
	}{
		{"paper out", map[byte]byte{1: offline, 2: causePaper, 4: paperEnd}, ErrPaperOut,
			PrinterStatus{Offline: true, PaperOut: true, PaperNearEnd: true}},
		{"paper stop without roll sensor", map[byte]byte{1: offline, 2: causePaper, 4: paperOK}, ErrPaperOut,
			PrinterStatus{Offline: true, PaperOut: true}},
		{"cover open", map[byte]byte{1: offline, 2: causeCover, 4: paperOK}, ErrCoverOpen,
			PrinterStatus{Offline: true, CoverOpen: true}},
		{"cover open reads as no paper too", map[byte]byte{1: offline, 2: causeCover | causePaperEnd, 4: paperEnd}, ErrCoverOpen,
			PrinterStatus{Offline: true, CoverOpen: true, PaperOut: true, PaperNearEnd: true}},
		{"cutter error", map[byte]byte{1: offline, 2: causeErrorBit, 4: paperOK}, ErrOffline,
			PrinterStatus{Offline: true, Error: true}},
		{"offline, no cause", map[byte]byte{1: offline, 2: causeNone, 4: paperOK}, ErrOffline,
			PrinterStatus{Offline: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakePrinter(t, tc.status)
			st, err := Print(context.Background(), p.addr(), []byte("\x1b@job\n"), 5*time.Second)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Print error %v, want %v", err, tc.want)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tc.want.Code {
				t.Errorf("errors.As code %v, want %q", pe, tc.want.Code)
			}
			if st != tc.state {
				t.Errorf("status %+v, want %+v", st, tc.state)
			}
			job := p.job(t)
			if len(job.data) != 0 {
				t.Errorf("printer received %q, want nothing: the job must not be sent", job.data)
			}
			if !bytes.Equal(job.queries, []byte{1, 4, 2}) {
				t.Errorf("status queries %v, want [1 4 2]", job.queries)
			}
		})
	}
}

func TestPrintToAPrinterThatDoesNotAnswerIsUnreachable(t *testing.T) {
	p := newFakePrinter(t, map[byte]byte{}) // accepts, never replies
	start := time.Now()
	_, err := Print(context.Background(), p.addr(), []byte("job"), 300*time.Millisecond)
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Print error %v, want ErrUnreachable caused by the deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Print took %v with a 300ms timeout", d)
	}
	if job := p.job(t); len(job.data) != 0 {
		t.Errorf("printer received %q, want nothing", job.data)
	}
}

func TestPrintToANonPrinterIsUnreachable(t *testing.T) {
	p := newFakePrinter(t, map[byte]byte{1: 'H', 4: 'T'}) // e.g. an HTTP server on 9100
	_, err := Print(context.Background(), p.addr(), []byte("job"), 2*time.Second)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Print error %v, want ErrUnreachable", err)
	}
	p.job(t)
}

func TestPrintToAClosedPortIsUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Print(context.Background(), addr, []byte("job"), 2*time.Second)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Print error %v, want ErrUnreachable", err)
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "printer_unreachable" {
		t.Errorf("code %v, want printer_unreachable", pe)
	}
}

func TestPrintStopsWhenTheCallerCancels(t *testing.T) {
	p := newFakePrinter(t, map[byte]byte{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := Print(ctx, p.addr(), []byte("job"), time.Minute)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Print error %v, want ErrUnreachable caused by cancellation", err)
	}
	p.job(t)
}

func TestStatusOverAnyReadWriter(t *testing.T) {
	// A printer on USB or serial is just a stream: Status needs no socket.
	conn := &scripted{replies: []byte{offline, paperEnd, causePaper}}
	st, err := Status(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if want := (PrinterStatus{Offline: true, PaperOut: true, PaperNearEnd: true}); st != want {
		t.Errorf("status %+v, want %+v", st, want)
	}
	if want := []byte{0x10, 4, 1, 0x10, 4, 4, 0x10, 4, 2}; !bytes.Equal(conn.sent.Bytes(), want) {
		t.Errorf("sent % x, want % x", conn.sent.Bytes(), want)
	}

	_, err = Status(context.Background(), &scripted{replies: []byte{online}})
	if !errors.Is(err, io.EOF) {
		t.Errorf("short reply: error %v, want io.EOF", err)
	}
	_, err = Status(context.Background(), &scripted{replies: []byte{0xFF}})
	if err == nil {
		t.Error("reply 0xff: want an error, it is not a status byte")
	}
}

type scripted struct {
	sent    bytes.Buffer
	replies []byte
}

func (s *scripted) Write(p []byte) (int, error) { return s.sent.Write(p) }

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.replies) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:1], s.replies)
	s.replies = s.replies[n:]
	return n, nil
}
