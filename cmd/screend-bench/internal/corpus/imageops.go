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

// emptyMargins turns everything outside the normalised box into an empty
// margin (blurred, desaturated, dimmed), feathered over a few percent of the
// image so there is no hard edge.
func emptyMargins(img *image.RGBA, box [4]float64) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	bg := cheapBlur(img, 24)
	feather := 0.025 * float64(max(w, h))
	x1, y1 := box[0]*float64(w), box[1]*float64(h)
	x2, y2 := box[2]*float64(w), box[3]*float64(h)
	for y := range h {
		fy := float64(y) + 0.5
		dy := math.Max(y1-fy, fy-y2)
		for x := range w {
			fx := float64(x) + 0.5
			d := math.Max(dy, math.Max(x1-fx, fx-x2)) // >0 outside the box
			t := clampF((d+feather/2)/feather, 0, 1)  // 0 inside, 1 well outside
			if t == 0 {
				continue
			}
			i := y*img.Stride + x*4
			br, bgc, bb := float64(bg.Pix[i]), float64(bg.Pix[i+1]), float64(bg.Pix[i+2])
			l := 0.299*br + 0.587*bgc + 0.114*bb
			// Margin colour: mostly grey, dimmed.
			mr := 0.75 * (l + 0.3*(br-l))
			mg := 0.75 * (l + 0.3*(bgc-l))
			mb := 0.75 * (l + 0.3*(bb-l))
			p := img.Pix[i : i+3 : i+3]
			p[0] = clamp8((1-t)*float64(p[0]) + t*mr)
			p[1] = clamp8((1-t)*float64(p[1]) + t*mg)
			p[2] = clamp8((1-t)*float64(p[2]) + t*mb)
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

// Reasons a picture is bad (and rejected).
const (
	RejectDark      = "dark"
	RejectBlurred   = "blurred"
	RejectWashedOut = "washed_out"
)

var rejectReasons = []string{RejectDark, RejectBlurred, RejectWashedOut}

// spoil makes a picture bad in the given way and returns the result.
func spoil(img *image.RGBA, reason string) *image.RGBA {
	switch reason {
	case RejectDark:
		mapPixels(img, func(r, g, b float64) (float64, float64, float64) {
			f := func(v float64) float64 { return 255 * 0.2 * math.Pow(v/255, 1.6) }
			return f(r), f(g), f(b)
		})
	case RejectBlurred:
		return cheapBlur(img, 14)
	case RejectWashedOut:
		mapPixels(img, func(r, g, b float64) (float64, float64, float64) {
			l := 0.299*r + 0.587*g + 0.114*b
			f := func(v float64) float64 { return 175 + 0.3*(l+0.4*(v-l)) }
			return f(r), f(g), f(b)
		})
	}
	return img
}
