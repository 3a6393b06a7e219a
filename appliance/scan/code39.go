package scan

import (
	"image"
	"iter"
	"math"
	"slices"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
)

// Where and how each located region is read.
const (
	maxRegions = 4    // candidate regions tried, strongest first
	maxSamples = 2400 // samples along a profile, at most: 3 per pixel up to 800 px
)

// bands are the strips across the bars, as fractions of the region's
// half-height, averaged into one profile each: most of the height first
// (least noise), then thirds (a barcode slightly curved or seen in
// perspective, or a region that took in some text above or below).
var bands = [][2]float64{{-0.7, 0.7}, {-0.3, 0.3}, {-0.9, -0.3}, {0.3, 0.9}}

// binarizations turns a profile sampled at perPx samples per frame pixel
// into rows of bars in a few ways, most often successful first: each copes
// with some blur, contrast or sampling the others do not.
func binarizations(p []float64, perPx float64) iter.Seq[[]bool] {
	return func(yield func([]bool) bool) {
		sharp := sharpen(p, perPx, 1)
		_ = yield(thresholdGlobal(sharp)) &&
			yield(thresholdArea(p, sharp, perPx, 0.1)) &&
			yield(thresholdArea(p, sharp, perPx, 0.05)) &&
			yield(thresholdGlobal(p)) &&
			yield(thresholdGlobal(sharpen(p, perPx, 2)))
	}
}

// readCode39Anywhere finds 1D barcodes at any angle and reads them as Code
// 39, passing each text read to take until take says it is enough.
func readCode39Anywhere(g *image.Gray, take func(string) bool) bool {
	for _, r := range findBarcodeRegions(g, maxRegions) {
		r = r.refine(g)
		// Room for the quiet zone, and for the ends of a barcode whose
		// outer cells were not counted in.
		margin := 0.25*r.halfLen + cellSize
		step := max(1.0/3, 2*(r.halfLen+margin)/maxSamples)
		for _, band := range bands {
			p := r.profile(g, -r.halfLen-margin, r.halfLen+margin, step, band[0]*r.halfHeight, band[1]*r.halfHeight, 1)
			if p == nil {
				continue
			}
			for bars := range binarizations(p, 1/step) {
				if text, ok := decodeCode39Row(bars); ok && take(text) {
					return true
				}
			}
		}
	}
	return false
}

// decodeCode39Row reads a binarized row (true = bar) with gozxing's Code 39
// row decoder, forwards and then backwards (a card held upside down).
func decodeCode39Row(bars []bool) (string, bool) {
	if len(bars) == 0 {
		return "", false
	}
	row := gozxing.NewBitArray(len(bars))
	for i, b := range bars {
		if b {
			row.Set(i)
		}
	}
	for range 2 {
		rd, ok := oned.NewCode39Reader().(oned.RowDecoder)
		if !ok {
			return "", false
		}
		if res, err := rd.DecodeRow(0, row, nil); err == nil && res.GetText() != "" {
			return res.GetText(), true
		}
		row.Reverse()
	}
	return "", false
}

// thresholdGlobal: a bar is darker than halfway between the profile's dark
// and light levels (robust extremes).
func thresholdGlobal(p []float64) []bool {
	s := slices.Clone(p)
	slices.Sort(s)
	lo, hi := s[len(s)*3/100], s[len(s)*97/100]
	if hi-lo < 8 {
		return nil
	}
	t := (lo + hi) / 2
	out := make([]bool, len(p))
	for i, v := range p {
		out[i] = v < t
	}
	return out
}

// extremes finds alternating local maxima and minima of p that stand out
// from their neighbours by at least h (peak detection with hysteresis).
func extremes(p []float64, h float64) []int {
	var ext []int
	hiI, loI := 0, 0
	dir := 0 // 1 while looking for a maximum, −1 for a minimum, 0 at first
	cand := 0
	for i, v := range p {
		switch dir {
		case 0:
			if v > p[hiI] {
				hiI = i
			}
			if v < p[loI] {
				loI = i
			}
			if p[hiI]-v >= h {
				ext, dir, cand = append(ext, hiI), -1, i
			} else if v-p[loI] >= h {
				ext, dir, cand = append(ext, loI), 1, i
			}
		case 1:
			if v > p[cand] {
				cand = i
			} else if p[cand]-v >= h {
				ext, dir, cand = append(ext, cand), -1, i
			}
		case -1:
			if v < p[cand] {
				cand = i
			} else if v-p[cand] >= h {
				ext, dir, cand = append(ext, cand), 1, i
			}
		}
	}
	if dir != 0 {
		ext = append(ext, cand)
	}
	return ext
}

// sharpen subtracts k times a Gaussian blur of σ samples: it undoes part of
// a camera's blur, which shrinks narrow bars' contrast more than wide ones'.
func sharpen(p []float64, sigma, k float64) []float64 {
	r := int(math.Ceil(3 * sigma))
	kern := make([]float64, 2*r+1)
	sum := 0.0
	for i := range kern {
		x := float64(i - r)
		kern[i] = math.Exp(-x * x / (2 * sigma * sigma))
		sum += kern[i]
	}
	out := make([]float64, len(p))
	for i := range p {
		b := 0.0
		for j, kv := range kern {
			idx := min(len(p)-1, max(0, i+j-r))
			b += kv * p[idx]
		}
		out[i] = p[i] + k*(p[i]-b/sum)
	}
	return out
}

// areaRender is how many bits a frame pixel becomes in thresholdArea.
const areaRender = 8

// thresholdArea measures each bar and space by its area rather than by
// where it crosses a threshold: a bar's width is the darkness summed from
// the middle of the space before it to the middle of the space after it
// (and a space's likewise, with lightness, between bars' middles). Blur
// only moves darkness around, so a narrow bar that blur left at half
// contrast, or that fell across two pixels of a small frame, still
// measures about its width, where a threshold would make it much thinner
// or as wide as a wide one. The bars are then drawn anew, areaRender bits
// per frame pixel.
func thresholdArea(p, sharp []float64, perPx, minSwing float64) []bool {
	if len(p) < 3 || len(sharp) != len(p) {
		return nil
	}
	s := slices.Clone(p)
	slices.Sort(s)
	lo, hi := s[len(s)*3/100], s[len(s)*97/100]
	if hi-lo < 8 {
		return nil
	}
	// Bars and spaces are told apart on the sharpened copy, where a narrow
	// one between wide ones still stands out; their areas are measured on
	// p itself (sharpening would add overshoots).
	ext := extremes(sharp, minSwing*(hi-lo))
	if len(ext) < 3 {
		return nil
	}
	dark := func(i int) float64 { return min(1, max(0, (hi-p[i])/(hi-lo))) }
	// Each extreme's element spans from the extreme before it to the one
	// after it (the ends of the profile for the first and last).
	bounds := make([]int, 0, len(ext)+2)
	bounds = append(bounds, 0)
	bounds = append(bounds, ext...)
	bounds = append(bounds, len(p)-1)
	firstIsBar := sharp[ext[0]] < sharp[ext[1]] // extremes alternate
	var out []bool
	pos := 0.0 // in bits
	for k := range ext {
		from, to := bounds[k], bounds[k+2]
		isBar := (k%2 == 0) == firstIsBar
		sum := 0.0
		for i := from; i <= to; i++ {
			v := dark(i)
			if !isBar {
				v = 1 - v
			}
			if i == from || i == to {
				v /= 2 // trapezoid: the ends are shared with the neighbours
			}
			sum += v
		}
		end := pos + sum/perPx*areaRender
		for n := int(math.Round(end)) - len(out); n > 0; n-- {
			out = append(out, isBar)
		}
		pos = end
	}
	return out
}
