//! TwinBench scenes: deterministic, ground truth consistent with the pixels.

use dtr1_data::palette::COLORS;
use dtr1_twin::{validate, Mode, Twin};
use dtr1_twinbench::scene::{render, SceneConfig};

fn hue(rgb: [u8; 3]) -> Option<f32> {
    let [r, g, b] = rgb.map(|v| f32::from(v) / 255.0);
    let (mx, mn) = (r.max(g).max(b), r.min(g).min(b));
    let d = mx - mn;
    // Highlights and deep shadows carry no usable hue.
    if d < 0.12 || mx < 0.15 {
        return None;
    }
    let h = if mx == r {
        ((g - b) / d).rem_euclid(6.0)
    } else if mx == g {
        (b - r) / d + 2.0
    } else {
        (r - g) / d + 4.0
    };
    Some(h * 60.0)
}

#[test]
fn same_seed_same_bytes_other_seed_other_scene() {
    let cfg = SceneConfig::default();
    let (a, b) = (render(&cfg, 11).unwrap(), render(&cfg, 11).unwrap());
    assert_eq!(a.png(), b.png());
    assert_eq!(a.objects, b.objects);
    assert_ne!(render(&cfg, 12).unwrap().png(), a.png());
}

#[test]
fn masks_agree_with_rendered_pixels() {
    let cfg = SceneConfig::default();
    for seed in 0..20 {
        let s = render(&cfg, seed).unwrap();
        assert!(
            (3..=15).contains(&s.objects.len()),
            "seed {seed}: {} objects",
            s.objects.len()
        );
        let (w, h) = (s.image.width() as usize, s.image.height() as usize);
        let mut seen = vec![false; w * h];
        for o in &s.objects {
            assert!(
                o.mask.area() >= cfg.min_visible_area,
                "seed {seed} object {}",
                o.id
            );
            let want = COLORS.iter().find(|c| c.0 == o.color).unwrap().1;
            let want_hue = hue(want.map(|v| (v * 255.0) as u8)).unwrap();
            let (mut ok, mut counted) = (0, 0);
            for (i, &m) in o.mask.decode_row_major().iter().enumerate() {
                if m == 0 {
                    continue;
                }
                assert!(!seen[i], "seed {seed}: masks overlap at pixel {i}");
                seen[i] = true;
                let p = s.image.get_pixel((i % w) as u32, (i / w) as u32).0;
                if let Some(hh) = hue(p) {
                    counted += 1;
                    let d = (hh - want_hue).abs();
                    ok += usize::from(d.min(360.0 - d) < 25.0);
                }
            }
            assert!(
                counted > 0 && ok * 100 >= counted * 90,
                "seed {seed} object {} ({}): {ok}/{counted} pixels have its hue",
                o.id,
                o.color
            );
        }
    }
}

#[test]
fn depth_agrees_with_occlusion_and_the_twin_is_strictly_valid() {
    for seed in 0..10 {
        let s = render(&SceneConfig::default(), seed).unwrap();
        // Painted far to near: ids increase as objects get nearer.
        assert!(
            s.objects.windows(2).all(|p| p[0].z >= p[1].z),
            "seed {seed}"
        );
        let twin = s.twin(6);
        validate(&Twin::Image(twin.clone()), Mode::Strict)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        for (o, t) in s.objects.iter().zip(&twin.objects) {
            let d = t.depth.unwrap();
            assert!(
                (d.mean - (0.1 + 0.9 * f64::from(o.z))).abs() < 0.03,
                "seed {seed} object {}",
                o.id
            );
        }
    }
}

#[test]
fn absurd_parameters_are_errors() {
    let bad = [
        SceneConfig {
            width: 10,
            ..Default::default()
        },
        SceneConfig {
            min_objects: 0,
            ..Default::default()
        },
        SceneConfig {
            min_objects: 5,
            max_objects: 4,
            ..Default::default()
        },
        SceneConfig {
            max_objects: 1000,
            ..Default::default()
        },
    ];
    for cfg in bad {
        assert!(render(&cfg, 1).is_err(), "{cfg:?}");
    }
}
