package scan

import (
	"image"
	"math"
	"slices"
)

// Finding a 1D barcode at any angle.
//
// gozxing reads a 1D barcode only along pixel rows (and, with TRY_HARDER,
// columns), so a barcode turned by more than about atan(height/length) —
// 11° for the health card — is never crossed end to end. Rather than trying
// the whole frame at many angles, we look for the barcode: a patch of many
// parallel edges. The structure tensor of each cell of the frame tells how
// much edge it holds and how much of it runs one way; neighbouring cells
// whose edges agree are joined, and the strongest such region gives the
// barcode's angle and extent. The region is then sampled along its bars
// (which averages away noise and JPEG blocks) into a few 1D profiles at a
// finer step than the frame's pixels, and those are read by the Code 39
// row decoder directly (see code39.go).

// cellSize is the side of the cells whose edges are summed: small enough
// that a barcode seen from arm's length covers a few cells across its bars
// (54 px for the health card at 480×360), large enough for a cell to hold
// several bars.
const cellSize = 16

// region is where a barcode seems to be: centred at (cx, cy), with its bars
// across the unit vector (ux, uy) — the direction of the gradient — over
// ±halfLen, and along them over ±halfHeight.
type region struct {
	cx, cy              float64
	ux, uy              float64
	halfLen, halfHeight float64
	score               float64
}

type cellTensor struct {
	xx, yy, xy float64 // structure tensor: sums of gx², gy², gx·gy
}

// aniso is λ1−λ2 of the tensor: the energy of edges that run one way.
func (c cellTensor) aniso() float64 {
	d := c.xx - c.yy
	return math.Sqrt(d*d + 4*c.xy*c.xy)
}

// angle is the direction of the dominant gradient, in (−π/2, π/2].
func (c cellTensor) angle() float64 { return 0.5 * math.Atan2(2*c.xy, c.xx-c.yy) }

// Thresholds for a cell to count as part of a barcode: most of its edge
// energy runs one way, it holds a fair share of the strongest cell's, and
// its mean anisotropic gradient is above what JPEG ringing and sensor noise
// on a flat wall produce (gradient energy per pixel, Sobel scale).
const (
	minCoherence     = 0.5
	minShareOfBest   = 0.08
	minEnergyPerPix  = 400
	maxAngleInRegion = 20 * math.Pi / 180
	minCellsInRegion = 4
)

// findBarcodeRegions returns at most n regions that look like 1D barcodes,
// best first.
func findBarcodeRegions(g *image.Gray, n int) []region {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	cw, ch := w/cellSize, h/cellSize
	if cw < 2 || ch < 1 {
		return nil
	}
	cells := make([]cellTensor, cw*ch)
	pix, stride := g.Pix, g.Stride
	for y := 1; y < min(h-1, ch*cellSize); y++ {
		row := cells[(y/cellSize)*cw : (y/cellSize+1)*cw]
		up, mid, down := pix[(y-1)*stride:], pix[y*stride:], pix[(y+1)*stride:]
		for x := 1; x < min(w-1, cw*cellSize); x++ {
			// Sobel.
			gx := int(up[x+1]) + 2*int(mid[x+1]) + int(down[x+1]) - int(up[x-1]) - 2*int(mid[x-1]) - int(down[x-1])
			gy := int(down[x-1]) + 2*int(down[x]) + int(down[x+1]) - int(up[x-1]) - 2*int(up[x]) - int(up[x+1])
			c := &row[x/cellSize]
			c.xx += float64(gx * gx)
			c.yy += float64(gy * gy)
			c.xy += float64(gx * gy)
		}
	}

	best := 0.0
	for _, c := range cells {
		best = max(best, c.aniso())
	}
	floor := max(minEnergyPerPix*cellSize*cellSize, minShareOfBest*best)
	good := make([]bool, len(cells))
	angles := make([]float64, len(cells))
	for i, c := range cells {
		a := c.aniso()
		good[i] = a >= floor && a >= minCoherence*(c.xx+c.yy)
		angles[i] = c.angle()
	}

	// Join neighbouring good cells whose edges agree (angles compared
	// doubled, so that −89° and 89° agree).
	label := make([]int, len(cells))
	for i := range label {
		label[i] = -1
	}
	var regions []region
	var stack []int
	cosMax := math.Cos(2 * maxAngleInRegion)
	for start := range cells {
		if !good[start] || label[start] >= 0 {
			continue
		}
		id := len(regions)
		label[start] = id
		stack = append(stack[:0], start)
		var members []int
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			members = append(members, i)
			x, y := i%cw, i/cw
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= cw || ny >= ch {
						continue
					}
					j := ny*cw + nx
					if !good[j] || label[j] >= 0 || math.Cos(2*(angles[i]-angles[j])) < cosMax {
						continue
					}
					label[j] = id
					stack = append(stack, j)
				}
			}
		}
		regions = append(regions, regionOf(members, cells, cw))
	}
	regions = slices.DeleteFunc(regions, func(r region) bool { return r.score == 0 })
	slices.SortFunc(regions, func(a, b region) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	return regions[:min(n, len(regions))]
}

// regionOf sums the tensors of the member cells for the angle, and projects
// their centres on it for the extent. Too small a region scores zero.
func regionOf(members []int, cells []cellTensor, cw int) region {
	if len(members) < minCellsInRegion {
		return region{}
	}
	var t cellTensor
	var sx, sy, weight float64
	for _, i := range members {
		c := cells[i]
		t.xx += c.xx
		t.yy += c.yy
		t.xy += c.xy
		a := c.aniso()
		sx += a * (float64(i%cw) + 0.5) * cellSize
		sy += a * (float64(i/cw) + 0.5) * cellSize
		weight += a
	}
	th := t.angle()
	r := region{cx: sx / weight, cy: sy / weight, score: t.aniso()}
	r.ux, r.uy = math.Cos(th), math.Sin(th)
	var lo, hi, vlo, vhi float64
	for _, i := range members {
		dx := (float64(i%cw)+0.5)*cellSize - r.cx
		dy := (float64(i/cw)+0.5)*cellSize - r.cy
		u := dx*r.ux + dy*r.uy
		v := -dx*r.uy + dy*r.ux
		lo, hi = min(lo, u), max(hi, u)
		vlo, vhi = min(vlo, v), max(vhi, v)
	}
	// Re-centre on the extent, and widen it by half a cell on each side
	// (cell centres were projected, not their corners).
	mu, mv := (lo+hi)/2, (vlo+vhi)/2
	r.cx += mu*r.ux - mv*r.uy
	r.cy += mu*r.uy + mv*r.ux
	r.halfLen = (hi-lo)/2 + cellSize/2
	r.halfHeight = (vhi-vlo)/2 + cellSize/2
	return r
}

// profile samples g along the region's direction, from u0 to u1 (relative
// to the centre) every step px, averaging across the bars from v0 to v1
// every vstep px. Outside the frame counts as white: a barcode at the edge
// of the frame still gets its quiet zone.
func (r region) profile(g *image.Gray, u0, u1, step, v0, v1, vstep float64) []float64 {
	n := int((u1 - u0) / step)
	if n <= 0 || n > maxProfile {
		return nil
	}
	nv := min(maxAcross, max(1, int((v1-v0)/vstep)))
	vstep = (v1 - v0) / float64(nv)
	out := make([]float64, n)
	for i := range out {
		u := u0 + float64(i)*step
		bx, by := r.cx+u*r.ux, r.cy+u*r.uy
		sum := 0.0
		for k := 0; k <= nv; k++ {
			v := v0 + float64(k)*vstep
			sum += sample(g, bx-v*r.uy, by+v*r.ux)
		}
		out[i] = sum / float64(nv+1)
	}
	return out
}

// maxProfile bounds the samples along a profile, and maxAcross those
// averaged across the bars for each: bounds on the work for a huge frame
// or region (a striped shirt filling a 4-megapixel frame), well above what
// a card in a frame needs.
const (
	maxProfile = 1 << 14
	maxAcross  = 64
)

// sample is bilinear, at pixel centres, white outside g.
func sample(g *image.Gray, x, y float64) float64 {
	x -= 0.5
	y -= 0.5
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := x-x0, y-y0
	ix, iy := int(x0), int(y0)
	w, h := g.Rect.Dx(), g.Rect.Dy()
	at := func(x, y int) float64 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 255
		}
		return float64(g.Pix[y*g.Stride+x])
	}
	top := at(ix, iy)*(1-fx) + at(ix+1, iy)*fx
	bottom := at(ix, iy+1)*(1-fx) + at(ix+1, iy+1)*fx
	return top*(1-fy) + bottom*fy
}

// rotated returns r turned by d radians about its centre.
func (r region) rotated(d float64) region {
	sin, cos := math.Sincos(d)
	r.ux, r.uy = r.ux*cos-r.uy*sin, r.ux*sin+r.uy*cos
	return r
}

// refine corrects the angle of r to within a fraction of a degree. The
// tensor's angle is biased towards the axes for bars only a pixel or two
// wide (the gradient operator is not isotropic that close to the pixel
// pitch) and a couple of degrees off smears the average along the bars, so
// the angle is searched for that gives the sharpest profile.
func (r region) refine(g *image.Gray) region {
	sharpness := func(c region) float64 {
		// Half-pixel steps, differences over a pixel: sampling at one
		// phase only would find the pixel boundaries blurrier than a
		// slight tilt across them.
		p := c.profile(g, -c.halfLen, c.halfLen, max(0.5, c.halfLen/1000), -0.7*c.halfHeight, 0.7*c.halfHeight, 2)
		s := 0.0
		for i := 2; i < len(p); i++ {
			d := p[i] - p[i-2]
			s += d * d
		}
		return s
	}
	best, bestS := r, sharpness(r)
	for _, step := range []float64{1, 0.25} {
		centre := best
		for k := -4; k <= 4; k++ {
			if k == 0 {
				continue
			}
			c := centre.rotated(float64(k) * step * math.Pi / 180)
			if s := sharpness(c); s > bestS {
				best, bestS = c, s
			}
		}
	}
	return best
}
