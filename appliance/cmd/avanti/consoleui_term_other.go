//go:build !linux

package main

import "os"

// The console menu runs on the appliance's Linux; elsewhere it is plain lines.
func isTerminal(*os.File) bool { return false }

func setEcho(*os.File, bool) {}
