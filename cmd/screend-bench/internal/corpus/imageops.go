package corpus

import (
	"image"
	"image/draw"
	"math"
	"math/rand/v2"

	xdraw "golang.org/x/image/draw"
)

// All images here are opaque *image.RGBA with Rect.Min at the origin.

// toRGBA converts any image into a new RGBA.
func toRGBA(src image.Image) *image.RGBA {
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Src)
	return dst
}

// resize scales the rectangle r of src to w x h with Catmull-Rom.
func resize(src *image.RGBA, r image.Rectangle, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, r, xdraw.Src, nil)
	return dst
}

// cheapBlur blurs by shrinking by factor and scaling back up bilinearly.
func cheapBlur(src *image.RGBA, factor int) *image.RGBA {
	b := src.Bounds()
	sw, sh := max(1, b.Dx()/factor), max(1, b.Dy()/factor)
	small := image.NewRGBA(image.Rect(0, 0, sw, sh))
	xdraw.ApproxBiLinear.Scale(small, small.Bounds(), src, b, xdraw.Src, nil)
	// A second shrink pass with a box-ish average smooths the aliasing.
	small = boxBlur(small, 2)
	dst := image.NewRGBA(b)
	xdraw.BiLinear.Scale(dst, b, small, small.Bounds(), xdraw.Src, nil)
	return dst
}

// boxBlur is a separable box blur of the given radius.
func boxBlur(src *image.RGBA, radius int) *image.RGBA {
	if radius < 1 {
		return src
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	tmp := make([]uint8, len(src.Pix))
	out := image.NewRGBA(src.Rect)
	n := 2*radius + 1
	// Horizontal.
	for y := range h {
		row := src.Pix[y*src.Stride:]
		trow := tmp[y*src.Stride:]
		for c := range 4 {
			sum := 0
			for k := -radius; k <= radius; k++ {
				sum += int(row[clampInt(k, 0, w-1)*4+c])
			}
			for x := range w {
				trow[x*4+c] = uint8(sum / n)
				sum += int(row[clampInt(x+radius+1, 0, w-1)*4+c]) - int(row[clampInt(x-radius, 0, w-1)*4+c])
			}
		}
	}
	// Vertical.
	for x := range w {
		for c := range 4 {
			sum := 0
			for k := -radius; k <= radius; k++ {
				sum += int(tmp[clampInt(k, 0, h-1)*src.Stride+x*4+c])
			}
			for y := range h {
				out.Pix[y*out.Stride+x*4+c] = uint8(sum / n)
				sum += int(tmp[clampInt(y+radius+1, 0, h-1)*src.Stride+x*4+c]) - int(tmp[clampInt(y-radius, 0, h-1)*src.Stride+x*4+c])
			}
		}
	}
	return out
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func clamp8(v float64) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v + 0.5)
}

// mapPixels applies f to every RGB triple in place.
func mapPixels(img *image.RGBA, f func(r, g, b float64) (float64, float64, float64)) {
	p := img.Pix
	for i := 0; i+3 < len(p); i += 4 {
		r, g, b := f(float64(p[i]), float64(p[i+1]), float64(p[i+2]))
		p[i], p[i+1], p[i+2], p[i+3] = clamp8(r), clamp8(g), clamp8(b), 255
	}
}

// flipH mirrors img horizontally in place.
func flipH(img *image.RGBA) {
	w := img.Rect.Dx()
	for y := range img.Rect.Dy() {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		for l, r := 0, w-1; l < r; l, r = l+1, r-1 {
			for c := range 4 {
				row[l*4+c], row[r*4+c] = row[r*4+c], row[l*4+c]
			}
		}
	}
}

func clampF(v, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, v)) }

// faceSwap makes a visible local change: an ellipse in the upper middle is
// recoloured, smoothed and its content shifted.
func faceSwap(src *image.RGBA, rng *rand.Rand) *image.RGBA {
	img := image.NewRGBA(src.Rect)
	copy(img.Pix, src.Pix)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	cx := float64(w) * (0.42 + 0.16*rng.Float64())
	cy := float64(h) * (0.22 + 0.12*rng.Float64())
	rx := float64(w) * (0.07 + 0.04*rng.Float64())
	ry := rx * (1.2 + 0.2*rng.Float64())
	soft := boxBlur(src, 3)
	shift := int(rx / 3)
	hueR, hueG, hueB := 1+0.25*(rng.Float64()-0.5), 1+0.25*(rng.Float64()-0.5), 1+0.25*(rng.Float64()-0.5)
	for y := max(0, int(cy-ry)); y < min(h, int(cy+ry)+1); y++ {
		for x := max(0, int(cx-rx)); x < min(w, int(cx+rx)+1); x++ {
			dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry
			d := dx*dx + dy*dy
			if d >= 1 {
				continue
			}
			t := clampF((1-d)*3, 0, 1)
			sx := clampInt(x+shift, 0, w-1)
			j := y*soft.Stride + sx*4
			i := y*img.Stride + x*4
			p := img.Pix[i : i+3 : i+3]
			p[0] = clamp8((1-t)*float64(p[0]) + t*float64(soft.Pix[j])*hueR)
			p[1] = clamp8((1-t)*float64(p[1]) + t*float64(soft.Pix[j+1])*hueG)
			p[2] = clamp8((1-t)*float64(p[2]) + t*float64(soft.Pix[j+2])*hueB)
		}
	}
	return img
}

// enhance is stage 3's treatment: unsharp mask and a contrast boost.
func enhance(img *image.RGBA) {
	blur := boxBlur(img, 2)
	p, q := img.Pix, blur.Pix
	for i := 0; i+3 < len(p); i += 4 {
		for c := range 3 {
			v := float64(p[i+c])
			v = v + 0.8*(v-float64(q[i+c]))
			v = 128 + 1.12*(v-128)
			p[i+c] = clamp8(v)
		}
	}
}

// Defects of a broken upscale.
const (
	DefectBlur      = "blur"
	DefectNoise     = "noise"
	DefectColorCast = "color_cast"
	DefectBlocky    = "blocky"
)

var defects = []string{DefectBlur, DefectNoise, DefectColorCast, DefectBlocky}

// breakUpscale applies a visible defect to img and returns the result.
func breakUpscale(img *image.RGBA, defect string, rng *rand.Rand) *image.RGBA {
	switch defect {
	case DefectBlur:
		return cheapBlur(img, 10)
	case DefectNoise:
		p := img.Pix
		for i := 0; i+3 < len(p); i += 4 {
			n := rng.NormFloat64() * 28
			for c := range 3 {
				p[i+c] = clamp8(float64(p[i+c]) + n + rng.NormFloat64()*10)
			}
		}
	case DefectColorCast:
		r, b := 1.3, 0.7
		if rng.IntN(2) == 0 {
			r, b = b, r
		}
		mapPixels(img, func(R, G, B float64) (float64, float64, float64) { return R*r + 10, G * 1.05, B * b })
	case DefectBlocky:
		b := img.Bounds()
		small := image.NewRGBA(image.Rect(0, 0, max(1, b.Dx()/24), max(1, b.Dy()/24)))
		xdraw.ApproxBiLinear.Scale(small, small.Bounds(), img, b, xdraw.Src, nil)
		out := image.NewRGBA(b)
		xdraw.NearestNeighbor.Scale(out, b, small, small.Bounds(), xdraw.Src, nil)
		return out
	}
	return img
}

// Reasons a picture is bad (and rejected): a local malformation of the
// subject, present in every stage.
const (
	RejectWarped   = "warped"   // the subject is twisted out of shape
	RejectDoubled  = "doubled"  // part of the subject appears twice
	RejectMelted   = "melted"   // the subject smears downwards
	RejectBlotched = "blotched" // a garish blotch on the subject
)

var rejectReasons = []string{RejectWarped, RejectDoubled, RejectMelted, RejectBlotched}

// region is an ellipse in pixels.
type region struct{ cx, cy, rx, ry float64 }

// subjectRegion draws where the subject is: the upper middle of the
// picture, the part a curator frames; scale is its radius relative to the
// width.
func subjectRegion(w, h int, rng *rand.Rand, lo, hi float64) region {
	rx := float64(w) * (lo + (hi-lo)*rng.Float64())
	return region{
		cx: float64(w) * (0.38 + 0.24*rng.Float64()),
		cy: float64(h) * (0.22 + 0.3*rng.Float64()),
		rx: rx, ry: rx * (0.9 + 0.5*rng.Float64()),
	}
}

// weight is 1 well inside the ellipse, 0 outside, feathered at its edge.
func (r region) weight(x, y int) float64 {
	dx, dy := (float64(x)+0.5-r.cx)/r.rx, (float64(y)+0.5-r.cy)/r.ry
	return clampF((1-(dx*dx+dy*dy))*3, 0, 1)
}

// blendIn writes src over dst inside the region, feathered.
func blendIn(dst, src *image.RGBA, r region) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	for y := max(0, int(r.cy-r.ry)); y < min(h, int(r.cy+r.ry)+1); y++ {
		for x := max(0, int(r.cx-r.rx)); x < min(w, int(r.cx+r.rx)+1); x++ {
			t := r.weight(x, y)
			if t == 0 {
				continue
			}
			i := y*dst.Stride + x*4
			for c := range 3 {
				dst.Pix[i+c] = clamp8((1-t)*float64(dst.Pix[i+c]) + t*float64(src.Pix[i+c]))
			}
		}
	}
}

// displace returns img with every pixel of the region taken from where f
// says (nearest pixel, clamped to the image).
func displace(img *image.RGBA, r region, f func(x, y float64) (float64, float64)) *image.RGBA {
	out := image.NewRGBA(img.Rect)
	copy(out.Pix, img.Pix)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := max(0, int(r.cy-r.ry)); y < min(h, int(r.cy+r.ry)+1); y++ {
		for x := max(0, int(r.cx-r.rx)); x < min(w, int(r.cx+r.rx)+1); x++ {
			sx, sy := f(float64(x), float64(y))
			j := clampInt(int(sy), 0, h-1)*img.Stride + clampInt(int(sx), 0, w-1)*4
			copy(out.Pix[y*out.Stride+x*4:y*out.Stride+x*4+3], img.Pix[j:j+3])
		}
	}
	return out
}

// minVisible is the smallest mean change (0-255, weighted by the region's
// feathering) a malformation must make to count: a curator rejects what
// they see, and twisting a patch of fog changes nothing.
const minVisible = 12

// malformTries is how many places of the subject malform tries before it
// falls back to a blotch, which is always visible.
const malformTries = 12

// malform spoils the subject of a picture locally in the given way, at the
// first place it tried where the change is visible (minVisible); where no
// place shows it (a flat picture), it blotches instead. It returns the
// reason it applied.
func malform(img *image.RGBA, reason string, rng *rand.Rand) (*image.RGBA, string) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if reason != RejectBlotched {
		for range malformTries {
			r := subjectRegion(w, h, rng, 0.12, 0.2)
			bad := spoil(img, reason, r, rng)
			if visibleChange(img, bad, r) >= minVisible {
				blendIn(img, bad, r)
				return img, reason
			}
		}
	}
	r := subjectRegion(w, h, rng, 0.12, 0.2)
	blendIn(img, spoil(img, RejectBlotched, r, rng), r)
	return img, RejectBlotched
}

// spoil returns img with the region malformed in the given way (not yet
// feathered in).
func spoil(img *image.RGBA, reason string, r region, rng *rand.Rand) *image.RGBA {
	switch reason {
	case RejectWarped:
		turn := (1.5 + rng.Float64()) * float64(1-2*rng.IntN(2))
		return displace(img, r, func(x, y float64) (float64, float64) {
			dx, dy := (x-r.cx)/r.rx, (y-r.cy)/r.ry
			a := turn * math.Max(0, 1-math.Sqrt(dx*dx+dy*dy))
			s, c := math.Sincos(a)
			return r.cx + (dx*c-dy*s)*r.rx, r.cy + (dx*s+dy*c)*r.ry
		})
	case RejectDoubled:
		ox, oy := r.rx*(0.5+0.3*rng.Float64())*float64(1-2*rng.IntN(2)), r.ry*0.3*(rng.Float64()-0.5)
		return displace(img, r, func(x, y float64) (float64, float64) { return x + ox, y + oy })
	case RejectMelted:
		drip := r.ry * (0.6 + 0.4*rng.Float64())
		bad := displace(img, r, func(x, y float64) (float64, float64) {
			return x + 2*math.Sin(y/3), y - drip*math.Max(0, 1-math.Abs(x-r.cx)/r.rx)
		})
		return boxBlur(bad, 2)
	default: // RejectBlotched
		bad := image.NewRGBA(img.Rect)
		copy(bad.Pix, img.Pix)
		k := rng.IntN(3)
		mapPixels(bad, func(R, G, B float64) (float64, float64, float64) {
			v := [3]float64{R * 0.6, G * 0.6, B * 0.6}
			v[k] = 140 + 0.5*v[k]
			return v[0], v[1], v[2]
		})
		return bad
	}
}

// visibleChange is the mean absolute change of the RGB values (0-255)
// between a and b inside the region, weighted by its feathering.
func visibleChange(a, b *image.RGBA, r region) float64 {
	w, h := a.Rect.Dx(), a.Rect.Dy()
	var sum, wsum float64
	for y := max(0, int(r.cy-r.ry)); y < min(h, int(r.cy+r.ry)+1); y++ {
		for x := max(0, int(r.cx-r.rx)); x < min(w, int(r.cx+r.rx)+1); x++ {
			t := r.weight(x, y)
			if t == 0 {
				continue
			}
			i := y*a.Stride + x*4
			for c := range 3 {
				sum += t * math.Abs(float64(a.Pix[i+c])-float64(b.Pix[i+c])) / 3
			}
			wsum += t
		}
	}
	if wsum == 0 {
		return 0
	}
	return sum / wsum
}

// breakLocally applies a defect of a broken upscale to a part of the
// subject (radius 12-22% of the width) and returns the result.
func breakLocally(img *image.RGBA, defect string, rng *rand.Rand) *image.RGBA {
	r := subjectRegion(img.Rect.Dx(), img.Rect.Dy(), rng, 0.12, 0.22)
	orig := image.NewRGBA(img.Rect)
	copy(orig.Pix, img.Pix)
	bad := breakUpscale(img, defect, rng)
	blendIn(orig, bad, r)
	return orig
}

// spreadGrid is the number of luma samples per side spread measures on.
const spreadGrid = 64

// keptFrame is the frame a curator keeps when cropping, normalised
// [x1, y1, x2, y2]: centred, top-anchored, of the median crop area (52%).
var keptFrame = [4]float64{0.139, 0, 0.861, 0.721}

// spread is the share of the picture's detail (luma gradient magnitude on
// a spreadGrid x spreadGrid sample) outside keptFrame; 0.5 for a flat
// picture.
func spread(img *image.RGBA) float64 {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	var luma [spreadGrid][spreadGrid]float64
	for gy := range spreadGrid {
		for gx := range spreadGrid {
			i := (gy*h/spreadGrid)*img.Stride + (gx*w/spreadGrid)*4
			luma[gy][gx] = 0.299*float64(img.Pix[i]) + 0.587*float64(img.Pix[i+1]) + 0.114*float64(img.Pix[i+2])
		}
	}
	var inside, total float64
	for gy := 1; gy < spreadGrid-1; gy++ {
		for gx := 1; gx < spreadGrid-1; gx++ {
			g := math.Abs(luma[gy][gx+1]-luma[gy][gx-1]) + math.Abs(luma[gy+1][gx]-luma[gy-1][gx])
			total += g
			x, y := (float64(gx)+0.5)/spreadGrid, (float64(gy)+0.5)/spreadGrid
			if x >= keptFrame[0] && x < keptFrame[2] && y >= keptFrame[1] && y < keptFrame[3] {
				inside += g
			}
		}
	}
	if total == 0 {
		return 0.5
	}
	return math.Round((1-inside/total)*1e6) / 1e6
}
