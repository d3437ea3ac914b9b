package embed

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
)

// ImageConfig holds the preprocessing settings of an ONNX image encoder, as
// a Hugging Face CLIPImageProcessor reads them from preprocessor_config.json
// (the key of each setting is in its comment). See ImageProcessor for what
// they do.
type ImageConfig struct {
	// Resize enables the resize (do_resize); default true.
	Resize bool `json:"resize"`
	// ShortestEdge is the length of the short side after resizing
	// (size.shortest_edge, or size as a plain number); default 224 when size
	// is absent.
	ShortestEdge int `json:"shortest_edge,omitempty"`
	// LongestEdge caps the long side when resizing by ShortestEdge
	// (size.longest_edge); default 0, no cap.
	LongestEdge int `json:"longest_edge,omitempty"`
	// Height and Width are the exact size after resizing when ShortestEdge
	// is 0 (size.height, size.width).
	Height int `json:"height,omitempty"`
	Width  int `json:"width,omitempty"`
	// CenterCrop enables the centre crop (do_center_crop); default true.
	CenterCrop bool `json:"center_crop"`
	// CropHeight and CropWidth are the crop size (crop_size, a number for a
	// square); default 224×224.
	CropHeight int `json:"crop_height"`
	CropWidth  int `json:"crop_width"`
	// Rescale enables multiplying by RescaleFactor (do_rescale); default
	// true.
	Rescale bool `json:"rescale"`
	// RescaleFactor is rescale_factor; default 1/255.
	RescaleFactor float64 `json:"rescale_factor"`
	// Normalize enables (v-Mean)/Std per channel (do_normalize); default
	// true.
	Normalize bool `json:"normalize"`
	// Mean and Std are image_mean and image_std (RGB); default OpenAI
	// CLIP's (0.48145466, 0.4578275, 0.40821073) and (0.26862954,
	// 0.26130258, 0.27577711).
	Mean [3]float64 `json:"mean"`
	Std  [3]float64 `json:"std"`
	// Resample is PIL's filter number (resample): 1 Lanczos, 2 bilinear,
	// 3 bicubic, 4 box, 5 Hamming; default 3. Nearest (0) is not supported.
	Resample int `json:"resample"`
}

// DefaultImageConfig returns CLIP ViT-B/32's preprocessing: short side to
// 224 with bicubic, centre crop 224×224, 1/255, OpenAI CLIP's mean and std.
func DefaultImageConfig() ImageConfig {
	return ImageConfig{
		Resize: true, ShortestEdge: 224,
		CenterCrop: true, CropHeight: 224, CropWidth: 224,
		Rescale: true, RescaleFactor: 1.0 / 255,
		Normalize: true,
		Mean:      [3]float64{0.48145466, 0.4578275, 0.40821073},
		Std:       [3]float64{0.26862954, 0.26130258, 0.27577711},
		Resample:  3,
	}
}

// maxImageSide bounds the sizes a config may ask for.
const maxImageSide = 8192

// PreprocessorConfigName is the file, beside the model, that NewONNX reads
// the preprocessing from.
const PreprocessorConfigName = "preprocessor_config.json"

// ParseImageConfig parses the JSON of a Hugging Face
// preprocessor_config.json. Keys it does not know are ignored; known keys
// that are absent keep DefaultImageConfig's values.
func ParseImageConfig(data []byte) (ImageConfig, error) {
	var raw struct {
		Size          json.RawMessage `json:"size"`
		CropSize      json.RawMessage `json:"crop_size"`
		DoResize      *bool           `json:"do_resize"`
		DoCenterCrop  *bool           `json:"do_center_crop"`
		DoRescale     *bool           `json:"do_rescale"`
		RescaleFactor *float64        `json:"rescale_factor"`
		DoNormalize   *bool           `json:"do_normalize"`
		ImageMean     json.RawMessage `json:"image_mean"`
		ImageStd      json.RawMessage `json:"image_std"`
		Resample      *int            `json:"resample"`
	}
	p := DefaultImageConfig()
	if err := json.Unmarshal(data, &raw); err != nil {
		return p, fmt.Errorf("parse preprocessing config: %w", err)
	}
	setBool := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	setBool(&p.Resize, raw.DoResize)
	setBool(&p.CenterCrop, raw.DoCenterCrop)
	setBool(&p.Rescale, raw.DoRescale)
	setBool(&p.Normalize, raw.DoNormalize)
	if raw.RescaleFactor != nil {
		p.RescaleFactor = *raw.RescaleFactor
	}
	if raw.Resample != nil {
		p.Resample = *raw.Resample
	}
	if hfIsSet(raw.Size) {
		s, err := hfParseSize(raw.Size)
		if err != nil {
			return p, fmt.Errorf("size: %w", err)
		}
		p.ShortestEdge, p.LongestEdge, p.Height, p.Width = s.ShortestEdge, s.LongestEdge, s.Height, s.Width
		if p.ShortestEdge == 0 && p.Height == 0 {
			return p, errors.New("size: want a number, {\"shortest_edge\": n} or {\"height\": h, \"width\": w}")
		}
	}
	if hfIsSet(raw.CropSize) {
		s, err := hfParseSize(raw.CropSize)
		if err != nil {
			return p, fmt.Errorf("crop_size: %w", err)
		}
		switch {
		case s.Height > 0:
			p.CropHeight, p.CropWidth = s.Height, s.Width
		case s.ShortestEdge > 0: // a plain number: a square
			p.CropHeight, p.CropWidth = s.ShortestEdge, s.ShortestEdge
		default:
			return p, errors.New("crop_size: want a number or {\"height\": h, \"width\": w}")
		}
	}
	var err error
	if hfIsSet(raw.ImageMean) {
		if p.Mean, err = hfParseTriple(raw.ImageMean); err != nil {
			return p, fmt.Errorf("image_mean: %w", err)
		}
	}
	if hfIsSet(raw.ImageStd) {
		if p.Std, err = hfParseTriple(raw.ImageStd); err != nil {
			return p, fmt.Errorf("image_std: %w", err)
		}
	}
	return p, p.Validate()
}

func hfIsSet(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }

type hfSize struct {
	ShortestEdge int `json:"shortest_edge"`
	LongestEdge  int `json:"longest_edge"`
	Height       int `json:"height"`
	Width        int `json:"width"`
}

// hfParseSize reads a Hugging Face size: a plain number (the shortest edge, as
// CLIPImageProcessor reads it) or an object.
func hfParseSize(m json.RawMessage) (hfSize, error) {
	var n int
	if err := json.Unmarshal(m, &n); err == nil {
		return hfSize{ShortestEdge: n}, nil
	}
	var s hfSize
	if err := json.Unmarshal(m, &s); err != nil {
		return s, err
	}
	if (s.Height > 0) != (s.Width > 0) {
		return s, errors.New("height and width go together")
	}
	return s, nil
}

func hfParseTriple(m json.RawMessage) ([3]float64, error) {
	var one float64
	if err := json.Unmarshal(m, &one); err == nil {
		return [3]float64{one, one, one}, nil
	}
	var l []float64
	if err := json.Unmarshal(m, &l); err != nil {
		return [3]float64{}, err
	}
	switch len(l) {
	case 1:
		return [3]float64{l[0], l[0], l[0]}, nil
	case 3:
		return [3]float64{l[0], l[1], l[2]}, nil
	}
	return [3]float64{}, fmt.Errorf("%d values, want 3", len(l))
}

// Validate checks the settings.
func (c ImageConfig) Validate() error {
	if c.Resize {
		if _, ok := pilFilters[c.Resample]; !ok {
			return fmt.Errorf("resample %d: not supported (1 Lanczos, 2 bilinear, 3 bicubic, 4 box, 5 Hamming)", c.Resample)
		}
		if c.ShortestEdge < 0 || c.LongestEdge < 0 || c.Height < 0 || c.Width < 0 ||
			(c.ShortestEdge == 0 && (c.Height == 0 || c.Width == 0)) {
			return errors.New("size: must be positive")
		}
	}
	if c.CenterCrop && (c.CropHeight <= 0 || c.CropWidth <= 0) {
		return errors.New("crop_size: must be positive")
	}
	for _, v := range []int{c.ShortestEdge, c.LongestEdge, c.Height, c.Width, c.CropHeight, c.CropWidth} {
		if v > maxImageSide {
			return fmt.Errorf("size %d: larger than %d", v, maxImageSide)
		}
	}
	if _, _, ok := c.OutputSize(); !ok {
		return errors.New("preprocessing gives images of varying size: " +
			"set do_center_crop, or size as {\"height\", \"width\"}")
	}
	if c.Normalize && (c.Std[0] == 0 || c.Std[1] == 0 || c.Std[2] == 0) {
		return errors.New("image_std: zero")
	}
	return nil
}

// OutputSize returns the height and width of every processed image; ok is
// false when they depend on the image (no centre crop and a resize by the
// shortest edge, or no resize at all).
func (c ImageConfig) OutputSize() (h, w int, ok bool) {
	switch {
	case c.CenterCrop:
		return c.CropHeight, c.CropWidth, true
	case c.Resize && c.ShortestEdge == 0:
		return c.Height, c.Width, true
	}
	return 0, 0, false
}

// ImageProcessor prepares images for an ONNX image encoder the way a Hugging
// Face CLIPImageProcessor (and OpenCLIP's transform) does:
//
//  1. convert to 8-bit RGB (alpha is dropped, as PIL's convert("RGB") does);
//  2. resize so that the short side is ShortestEdge (the long side is
//     int(ShortestEdge*long/short), truncated), or to Height×Width;
//  3. centre crop to CropHeight×CropWidth at offset floor((size-crop)/2)
//     (Hugging Face's rule; torchvision rounds half to even instead), padding
//     with black when the image is smaller;
//  4. rescale by RescaleFactor and normalise with Mean and Std;
//  5. lay the result out as CHW float32.
//
// The resize re-implements PIL's Image.resize on 8-bit images (Pillow's
// Resample.c) instead of approximating it: the filter's support is widened
// by the downscaling factor (antialiasing), weights are normalised and
// turned into 22-bit fixed point, the horizontal pass runs first and is
// rounded and clipped to 8 bits, then the vertical pass. The result equals
// PIL's byte for byte (testdata/pil holds the check). Bicubic is PIL's
// a = -0.5 kernel. golang.org/x/image/draw.CatmullRom uses the same kernel
// and also widens it when downscaling, but keeps unrounded, unclipped
// intermediates between the passes: on the fixtures 15-18% of its values
// are one grey level off PIL's, and up to 16 levels next to hard edges,
// where PIL clips the overshoot of the first pass.
//
// For speed only the part of the resized image that survives the crop is
// computed, each pass is separable with its weights computed once per image,
// source rows are converted to RGB one at a time, and the last step is a
// table lookup.
//
// An ImageProcessor is immutable and safe for concurrent use.
type ImageProcessor struct {
	cfg ImageConfig
	lut [3][256]float32 // 8-bit value to output value, per channel
}

// NewImageProcessor checks cfg and returns its processor.
func NewImageProcessor(cfg ImageConfig) (*ImageProcessor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &ImageProcessor{cfg: cfg}
	for c := range 3 {
		for v := range 256 {
			x := float64(v)
			if cfg.Rescale {
				x *= cfg.RescaleFactor
			}
			if cfg.Normalize {
				x = (x - cfg.Mean[c]) / cfg.Std[c]
			}
			p.lut[c][v] = float32(x)
		}
	}
	return p, nil
}

// LoadImageProcessor reads a Hugging Face preprocessor_config.json.
func LoadImageProcessor(path string) (*ImageProcessor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read preprocessing config: %w", err)
	}
	cfg, err := ParseImageConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewImageProcessor(cfg)
}

// Config returns the processor's settings.
func (p *ImageProcessor) Config() ImageConfig { return p.cfg }

// resizedSize returns the size of an w×h image after step 2, as Hugging
// Face's get_resize_output_image_size computes it.
func (c ImageConfig) resizedSize(w, h int) (rw, rh int) {
	if !c.Resize {
		return w, h
	}
	if c.ShortestEdge == 0 {
		return c.Width, c.Height
	}
	short, long := w, h
	if w > h {
		short, long = h, w
	}
	newShort, newLong := c.ShortestEdge, int(float64(c.ShortestEdge)*float64(long)/float64(short))
	if c.LongestEdge > 0 && newLong > c.LongestEdge {
		newShort, newLong = int(float64(c.LongestEdge)*float64(newShort)/float64(newLong)), c.LongestEdge
	}
	if w <= h {
		return newShort, newLong
	}
	return newLong, newShort
}

// Process runs the preprocessing on img and returns 3×H×W float32 values,
// channel-major (R plane, G plane, B plane), H and W from OutputSize.
func (p *ImageProcessor) Process(img image.Image) ([]float32, error) {
	rgb, w, h, err := p.processRGB(img)
	if err != nil {
		return nil, err
	}
	plane := w * h
	out := make([]float32, 3*plane)
	r, g, b := &p.lut[0], &p.lut[1], &p.lut[2]
	for i := range plane {
		px := rgb[3*i : 3*i+3 : 3*i+3]
		out[i] = r[px[0]]
		out[plane+i] = g[px[1]]
		out[2*plane+i] = b[px[2]]
	}
	return out, nil
}

// processRGB runs steps 1 to 3 and returns packed 8-bit RGB and its size.
func (p *ImageProcessor) processRGB(img image.Image) ([]uint8, int, int, error) {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if sw <= 0 || sh <= 0 {
		return nil, 0, 0, fmt.Errorf("preprocess: empty image (%dx%d)", sw, sh)
	}
	rw, rh := p.cfg.resizedSize(sw, sh)
	if rw <= 0 || rh <= 0 {
		return nil, 0, 0, fmt.Errorf("preprocess: %dx%d image resizes to %dx%d", sw, sh, rw, rh)
	}
	// Window of the resized image kept by the crop; it may stick out of the
	// resized image, where it is black.
	x0, y0, cw, ch := 0, 0, rw, rh
	if p.cfg.CenterCrop {
		cw, ch = p.cfg.CropWidth, p.cfg.CropHeight
		x0, y0 = pilFloorDiv(rw-cw, 2), pilFloorDiv(rh-ch, 2)
	}
	f := pilFilters[p.cfg.Resample]
	if !p.cfg.Resize {
		f = pilFilters[3] // unused: the sizes do not change
	}
	return pilResizeWindow(img, rw, rh, x0, y0, cw, ch, f), cw, ch, nil
}

func pilFloorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// pilFilter is one of PIL's resampling filters.
type pilFilter struct {
	fn      func(float64) float64
	support float64
}

// pilFilters are Pillow's filters (Resample.c), by PIL's resample number.
var pilFilters = map[int]pilFilter{
	1: {pilLanczos, 3},
	2: {pilBilinear, 1},
	3: {pilBicubic, 2},
	4: {pilBox, 0.5},
	5: {pilHamming, 1},
}

func pilBox(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func pilBilinear(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func pilHamming(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x *= math.Pi
	return math.Sin(x) / x * (0.54 + 0.46*math.Cos(x))
}

// pilBicubic is the cubic convolution kernel with a = -0.5.
func pilBicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64((a+2)*x-(a+3))*x*x) + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
	}
	return 0
}

func pilSinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

func pilLanczos(x float64) float64 {
	if -3 <= x && x < 3 {
		return pilSinc(x) * pilSinc(x/3)
	}
	return 0
}

// pilPrecision is Pillow's PRECISION_BITS for 8-bit images.
const pilPrecision = 32 - 8 - 2

// pilCoeffs are the fixed-point weights of one resampling pass, for the
// output positions [first, first+len(start)).
type pilCoeffs struct {
	first int
	start []int     // first input position of each output position
	k     [][]int32 // weights, one per input position from start
}

// pilPrecompute mirrors Pillow's precompute_coeffs and
// normalize_coeffs_8bpc for an in→out pass, for the output positions
// [o0, o1) only.
func pilPrecompute(in, out, o0, o1 int, f pilFilter) pilCoeffs {
	c := pilCoeffs{first: o0, start: make([]int, o1-o0), k: make([][]int32, o1-o0)}
	if in == out { // Pillow skips the pass: identity
		for i := range c.k {
			c.start[i] = o0 + i
			c.k[i] = []int32{1 << pilPrecision}
		}
		return c
	}
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1)
	support := f.support * filterscale
	ss := 1 / filterscale
	w := make([]float64, int(math.Ceil(support))*2+1)
	for i := range c.k {
		xx := o0 + i
		center := (float64(xx) + 0.5) * scale
		xmin := int(center - support + 0.5)
		xmin = max(xmin, 0)
		xmax := min(int(center+support+0.5), in) - xmin
		var ww float64
		for x := 0; x < xmax; x++ {
			w[x] = f.fn((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		k := make([]int32, xmax)
		for x := range k {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int32(-0.5 + v*(1<<pilPrecision))
			} else {
				k[x] = int32(0.5 + v*(1<<pilPrecision))
			}
		}
		c.start[i], c.k[i] = xmin, k
	}
	return c
}

func pilClip8(v int32) uint8 {
	if v >= 1<<pilPrecision<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> pilPrecision)
}

// pilResizeWindow resizes img to rw×rh as PIL does and returns the window
// [x0, x0+cw)×[y0, y0+ch) of the result as packed RGB; the window's parts
// outside the resized image are black.
func pilResizeWindow(img image.Image, rw, rh, x0, y0, cw, ch int, f pilFilter) []uint8 {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	out := make([]uint8, cw*ch*3)

	// Columns and rows of the resized image inside the window.
	cx0, cx1 := max(x0, 0), min(x0+cw, rw)
	cy0, cy1 := max(y0, 0), min(y0+ch, rh)
	if cx0 >= cx1 || cy0 >= cy1 {
		return out
	}
	hc := pilPrecompute(sw, rw, cx0, cx1, f)
	vc := pilPrecompute(sh, rh, cy0, cy1, f)
	nx := cx1 - cx0

	// Source rows the vertical pass reads.
	yFirst := vc.start[0]
	last := len(vc.start) - 1
	yLast := vc.start[last] + len(vc.k[last])

	// Horizontal pass: each needed source row, converted to RGB (only the
	// columns the pass reads), into tmp.
	tmp := make([]uint8, (yLast-yFirst)*nx*3)
	row := make([]uint8, sw*3)
	xFirst := hc.start[0]
	lastX := len(hc.start) - 1
	xLast := hc.start[lastX] + len(hc.k[lastX])
	const half = 1 << (pilPrecision - 1)
	for y := yFirst; y < yLast; y++ {
		pilRGBRow(img, b.Min.Y+y, xFirst, xLast, row)
		dst := tmp[(y-yFirst)*nx*3 : (y-yFirst+1)*nx*3]
		for i, k := range hc.k {
			src := row[hc.start[i]*3:]
			r, g, bl := int32(half), int32(half), int32(half)
			for _, w := range k {
				px := src[:3:3]
				r += int32(px[0]) * w
				g += int32(px[1]) * w
				bl += int32(px[2]) * w
				src = src[3:]
			}
			px := dst[3*i : 3*i+3 : 3*i+3]
			px[0], px[1], px[2] = pilClip8(r), pilClip8(g), pilClip8(bl)
		}
	}

	// Vertical pass, a whole output row at a time.
	acc := make([]int32, nx*3)
	for i, k := range vc.k {
		for j := range acc {
			acc[j] = half
		}
		for t, w := range k {
			srcRow := vc.start[i] + t - yFirst
			src := tmp[srcRow*nx*3 : (srcRow+1)*nx*3]
			for j, v := range src {
				acc[j] += int32(v) * w
			}
		}
		oy := cy0 + i - y0
		dst := out[(oy*cw+cx0-x0)*3 : (oy*cw+cx0-x0+nx)*3]
		for j, v := range acc {
			dst[j] = pilClip8(v)
		}
	}
	return out
}

// pilRGBRow writes the columns [x0, x1) (relative to the bounds) of row y
// (absolute) of img as packed 8-bit RGB into dst (indexed from the left
// edge), dropping alpha like PIL's convert("RGB") (colours are
// un-premultiplied first). The fast paths give the values of
// color.NRGBAModel.Convert, as the generic path does.
func pilRGBRow(img image.Image, y, x0, x1 int, dst []uint8) {
	b := img.Bounds()
	dst = dst[3*x0 : 3*x1]
	switch m := img.(type) {
	case *image.NRGBA:
		src := m.Pix[m.PixOffset(b.Min.X+x0, y):]
		src = src[:4*(x1-x0)]
		for len(dst) >= 3 && len(src) >= 4 {
			dst[0], dst[1], dst[2] = src[0], src[1], src[2]
			dst, src = dst[3:], src[4:]
		}
	case *image.RGBA:
		src := m.Pix[m.PixOffset(b.Min.X+x0, y):]
		src = src[:4*(x1-x0)]
		for len(dst) >= 3 && len(src) >= 4 {
			r, g, bl, a := src[0], src[1], src[2], src[3]
			if a != 255 && a != 0 { // as color.NRGBAModel does
				a16 := uint32(a) * 0x101
				r = uint8(uint32(r) * 0x101 * 0xffff / a16 >> 8)
				g = uint8(uint32(g) * 0x101 * 0xffff / a16 >> 8)
				bl = uint8(uint32(bl) * 0x101 * 0xffff / a16 >> 8)
			}
			dst[0], dst[1], dst[2] = r, g, bl
			dst, src = dst[3:], src[4:]
		}
	case *image.YCbCr:
		pilYCbCrRow(m, y, b.Min.X+x0, b.Min.X+x1, dst)
	case *image.Gray:
		src := m.Pix[m.PixOffset(b.Min.X+x0, y):]
		src = src[:x1-x0]
		for i, v := range src {
			dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
		}
	default:
		for x := x0; x < x1; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, y)).(color.NRGBA)
			i := 3 * (x - x0)
			dst[i], dst[i+1], dst[i+2] = c.R, c.G, c.B
		}
	}
}

// pilYCbCrRow converts the absolute columns [x0, x1) of row y of m, with the
// arithmetic of color.YCbCrToRGB.
func pilYCbCrRow(m *image.YCbCr, y, x0, x1 int, dst []uint8) {
	shift := 0 // horizontal chroma subsampling, as a shift
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
		shift = 1
	case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
		shift = 2
	case image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio440:
	default:
		for x := x0; x < x1; x++ {
			i := 3 * (x - x0)
			dst[i], dst[i+1], dst[i+2] = color.YCbCrToRGB(m.Y[m.YOffset(x, y)], m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)])
		}
		return
	}
	ys := m.Y[m.YOffset(x0, y):]
	ys = ys[:x1-x0]
	// COffset divides by the subsampling factor truncating toward zero;
	// rowC + x/d - minX/d reproduces it for every x.
	d := 1 << shift
	rowC := m.COffset(m.Rect.Min.X, y) - m.Rect.Min.X/d
	clamp := func(v int32) uint8 {
		if uint32(v)&0xff000000 == 0 {
			return uint8(v >> 16)
		}
		return uint8(^(v >> 31))
	}
	for i, yv := range ys {
		ci := rowC + (x0+i)/d
		yy1 := int32(yv) * 0x10101
		cb1 := int32(m.Cb[ci]) - 128
		cr1 := int32(m.Cr[ci]) - 128
		px := dst[3*i : 3*i+3 : 3*i+3]
		px[0] = clamp(yy1 + 91881*cr1)
		px[1] = clamp(yy1 - 22554*cb1 - 46802*cr1)
		px[2] = clamp(yy1 + 116130*cb1)
	}
}
