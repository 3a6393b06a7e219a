package ticketprint

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// Error is a printer problem a totem shows to the citizen and reports to
// the appliance. Code is stable and machine-readable; Message is English.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// The problems Print reports; test them with errors.Is, read Code with
// errors.As.
var (
	ErrUnreachable = &Error{"printer_unreachable", "the ticket printer cannot be reached or does not answer"}
	ErrOffline     = &Error{"printer_offline", "the ticket printer is offline"}
	ErrPaperOut    = &Error{"printer_paper_out", "the ticket printer is out of paper"}
	ErrCoverOpen   = &Error{"printer_cover_open", "the ticket printer's cover is open"}
)

// PrinterStatus is what the printer's real-time status bytes say.
type PrinterStatus struct {
	Offline      bool // not accepting print data (any of the causes below, or an error)
	CoverOpen    bool
	PaperOut     bool // roll end detected, or printing stopped for lack of paper
	PaperNearEnd bool // still printing: time to load a new roll
	Error        bool // cutter jam, head overheating, other error stopping the printer
}

// Err is nil when a ticket can be printed, otherwise the problem to show
// first: the cover before the paper (an open cover also reads as no paper),
// the paper before a generic offline state.
func (s PrinterStatus) Err() error {
	switch {
	case s.CoverOpen:
		return ErrCoverOpen
	case s.PaperOut:
		return ErrPaperOut
	case s.Offline || s.Error:
		return ErrOffline
	}
	return nil
}

// Real-time status bits (DLE EOT n), Epson ESC/POS. Every reply has bits 1
// and 4 set and bits 0 and 7 clear, which tells a status byte from noise.
const (
	statusFixedMask  = 0x93
	statusFixedValue = 0x12

	printerOffline   = 0x08 // DLE EOT 1
	causeCoverOpen   = 0x04 // DLE EOT 2
	causePaperEnd    = 0x20 // DLE EOT 2: printing stopped for paper end
	causeError       = 0x40 // DLE EOT 2
	paperNearEndBits = 0x0C // DLE EOT 4: both bits set
	paperEndBits     = 0x60 // DLE EOT 4: both bits set
)

// Status asks the printer on conn for its state: DLE EOT 1 (online?), DLE
// EOT 4 (paper sensor) and, only when offline, DLE EOT 2 (why). Real-time
// commands are answered even while the printer is offline or busy.
//
// If conn has deadlines (a net.Conn), ctx's deadline is applied to it and
// cancelling ctx interrupts a pending read; the deadline is left set.
func Status(ctx context.Context, conn io.ReadWriter) (PrinterStatus, error) {
	if dc, ok := conn.(interface{ SetDeadline(time.Time) error }); ok {
		if d, ok := ctx.Deadline(); ok {
			if err := dc.SetDeadline(d); err != nil {
				return PrinterStatus{}, fmt.Errorf("ticketprint: set status deadline: %w", err)
			}
		}
		stop := context.AfterFunc(ctx, func() { dc.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	var st PrinterStatus
	b1, err := query(ctx, conn, 1)
	if err != nil {
		return st, err
	}
	st.Offline = b1&printerOffline != 0
	b4, err := query(ctx, conn, 4)
	if err != nil {
		return st, err
	}
	st.PaperNearEnd = b4&paperNearEndBits == paperNearEndBits
	st.PaperOut = b4&paperEndBits == paperEndBits
	if st.Offline {
		b2, err := query(ctx, conn, 2)
		if err != nil {
			return st, err
		}
		st.CoverOpen = b2&causeCoverOpen != 0
		st.PaperOut = st.PaperOut || b2&causePaperEnd != 0
		st.Error = b2&causeError != 0
	}
	return st, nil
}

// query sends DLE EOT n and reads the one-byte reply.
func query(ctx context.Context, conn io.ReadWriter, n byte) (byte, error) {
	if _, err := conn.Write([]byte{0x10, 0x04, n}); err != nil {
		return 0, fmt.Errorf("ticketprint: send status query DLE EOT %d: %w", n, ctxErr(ctx, err))
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return 0, fmt.Errorf("ticketprint: read reply to DLE EOT %d: %w", n, ctxErr(ctx, err))
	}
	if b[0]&statusFixedMask != statusFixedValue {
		return 0, fmt.Errorf("ticketprint: reply %#02x to DLE EOT %d is not an ESC/POS status byte", b[0], n)
	}
	return b[0], nil
}

// ctxErr prefers the context's reason over the I/O error it caused. The
// connection's deadline is the context's, and it may fire a moment before
// the context's own timer does.
func ctxErr(ctx context.Context, err error) error {
	cause := ctx.Err()
	if d, ok := ctx.Deadline(); cause == nil && ok && !time.Now().Before(d) {
		cause = context.DeadlineExceeded
	}
	if cause != nil {
		return fmt.Errorf("%w (%v)", cause, err)
	}
	return err
}

// DefaultPrintTimeout bounds a whole print job when Print is given none.
const DefaultPrintTimeout = 10 * time.Second

// drainLimit is how long Print waits, after sending a job, for the printer
// to close its side.
const drainLimit = time.Second

// Print sends one job to the raw-printing port of a network printer (addr
// is "host:port", usually port 9100). It asks for the status first and does
// not send the job when the printer cannot print it, so the totem can say
// why at once instead of leaving the citizen without a ticket.
//
// The returned status is valid whenever the query succeeded, also with a
// nil error: PaperNearEnd is worth reporting before the roll runs out.
func Print(ctx context.Context, addr string, data []byte, timeout time.Duration) (PrinterStatus, error) {
	if timeout <= 0 {
		timeout = DefaultPrintTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return PrinterStatus{}, fmt.Errorf("ticketprint: connect to printer %s: %w: %w", addr, ErrUnreachable, err)
	}
	defer conn.Close()

	st, err := Status(ctx, conn)
	if err != nil {
		return st, fmt.Errorf("ticketprint: printer %s status: %w: %w", addr, ErrUnreachable, err)
	}
	if err := st.Err(); err != nil {
		return st, fmt.Errorf("ticketprint: printer %s: %w", addr, err)
	}

	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(data); err != nil {
		return st, fmt.Errorf("ticketprint: send %d-byte job to printer %s: %w: %w", len(data), addr, ErrUnreachable, ctxErr(ctx, err))
	}
	closeGracefully(ctx, conn)
	return st, nil
}

// closeGracefully half-closes the connection and reads until the printer
// closes too. Closing a socket with unread input makes the kernel send a
// reset, which can make the printer drop the tail of the job; unread input
// happens when raster bytes happen to spell a status query and the printer
// answers it.
func closeGracefully(ctx context.Context, conn net.Conn) {
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	deadline := time.Now().Add(drainLimit)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetReadDeadline(deadline)
	io.Copy(io.Discard, conn)
}
