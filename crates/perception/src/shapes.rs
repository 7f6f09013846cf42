//! Shape models for the `pixels` backend: the silhouettes of the TwinBench shape classes in an
//! object's local box, and the ground-plane camera that fixes an object's box from where it
//! stands.
//!
//! These are the *models* a recogniser fits to what it sees (analysis by synthesis), written
//! from the scene description in `docs/twinbench.md` and `dtr1_twinbench::scene`: an object of
//! shape `s` and size factor `k` standing on image row `base` has a box of height
//! `0.32·H·k / (1 + 1.6 z)` and width `height · aspect(s)`, where the distance `z` follows
//! from `base = horizon + (H − horizon)·(1 − z)^1.4`. A test checks the silhouettes against
//! rendered ground-truth masks, so a drift of the renderer shows up there.

/// The shape classes (the labels TwinBench twins use).
pub use dtr1_data::palette::SHAPES;

/// Physical size classes and their scale factors (TwinBench's `size` attribute).
pub use dtr1_data::palette::SIZES;

/// Width of a shape's box relative to its height (the renderer's own table).
pub use dtr1_data::palette::aspect;

/// Whether local point `(u, v)` lies on the silhouette of `shape`: `u ∈ [-1, 1]` across the
/// box, `v ∈ [0, 1]` from its top to its bottom.
pub fn inside(shape: &str, u: f32, v: f32) -> bool {
    SHAPES
        .iter()
        .position(|s| *s == shape)
        .is_some_and(|i| inside_index(i, u, v))
}

/// [`inside`] for the shape `SHAPES[shape]`: the renderer's own silhouette
/// ([`dtr1_data::palette::surface`]), so the model cannot drift from what is drawn.
pub fn inside_index(shape: usize, u: f32, v: f32) -> bool {
    SHAPES
        .get(shape)
        .is_some_and(|s| dtr1_data::palette::surface(s, u, v).is_some())
}

/// The ground-plane camera of TwinBench renders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Image height in pixels.
    pub height: f32,
    /// Horizon row as a fraction of the height.
    pub horizon: f32,
}

impl Camera {
    /// The camera of an image `height` rows tall with the horizon at `horizon × height`.
    pub fn new(height: u32, horizon: f32) -> Self {
        Camera {
            height: height as f32,
            horizon,
        }
    }

    fn horizon_row(&self) -> f32 {
        self.horizon * self.height
    }

    /// The row an object at distance `z` stands on.
    pub fn base_row(&self, z: f32) -> f32 {
        let h0 = self.horizon_row();
        h0 + (self.height - h0) * (1.0 - z.clamp(0.0, 1.0)).powf(1.4)
    }

    /// The distance (0 = nearest, 1 = horizon) of the ground at image row `row`.
    pub fn distance(&self, row: f32) -> f32 {
        let h0 = self.horizon_row();
        let t = ((row - h0) / (self.height - h0)).clamp(0.0, 1.0);
        1.0 - t.powf(1.0 / 1.4)
    }

    /// Box height of an object with size factor `k` standing on row `base`.
    pub fn box_height(&self, k: f32, base: f32) -> f32 {
        0.32 * self.height * k / (1.0 + 1.6 * self.distance(base))
    }

    /// The base row of an object of size factor `k` whose box top is at row `top`
    /// (`top = base − box_height(base)` solved by bisection; the left side grows with `base`).
    pub fn base_from_top(&self, k: f32, top: f32) -> f32 {
        let (mut lo, mut hi) = (top.max(self.horizon_row()), self.height * 2.0);
        for _ in 0..30 {
            let mid = 0.5 * (lo + hi);
            if mid - self.box_height(k, mid) < top {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// Relative depth as TwinBench writes it for an object at distance `z`: `0.1 + 0.9 z`.
    pub fn depth(z: f32) -> f32 {
        0.1 + 0.9 * z
    }
}

/// A placed silhouette: shape, box centre column, base row, box width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Index into [`SHAPES`].
    pub shape: usize,
    /// Index into [`SIZES`].
    pub size: usize,
    /// Box centre column.
    pub cx: f32,
    /// Row the object stands on (exclusive bottom of its box).
    pub base: f32,
    /// Box width.
    pub w: f32,
    /// Box height.
    pub h: f32,
}

impl Placement {
    /// The pixel range `[x0, x1) × [y0, y1)` the silhouette may cover, clipped to the image.
    pub fn pixel_box(&self, width: usize, height: usize) -> (usize, usize, usize, usize) {
        let x0 = (self.cx - self.w / 2.0).floor().max(0.0) as usize;
        let x1 = ((self.cx + self.w / 2.0).ceil().max(0.0) as usize).min(width);
        let y0 = (self.base - self.h).floor().max(0.0) as usize;
        let y1 = (self.base.ceil().max(0.0) as usize).min(height);
        (x0, x1.max(x0), y0, y1.max(y0))
    }

    /// Whether pixel `(x, y)` (its centre) is on the silhouette.
    pub fn covers(&self, x: usize, y: usize) -> bool {
        let u = (x as f32 + 0.5 - self.cx) / (self.w / 2.0);
        let v = (y as f32 + 0.5 - (self.base - self.h)) / self.h;
        inside_index(self.shape, u, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_round_trips() {
        let cam = Camera::new(320, 0.3);
        for z in [0.0f32, 0.2, 0.5, 0.9] {
            let b = cam.base_row(z);
            assert!((cam.distance(b) - z).abs() < 1e-4, "{z}");
            let h = cam.box_height(1.4, b);
            assert!((cam.base_from_top(1.4, b - h) - b).abs() < 0.01, "{z}");
        }
    }

    #[test]
    fn silhouettes_fill_their_boxes_as_expected() {
        // Fill fractions on a 200×200 grid: a disc is π/4 of its box, a torus 3π/16.
        let fill = |s: &str| {
            let n = 200;
            let mut c = 0;
            for i in 0..n {
                for j in 0..n {
                    let u = -1.0 + 2.0 * (i as f32 + 0.5) / n as f32;
                    let v = (j as f32 + 0.5) / n as f32;
                    c += usize::from(inside(s, u, v));
                }
            }
            c as f32 / (n * n) as f32
        };
        assert!((fill("sphere") - std::f32::consts::FRAC_PI_4).abs() < 0.01);
        assert!((fill("torus") - 3.0 * std::f32::consts::PI / 16.0).abs() < 0.01);
        assert!(fill("cube") > 0.8 && fill("cone") < 0.55);
    }
}
