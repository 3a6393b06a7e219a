package main

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal reports whether f is a terminal (the console's tty, not a
// pipe in a test).
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	return ioctl(f, syscall.TCGETS, &t) == nil
}

// setEcho turns the terminal's echo on or off (off while a password is typed).
func setEcho(f *os.File, on bool) {
	var t syscall.Termios
	if ioctl(f, syscall.TCGETS, &t) != nil {
		return
	}
	if on {
		t.Lflag |= syscall.ECHO
	} else {
		t.Lflag &^= syscall.ECHO
	}
	ioctl(f, syscall.TCSETS, &t)
}

func ioctl(f *os.File, req uintptr, t *syscall.Termios) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(unsafe.Pointer(t))); e != 0 {
		return e
	}
	return nil
}
