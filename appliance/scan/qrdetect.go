package scan

import (
	"cmp"
	"math"
	"slices"

	"github.com/makiuchi-d/gozxing"
	mdetector "github.com/makiuchi-d/gozxing/multi/qrcode/detector"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

// Finding a QR code that gozxing's own detector misses.
//
// gozxing's detector (a port of ZXing's) commits to one guess at each
// step, and a ticket's data modules sometimes mislead it:
//
//   - The finder pattern search scans the rows top down and, once it has
//     confirmed the two top finders, skips ahead and stops at the first
//     third candidate of a similar module size it confirms. A run of data
//     modules that passes for a finder (1:1:3:1:1 across, down and
//     diagonally) lying between the top finders and the bottom-left one ends
//     the scan before it reaches the real one. That happened to 14 of 2000
//     random tickets as rendered (0.7%); the frame then yields "not
//     found", a grid of the wrong dimension or a failed Reed–Solomon
//     check, while the same symbol read as a pure barcode decodes, so the
//     code as printed is sound. No module size avoids such runs (whole
//     pixels per module fail alike), nor does the mask: go-qrcode's choice
//     only makes them rarer, and the detector's tolerance accepts more than
//     the runs masks are scored on.
//   - Of the candidates, it keeps the three closest to an isosceles right
//     triangle, which a card tilted away from the camera no longer is: a
//     false candidate can make a better triangle with two real finders.
//   - It looks for the alignment pattern near where it would be if the
//     code were a parallelogram, and takes the first 1:1:1 ring it
//     confirms, scanning from the middle row outwards. Under perspective
//     the real one is a module or two away and a data pattern nearer the
//     middle row is taken instead. With the second, 3% of random tickets
//     on a card tilted 35° away were not read.
//
// So when the plain reader fails, readQRThoroughly scans every row for
// finder candidates, tries each plausible triple (best first, not just one)
// and, for each, the alignment pattern gozxing picks and then every other
// alignment-like ring around its expected place, nearest first, and the
// grid without one. Only the error correction decides: a wrong grid does
// not pass Reed–Solomon, and what does pass must still be a ticket URL or a
// fiscal code to count. The attempts are bounded, so a frame without a QR
// code costs little more than one more scan of its rows.

// Bounds on the search: enough for a frame holding one code and a few
// finder-like runs in its data or the background.
const (
	maxFinderCandidates    = 10
	maxFinderTriples       = 12
	maxAlignmentCandidates = 8
)

func readQRThoroughly(bmp *gozxing.BinaryBitmap) (text string, ok bool) {
	// gozxing signals some malformed inputs by panicking; here that must
	// not cost the Code 39 reader its turn on the same frame.
	defer func() {
		if recover() != nil {
			text, ok = "", false
		}
	}()
	m, err := bmp.GetBlackMatrix()
	if err != nil {
		return "", false
	}
	// The multi-code finder scans every row to the end, without the early
	// stop; its own choice of triples is too strict for a tilted card (edges
	// within 10% of each other), so only its candidates are used.
	finder := mdetector.NewMultiFinderPatternFinder(m, nil)
	_, _ = finder.FindMulti(hints)
	cands := slices.Clone(finder.GetPossibleCenters())
	// Patterns seen on more rows first: the real finders are big and sharp.
	slices.SortStableFunc(cands, func(a, b *detector.FinderPattern) int { return cmp.Compare(b.GetCount(), a.GetCount()) })
	cands = cands[:min(len(cands), maxFinderCandidates)]

	det := detector.NewDetector(m)
	dec := decoder.NewDecoder()
	decodeBits := func(bits *gozxing.BitMatrix) (string, bool) {
		res, err := dec.Decode(bits, hints)
		if err != nil || res.GetText() == "" {
			return "", false
		}
		return res.GetText(), true
	}
	for _, t := range finderTriples(cands) {
		dr, err := det.ProcessFinderPatternInfo(detector.NewFinderPatternInfo(t.bl, t.tl, t.tr))
		if err != nil {
			continue // no valid dimension: not a QR code's finders
		}
		if text, ok := decodeBits(dr.GetBits()); ok {
			return text, true
		}
		dim := dr.GetBits().GetWidth()
		var tried *detector.AlignmentPattern
		if pts := dr.GetPoints(); len(pts) == 4 {
			tried, _ = pts[3].(*detector.AlignmentPattern)
		}
		for _, ap := range alignmentCandidates(m, t, dim, tried) {
			bits, err := detector.Detector_sampleGrid(m, detector.Detector_createTransform(t.tl, t.tr, t.bl, ap, dim), dim)
			if err != nil {
				continue
			}
			if text, ok := decodeBits(bits); ok {
				return text, true
			}
		}
	}
	return "", false
}

// finderTriple is three finder candidates as a QR code's corners.
type finderTriple struct {
	bl, tl, tr *detector.FinderPattern
	score      float64 // distortion from a square's corners: lower is better
}

// finderTriples returns the triples of cands that could be a QR code's
// finders seen at a slant — similar module sizes, a corner of 60° to 120°,
// sides within a factor 1.6 (a card turned 50° away), a legal number of
// modules across — least distorted first.
func finderTriples(cands []*detector.FinderPattern) []finderTriple {
	var out []finderTriple
	for i := range cands {
		for j := i + 1; j < len(cands); j++ {
			for k := j + 1; k < len(cands); k++ {
				sizes := []float64{cands[i].GetEstimatedModuleSize(), cands[j].GetEstimatedModuleSize(), cands[k].GetEstimatedModuleSize()}
				if slices.Max(sizes) > 1.5*slices.Min(sizes) {
					continue
				}
				a, b, c := gozxing.ResultPoint_OrderBestPatterns(cands[i], cands[j], cands[k])
				t := finderTriple{bl: a.(*detector.FinderPattern), tl: b.(*detector.FinderPattern), tr: c.(*detector.FinderPattern)}
				rx, ry := t.tr.GetX()-t.tl.GetX(), t.tr.GetY()-t.tl.GetY()
				dx, dy := t.bl.GetX()-t.tl.GetX(), t.bl.GetY()-t.tl.GetY()
				top, left := math.Hypot(rx, ry), math.Hypot(dx, dy)
				if top == 0 || left == 0 {
					continue
				}
				cos := (rx*dx + ry*dy) / (top * left)
				ratio := math.Max(top, left) / math.Min(top, left)
				// Module size from the candidates' own estimates, which run
				// along the pixel rows: too large at a slant, so the bound
				// on the module count is loose.
				across := (top + left) / 2 / (sizes[0] + sizes[1] + sizes[2]) * 3
				if math.Abs(cos) > 0.5 || ratio > 1.6 || across < 8 || across > 180 {
					continue
				}
				t.score = math.Abs(cos) + math.Log(ratio)
				out = append(out, t)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b finderTriple) int { return cmp.Compare(a.score, b.score) })
	return out[:min(len(out), maxFinderTriples)]
}

// alignmentCandidates lists the alignment patterns to try for a grid of
// dim modules on t, other than tried (gozxing's pick): the 1:1:1 rings
// found within 6 modules of where the alignment pattern would be on a
// parallelogram, nearest first, then none (the grid from the three finders
// alone). A version 1 code has no alignment pattern.
func alignmentCandidates(m *gozxing.BitMatrix, t finderTriple, dim int, tried *detector.AlignmentPattern) []*detector.AlignmentPattern {
	var out []*detector.AlignmentPattern
	if dim > 21 {
		between := float64(dim - 7) // modules between finder centres
		module := (math.Hypot(t.tr.GetX()-t.tl.GetX(), t.tr.GetY()-t.tl.GetY()) +
			math.Hypot(t.bl.GetX()-t.tl.GetX(), t.bl.GetY()-t.tl.GetY())) / 2 / between
		// As gozxing estimates it: 3 modules in from the fourth corner.
		f := 1 - 3/between
		ex := t.tl.GetX() + f*(t.tr.GetX()-t.tl.GetX()+t.bl.GetX()-t.tl.GetX())
		ey := t.tl.GetY() + f*(t.tr.GetY()-t.tl.GetY()+t.bl.GetY()-t.tl.GetY())
		seen := func(x, y float64) bool {
			if tried != nil && math.Hypot(tried.GetX()-x, tried.GetY()-y) < module {
				return true
			}
			return slices.ContainsFunc(out, func(p *detector.AlignmentPattern) bool {
				return math.Hypot(p.GetX()-x, p.GetY()-y) < module
			})
		}
		// gozxing's finder returns the first ring it confirms in its
		// window, so small windows (5 modules) around a grid of centres
		// turn up each ring in reach in turn.
		half := int(2.5 * module)
		for gy := -6.0; gy <= 6; gy += 2 {
			for gx := -6.0; gx <= 6; gx += 2 {
				cx, cy := int(ex+gx*module), int(ey+gy*module)
				x0, y0 := max(0, cx-half), max(0, cy-half)
				x1, y1 := min(m.GetWidth()-1, cx+half), min(m.GetHeight()-1, cy+half)
				if float64(x1-x0) < 3*module || float64(y1-y0) < 3*module {
					continue
				}
				ap, err := detector.NewAlignmentPatternFinder(m, x0, y0, x1-x0, y1-y0, module, nil).Find()
				if err == nil && !seen(ap.GetX(), ap.GetY()) {
					out = append(out, ap)
				}
			}
		}
		slices.SortStableFunc(out, func(a, b *detector.AlignmentPattern) int {
			return cmp.Compare(math.Hypot(a.GetX()-ex, a.GetY()-ey), math.Hypot(b.GetX()-ex, b.GetY()-ey))
		})
		out = out[:min(len(out), maxAlignmentCandidates)]
	}
	if tried != nil {
		out = append(out, nil) // gozxing found one, so its grid without one was not tried
	}
	return out
}
