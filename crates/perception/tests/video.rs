//! Video input: frame directories, video files (with the `ffmpeg` feature), and the whole
//! per-frame perception + tracking path on a TwinBench clip written as PNG frames.

use dtr1_perception::pipeline::{PerceptionConfig, Pipeline};
use dtr1_perception::video::{self, VideoConfig};
use dtr1_perception::video_eval::evaluate;
use dtr1_twinbench::video::{render, ClipConfig};
use image::{Rgb, RgbImage};
use std::path::PathBuf;

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dtr1-video-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn frame_directories_are_read_in_numeric_order() {
    let d = scratch("order");
    // Written out of order, with names that sort wrongly as text (10 before 2).
    for k in [10u8, 2, 1, 0] {
        RgbImage::from_pixel(8, 6, Rgb([k * 20, 0, 0]))
            .save(d.join(format!("frame_{k}.png")))
            .unwrap();
    }
    std::fs::write(d.join("notes.txt"), "not a frame").unwrap();
    let mut src = video::open(&d, Some(5.0)).unwrap();
    assert_eq!(src.dimensions(), (8, 6));
    assert_eq!(src.len_hint(), Some(4));
    assert_eq!(src.fps(), Some(5.0));
    let mut reds = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        reds.push(f.get_pixel(0, 0).0[0]);
    }
    assert_eq!(reds, [0, 20, 40, 200]);
}

#[test]
fn bad_frame_directories_are_errors() {
    let d = scratch("bad");
    let e = video::open(&d, None)
        .err()
        .expect("an empty directory fails");
    assert!(e.to_string().contains("no frame images"), "{e}");
    RgbImage::new(8, 6).save(d.join("a_0.png")).unwrap();
    RgbImage::new(9, 6).save(d.join("a_1.png")).unwrap();
    let mut src = video::open(&d, None).unwrap();
    src.next_frame().unwrap();
    let e = src.next_frame().unwrap_err();
    assert!(e.to_string().contains("first frame is 8x6"), "{e}");
    std::fs::write(d.join("a_2.png"), b"not a png").unwrap();
    assert!(video::open(&d.join("missing"), None).is_err());
    assert!(video::open(&d, Some(0.0)).is_err());
    assert!(video::open(&d, Some(f64::NAN)).is_err());
}

#[test]
fn a_clip_as_png_frames_becomes_a_tracked_video_twin() {
    // The pixels backend on every frame, then the tracker: the identities must hold.
    let clip = render(&ClipConfig::default(), 1_000_001).unwrap();
    let truth = clip.twin();
    let d = scratch("clip");
    for (f, img) in clip.frames.iter().enumerate() {
        img.save(d.join(format!("frame_{f:03}.png"))).unwrap();
    }
    let pipeline = Pipeline::from_config(&PerceptionConfig::with_backend("pixels")).unwrap();
    let mut src = video::open(&d, Some(clip.fps)).unwrap();
    let mut seen = 0;
    let out = video::perceive(
        src.as_mut(),
        &pipeline,
        &VideoConfig::default(),
        &|f| f % 8 == 0,
        &mut |n| seen = n,
    )
    .unwrap();
    assert_eq!(seen, 32);
    assert_eq!(
        out.kept.iter().map(|k| k.0).collect::<Vec<_>>(),
        [0, 8, 16, 24]
    );
    let twin = out.twin;
    assert_eq!(
        (twin.width, twin.height, twin.frames, twin.fps),
        (320, 240, 32, 10.0)
    );
    let s = evaluate(&twin, &truth, 0.5, 2).unwrap();
    assert!(s.track_recall() >= 0.75, "{s:?}");
    assert!(s.id_switches <= 1, "{s:?}");
}

#[cfg(not(feature = "ffmpeg"))]
#[test]
fn video_files_need_the_ffmpeg_feature() {
    let d = scratch("nofeature");
    std::fs::write(d.join("v.mp4"), b"whatever").unwrap();
    let e = video::open(&d.join("v.mp4"), None).err().unwrap();
    assert!(e.to_string().contains("ffmpeg"), "{e}");
}

/// A YUV4MPEG2 file (4:4:4, full planes): FFmpeg demuxes and decodes it like any video.
#[cfg(feature = "ffmpeg")]
fn write_y4m(path: &std::path::Path, frames: &[Vec<u8>], w: usize, h: usize) {
    let mut out = format!("YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C444\n").into_bytes();
    for y in frames {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(y);
        out.extend(std::iter::repeat_n(128u8, 2 * w * h));
    }
    std::fs::write(path, out).unwrap();
}

#[cfg(feature = "ffmpeg")]
#[test]
fn video_files_decode_with_ffmpeg() {
    let d = scratch("y4m");
    let (w, h) = (32usize, 24usize);
    // Five gray frames getting brighter, each with a white square moving right.
    let frames: Vec<Vec<u8>> = (0..5)
        .map(|k| {
            let mut y = vec![40 + 20 * k as u8; w * h];
            for yy in 4..10 {
                for xx in 2 + 4 * k..8 + 4 * k {
                    y[yy * w + xx] = 235;
                }
            }
            y
        })
        .collect();
    let p = d.join("clip.y4m");
    write_y4m(&p, &frames, w, h);
    let mut src = video::open(&p, None).unwrap();
    assert_eq!(src.dimensions(), (32, 24));
    assert_eq!(src.fps(), Some(25.0));
    let mut got = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        got.push(f);
    }
    assert_eq!(got.len(), 5);
    for (k, f) in got.iter().enumerate() {
        // Limited-range luma: 235 is white, gray levels keep their order.
        let sq = f.get_pixel(4 + 4 * k as u32, 6).0;
        assert!(sq.iter().all(|&c| c >= 245), "frame {k}: {sq:?}");
        let bg = f.get_pixel(30, 20).0[0];
        if k > 0 {
            assert!(bg > got[k - 1].get_pixel(30, 20).0[0], "frame {k}");
        }
    }
    // The rate can be overridden.
    assert_eq!(video::open(&p, Some(3.0)).unwrap().fps(), Some(3.0));
}

#[cfg(feature = "ffmpeg")]
#[test]
fn corrupt_video_files_are_errors() {
    let d = scratch("corrupt");
    let p = d.join("broken.mp4");
    std::fs::write(&p, vec![7u8; 4096]).unwrap();
    let e = video::open(&p, None).err().expect("garbage is not a video");
    assert!(e.to_string().contains("broken.mp4"), "{e}");
    assert!(video::open(&d.join("absent.mp4"), None).is_err());
}
