package voice

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Audio is mono 16-bit PCM.
type Audio struct {
	Rate    int     // samples per second
	Samples []int16 // one per frame
}

// Duration is the length of the audio in seconds.
func (a Audio) Duration() float64 {
	if a.Rate == 0 {
		return 0
	}
	return float64(len(a.Samples)) / float64(a.Rate)
}

const (
	formatPCM        = 1
	formatExtensible = 0xFFFE
)

// ParseWAV reads a RIFF/WAVE file of integer PCM (8, 16, 24 or 32 bits, any
// number of channels, mixed down to mono). It walks the chunks rather than
// assuming a 44-byte header: "fmt " may be longer than 16 bytes, other chunks
// (LIST, fact, …) may come before "data", and a streaming writer may leave
// the RIFF and data sizes unset (0 or 0xFFFFFFFF), in which case the data
// runs to the end of the file.
func ParseWAV(b []byte) (Audio, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return Audio{}, errors.New("wav: not a RIFF/WAVE file")
	}
	var (
		haveFmt              bool
		format, channels     int
		rate, bits, blockLen int
	)
	p := 12
	for p+8 <= len(b) {
		id := string(b[p : p+4])
		size := int64(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		body := p + 8
		switch id {
		case "fmt ":
			if size < 16 || int64(body)+size > int64(len(b)) {
				return Audio{}, fmt.Errorf("wav: fmt chunk of %d bytes", size)
			}
			f := b[body:]
			format = int(binary.LittleEndian.Uint16(f[0:2]))
			channels = int(binary.LittleEndian.Uint16(f[2:4]))
			rate = int(binary.LittleEndian.Uint32(f[4:8]))
			blockLen = int(binary.LittleEndian.Uint16(f[12:14]))
			bits = int(binary.LittleEndian.Uint16(f[14:16]))
			if format == formatExtensible && size >= 40 {
				// The sub-format GUID starts with the format code.
				format = int(binary.LittleEndian.Uint16(f[24:26]))
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return Audio{}, errors.New("wav: data chunk before fmt chunk")
			}
			if format != formatPCM {
				return Audio{}, fmt.Errorf("wav: format %#x is not integer PCM", format)
			}
			if channels < 1 || rate < 1000 || rate > 384000 {
				return Audio{}, fmt.Errorf("wav: %d channels at %d Hz", channels, rate)
			}
			width := bits / 8
			if bits%8 != 0 || width < 1 || width > 4 || blockLen != width*channels {
				return Audio{}, fmt.Errorf("wav: %d-bit samples in %d-byte frames of %d channels", bits, blockLen, channels)
			}
			end := int64(body) + size
			if size == 0 || end > int64(len(b)) { // unset by a streaming writer, or truncated
				end = int64(len(b))
			}
			data := b[body:end]
			return Audio{Rate: rate, Samples: mixdown(data, width, channels)}, nil
		}
		p = body + int(size) + int(size&1) // chunks are padded to even sizes
	}
	return Audio{}, errors.New("wav: no data chunk")
}

func mixdown(data []byte, width, channels int) []int16 {
	frame := width * channels
	n := len(data) / frame
	out := make([]int16, n)
	for i := range n {
		var sum int64
		for c := range channels {
			s := data[i*frame+c*width:]
			var v int64
			switch width {
			case 1: // unsigned
				v = (int64(s[0]) - 128) << 8
			case 2:
				v = int64(int16(binary.LittleEndian.Uint16(s)))
			case 3:
				v = int64(int32(uint32(s[0])<<8|uint32(s[1])<<16|uint32(s[2])<<24)) >> 16
			case 4:
				v = int64(int32(binary.LittleEndian.Uint32(s))) >> 16
			}
			sum += v
		}
		out[i] = int16(sum / int64(channels))
	}
	return out
}

// EncodeWAV writes mono 16-bit PCM as a canonical 44-byte-header WAV file.
func EncodeWAV(a Audio) []byte {
	n := len(a.Samples) * 2
	b := make([]byte, 44+n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], formatPCM)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(a.Rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(a.Rate*2))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	for i, s := range a.Samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	return b
}

// The chime: a two-tone "ding-dong", like a doorbell. Each tone is a sine with
// a softer octave partial (which makes it sound like a bell rather than a
// test tone), a short raised-cosine attack, an exponential decay, and a
// raised-cosine release to exactly zero, so nothing clicks at the joins.
const (
	// ChimeVersion names the chime's design. It is part of every cache key:
	// change it whenever the chime, the gap or the joining changes.
	ChimeVersion = "chime-v1"

	dingHz, dongHz   = 880.0, 660.0
	dingSec, dongSec = 0.35, 0.45
	gapSec           = 0.25 // silence between the chime and the speech
	chimePeak        = 0.45 // of full scale; espeak-ng's speech peaks near 0.7
	attackSec        = 0.008
	releaseSec       = 0.04
	speechFadeSec    = 0.004
)

// ChimeDuration is the length of the chime alone, in seconds.
const ChimeDuration = dingSec + dongSec

// Chime is the ding-dong at the given sample rate, without the gap.
func Chime(rate int) []int16 {
	out := make([]int16, 0, int(ChimeDuration*float64(rate))+2)
	out = appendTone(out, rate, dingHz, dingSec, 0.11)
	out = appendTone(out, rate, dongHz, dongSec, 0.16)
	return out
}

func appendTone(out []int16, rate int, hz, sec, tau float64) []int16 {
	n := int(sec * float64(rate))
	for i := range n {
		t := float64(i) / float64(rate)
		env := math.Exp(-t/tau) * fade(t, attackSec) * fade(sec-t-1/float64(rate), releaseSec)
		partial := 0.25 * math.Exp(-t/(tau/2)) * math.Sin(2*math.Pi*2*hz*t)
		v := chimePeak * env * (math.Sin(2*math.Pi*hz*t) + partial) / 1.25
		out = append(out, int16(math.Round(v*32767)))
	}
	return out
}

// fade is a raised-cosine ramp from 0 at t<=0 to 1 at t>=d.
func fade(t, d float64) float64 {
	switch {
	case t <= 0:
		return 0
	case t >= d:
		return 1
	}
	return 0.5 - 0.5*math.Cos(math.Pi*t/d)
}

// announcementAudio is the chime, the gap and the speech, at the speech's
// sample rate. The speech's first and last few milliseconds are faded so
// that its joins cannot click either.
func announcementAudio(speech Audio) Audio {
	rate := speech.Rate
	chime := Chime(rate)
	gap := int(gapSec * float64(rate))
	out := make([]int16, 0, len(chime)+gap+len(speech.Samples))
	out = append(out, chime...)
	out = append(out, make([]int16, gap)...)
	start := len(out)
	out = append(out, speech.Samples...)
	s := out[start:]
	nf := min(int(speechFadeSec*float64(rate)), len(s)/2)
	for i := range nf {
		g := fade(float64(i), float64(nf))
		s[i] = int16(float64(s[i]) * g)
		s[len(s)-1-i] = int16(float64(s[len(s)-1-i]) * g)
	}
	return Audio{Rate: rate, Samples: out}
}
