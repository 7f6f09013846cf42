//! CPU kernels, NHWC as TF.js lays tensors out. Errors are plain messages; the executor adds
//! the node and op they happened in.

use crate::tensor::{Data, Tensor};
use std::sync::Arc;

type R<T> = std::result::Result<T, String>;

/// Convolution padding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Padding {
    /// No padding.
    Valid,
    /// TensorFlow SAME: output = ceil(input / stride), the extra padding at the end.
    Same,
    /// Explicit `[top, bottom, left, right]`.
    Explicit([usize; 4]),
}

/// Strides, dilations and padding of a 2-D convolution.
#[derive(Debug, Clone, Copy)]
pub struct ConvAttr {
    /// `[height, width]` strides.
    pub strides: [usize; 2],
    /// `[height, width]` dilations.
    pub dilations: [usize; 2],
    /// The padding mode.
    pub padding: Padding,
}

/// Activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Act {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
    /// x for x > 0, alpha·x otherwise.
    Leaky(f32),
    /// x for x > 0, exp(x) − 1 otherwise.
    Elu,
    /// 1 / (1 + exp(−x)).
    Sigmoid,
    /// tanh(x).
    Tanh,
    /// Per-channel leaky slope given as an extra input.
    Prelu,
}

/// What fused ops add after a convolution or product.
#[derive(Debug, Clone, Copy, Default)]
pub struct Epilogue {
    /// A bias (the first extra input) is added per output channel.
    pub bias: bool,
    /// The activation applied last.
    pub act: Act,
}

/// Element-wise binary ops with NumPy broadcasting.
#[derive(Debug, Clone, Copy)]
pub enum BinOp {
    /// a + b.
    Add,
    /// a − b.
    Sub,
    /// a · b.
    Mul,
    /// a / b.
    Div,
    /// max(a, b).
    Max,
    /// min(a, b).
    Min,
}

/// Element-wise unary ops.
#[derive(Debug, Clone, Copy)]
pub enum UnOp {
    /// An activation.
    Act(Act),
    /// x².
    Square,
    /// √x.
    Sqrt,
    /// 1/√x.
    Rsqrt,
    /// eˣ.
    Exp,
    /// −x.
    Neg,
}

use crate::graph::Op;

fn own(t: Arc<Tensor>) -> Tensor {
    Arc::try_unwrap(t).unwrap_or_else(|a| (*a).clone())
}

fn floats(t: &Tensor) -> R<&[f32]> {
    t.as_f32()
        .ok_or_else(|| format!("expected a float32 tensor, got {}", t.dtype()))
}

fn ints(t: &Tensor) -> R<Vec<i64>> {
    match &t.data {
        Data::I32(v) => Ok(v.iter().map(|&x| x as i64).collect()),
        _ => Err(format!("expected an int32 tensor, got {}", t.dtype())),
    }
}

fn scalar_int(t: &Tensor) -> R<i64> {
    let v = ints(t)?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(format!("expected a scalar, got shape {:?}", t.shape)),
    }
}

fn axis(a: i64, rank: usize) -> R<usize> {
    let r = rank as i64;
    let x = if a < 0 { a + r } else { a };
    if x < 0 || x >= r.max(1) {
        Err(format!("axis {a} out of range for rank {rank}"))
    } else {
        Ok(x as usize)
    }
}

fn rank4(t: &Tensor, what: &str) -> R<[usize; 4]> {
    match t.shape.as_slice() {
        &[a, b, c, d] => Ok([a, b, c, d]),
        s => Err(format!("{what} must be rank 4 (NHWC), got shape {s:?}")),
    }
}

fn f32_tensor(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
    Tensor {
        shape,
        data: Data::F32(data),
    }
}

/// Applies a layout function to whatever dtype the tensor holds.
macro_rules! any_dtype {
    ($t:expr, |$v:ident| $body:expr) => {
        match &$t.data {
            Data::F32($v) => Data::F32($body),
            Data::I32($v) => Data::I32($body),
            Data::Bool($v) => Data::Bool($body),
        }
    };
}

/// Runs one op on its inputs.
pub(crate) fn execute(op: &Op, mut args: Vec<Arc<Tensor>>, threads: usize) -> R<Vec<Tensor>> {
    let one = |t: Tensor| Ok(vec![t]);
    match op {
        Op::Const(t) => one((**t).clone()),
        Op::Placeholder => Err("placeholder was not fed".into()),
        Op::Identity => {
            if args.is_empty() {
                return Ok(Vec::new());
            }
            one(own(args.swap_remove(0)))
        }
        Op::Conv2D(a, epi) => one(conv2d(&args[0], &args[1], a, *epi, &args[2..], threads)?),
        Op::Depthwise(a, epi) => one(depthwise(&args[0], &args[1], a, *epi, &args[2..])?),
        Op::ConvTranspose(a) => one(conv_transpose(&args[0], &args[1], &args[2], a, threads)?),
        Op::MatMul { ta, tb, epi } => one(matmul_op(
            &args[0],
            &args[1],
            *ta,
            *tb,
            *epi,
            &args[2..],
            threads,
        )?),
        Op::BiasAdd => {
            let b = args.pop().ok_or("missing bias")?;
            let mut x = own(args.swap_remove(0));
            apply_epilogue(
                &mut x,
                Epilogue {
                    bias: true,
                    act: Act::None,
                },
                &[b],
            )?;
            one(x)
        }
        Op::Binary(b) => {
            let rhs = args.pop().ok_or("missing operand")?;
            let lhs = args.pop().ok_or("missing operand")?;
            one(binary(lhs, &rhs, *b)?)
        }
        Op::AddN => {
            let mut it = args.into_iter();
            let mut acc = own(it.next().ok_or("AddN without inputs")?);
            for t in it {
                acc = binary(Arc::new(acc), &t, BinOp::Add)?;
            }
            one(acc)
        }
        Op::Unary(u) => {
            let mut x = own(args.swap_remove(0));
            let Data::F32(v) = &mut x.data else {
                return Err(format!("expected a float32 tensor, got {}", x.dtype()));
            };
            unary(v, *u);
            one(x)
        }
        Op::Pool { max, k, s, pad } => one(pool(&args[0], *max, *k, *s, *pad)?),
        Op::Resize {
            bilinear,
            align_corners,
            half_pixel,
        } => {
            let size = ints(&args[1])?;
            let [h, w] = size.as_slice() else {
                return Err(format!("size must hold 2 values, got {size:?}"));
            };
            if *h < 1 || *w < 1 {
                return Err(format!("size {size:?} must be positive"));
            }
            one(resize(
                &args[0],
                *h as usize,
                *w as usize,
                *bilinear,
                *align_corners,
                *half_pixel,
            )?)
        }
        Op::Concat => {
            let ax = args.pop().ok_or("missing axis")?;
            one(concat(&args, scalar_int(&ax)?)?)
        }
        Op::Reshape => {
            let shape = ints(&args[1])?;
            let mut x = own(args.swap_remove(0));
            x.shape = reshape_dims(x.len(), &shape)?;
            one(x)
        }
        Op::Squeeze(dims) => {
            let mut x = own(args.swap_remove(0));
            let rank = x.shape.len();
            let dims: Vec<usize> = dims.iter().map(|&d| axis(d, rank)).collect::<R<_>>()?;
            let mut shape = Vec::new();
            for (i, &d) in x.shape.iter().enumerate() {
                let drop = if dims.is_empty() {
                    d == 1
                } else {
                    dims.contains(&i)
                };
                if drop && d != 1 {
                    return Err(format!("cannot squeeze dimension {i} of size {d}"));
                }
                if !drop {
                    shape.push(d);
                }
            }
            x.shape = shape;
            one(x)
        }
        Op::ExpandDims => {
            let a = scalar_int(&args[1])?;
            let mut x = own(args.swap_remove(0));
            let ax = axis(a, x.shape.len() + 1)?;
            x.shape.insert(ax, 1);
            one(x)
        }
        Op::Transpose => {
            let perm = ints(&args[1])?;
            one(transpose(&args[0], &perm)?)
        }
        Op::Pad => {
            let value = match args.get(2) {
                Some(c) => *floats(c)?.first().ok_or("empty constant_values")?,
                None => 0.0,
            };
            one(pad(&args[0], &ints(&args[1])?, value)?)
        }
        Op::Split(k) => {
            let ax = scalar_int(&args[0])?;
            let x = &args[1];
            let ax = axis(ax, x.shape.len())?;
            if !x.shape[ax].is_multiple_of(*k) {
                return Err(format!(
                    "dimension {} is not divisible into {k} parts",
                    x.shape[ax]
                ));
            }
            split(x, ax, &vec![x.shape[ax] / k; *k])
        }
        Op::SplitV => {
            let x = &args[0];
            let ax = axis(scalar_int(&args[2])?, x.shape.len())?;
            let mut sizes = ints(&args[1])?;
            let known: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
            let unknown = sizes.iter().filter(|&&s| s < 0).count();
            if unknown > 1 {
                return Err("more than one -1 in size_splits".into());
            }
            for s in sizes.iter_mut().filter(|s| **s < 0) {
                *s = x.shape[ax] as i64 - known;
            }
            if sizes.iter().any(|&s| s < 0) || sizes.iter().sum::<i64>() != x.shape[ax] as i64 {
                return Err(format!(
                    "size_splits {sizes:?} do not add up to {}",
                    x.shape[ax]
                ));
            }
            let sizes: Vec<usize> = sizes.iter().map(|&s| s as usize).collect();
            split(x, ax, &sizes)
        }
        Op::SparseToDense => one(sparse_to_dense(&args[0], &args[1], &args[2], &args[3])?),
        Op::Slice => {
            let x = &args[0];
            let begin = ints(&args[1])?;
            let size = ints(&args[2])?;
            if begin.len() != x.shape.len() || size.len() != x.shape.len() {
                return Err(format!(
                    "begin {begin:?} / size {size:?} do not fit shape {:?}",
                    x.shape
                ));
            }
            let mut spec = Vec::with_capacity(begin.len());
            for (d, (&b, &s)) in begin.iter().zip(&size).enumerate() {
                let dim = x.shape[d] as i64;
                let e = if s < 0 { dim } else { b + s };
                if b < 0 || e > dim || e < b {
                    return Err(format!("slice [{b}, {e}) out of range for dimension {dim}"));
                }
                spec.push((b, e - b, 1));
            }
            one(gather_slices(x, &spec, x.shape.len(), &[])?)
        }
        Op::StridedSlice {
            begin_mask,
            end_mask,
            shrink_mask,
        } => {
            let x = &args[0];
            let (b, e, st) = (ints(&args[1])?, ints(&args[2])?, ints(&args[3])?);
            let r = x.shape.len();
            if b.len() != e.len() || b.len() != st.len() || b.len() > r {
                return Err(format!(
                    "begin {b:?}, end {e:?}, strides {st:?} do not fit shape {:?}",
                    x.shape
                ));
            }
            let mut spec = Vec::with_capacity(r);
            let mut drop = Vec::new();
            for d in 0..r {
                let dim = x.shape[d] as i64;
                if d >= b.len() {
                    spec.push((0, dim, 1));
                    continue;
                }
                let s = st[d];
                if s == 0 {
                    return Err("stride 0".into());
                }
                let norm = |v: i64| if v < 0 { v + dim } else { v };
                if shrink_mask >> d & 1 == 1 {
                    let i = norm(b[d]);
                    if !(0..dim).contains(&i) {
                        return Err(format!("index {} out of range for dimension {dim}", b[d]));
                    }
                    spec.push((i, 1, 1));
                    drop.push(d);
                    continue;
                }
                // TensorFlow clamps begin/end into range (to −1 … dim−1 for negative strides).
                let (lo, hi) = if s > 0 { (0, dim) } else { (-1, dim - 1) };
                let start = if begin_mask >> d & 1 == 1 {
                    if s > 0 {
                        lo
                    } else {
                        hi
                    }
                } else {
                    norm(b[d]).clamp(lo, hi)
                };
                let stop = if end_mask >> d & 1 == 1 {
                    if s > 0 {
                        hi
                    } else {
                        lo
                    }
                } else {
                    norm(e[d]).clamp(lo, hi)
                };
                let count = if s > 0 {
                    (stop - start + s - 1).div_euclid(s)
                } else {
                    (start - stop - s - 1).div_euclid(-s)
                };
                spec.push((start, count.max(0), s));
            }
            one(gather_slices(x, &spec, r, &drop)?)
        }
    }
}

// ---------------------------------------------------------------- matrix products

/// C (m×n, row-major, overwritten) = A (m×k) · B (k×n), with A and B given by their element
/// strides so transposed operands need no copy.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    c: &mut [f32],
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].fill(0.0);
        return;
    }
    assert!(a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
    assert!(b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
    assert!(c.len() >= m * n);
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index gemm touches inside the three slices, and
    // `c` is exclusively borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[inline]
fn activate(x: f32, act: Act) -> f32 {
    match act {
        Act::None | Act::Prelu => x,
        Act::Relu => x.max(0.0),
        Act::Relu6 => x.clamp(0.0, 6.0),
        Act::Leaky(a) => {
            if x > 0.0 {
                x
            } else {
                a * x
            }
        }
        Act::Elu => {
            if x > 0.0 {
                x
            } else {
                x.exp() - 1.0
            }
        }
        Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Act::Tanh => x.tanh(),
    }
}

fn apply_epilogue(x: &mut Tensor, epi: Epilogue, extra: &[Arc<Tensor>]) -> R<()> {
    let c = *x.shape.last().ok_or("scalar output")?;
    let Data::F32(v) = &mut x.data else {
        return Err("expected float32".into());
    };
    let mut extra = extra.iter();
    if epi.bias {
        let b = floats(extra.next().ok_or("missing bias input")?)?;
        if b.len() != c {
            return Err(format!("bias has {} values for {c} channels", b.len()));
        }
        for row in v.chunks_exact_mut(c) {
            for (y, &bb) in row.iter_mut().zip(b) {
                *y += bb;
            }
        }
    }
    match epi.act {
        Act::None => {}
        Act::Prelu => {
            let a = floats(extra.next().ok_or("missing prelu alpha input")?)?;
            if a.len() != c {
                return Err(format!(
                    "prelu alpha has {} values for {c} channels",
                    a.len()
                ));
            }
            for row in v.chunks_exact_mut(c) {
                for (y, &aa) in row.iter_mut().zip(a) {
                    if *y < 0.0 {
                        *y *= aa;
                    }
                }
            }
        }
        act => v.iter_mut().for_each(|y| *y = activate(*y, act)),
    }
    Ok(())
}

/// Output size and leading padding of one spatial dimension.
fn out_dim(
    input: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: Padding,
    begin: usize,
    end: usize,
) -> R<(usize, usize)> {
    let dk = (k - 1) * dilation + 1;
    match pad {
        Padding::Valid => {
            if input < dk {
                return Err(format!(
                    "input size {input} smaller than the kernel extent {dk}"
                ));
            }
            Ok(((input - dk) / stride + 1, 0))
        }
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + dk).saturating_sub(input);
            Ok((out, total / 2))
        }
        Padding::Explicit(_) => {
            let padded = input + begin + end;
            if padded < dk {
                return Err(format!(
                    "padded size {padded} smaller than the kernel extent {dk}"
                ));
            }
            Ok(((padded - dk) / stride + 1, begin))
        }
    }
}

fn explicit(p: Padding) -> [usize; 4] {
    match p {
        Padding::Explicit(e) => e,
        _ => [0; 4],
    }
}

fn conv2d(
    x: &Tensor,
    f: &Tensor,
    a: &ConvAttr,
    epi: Epilogue,
    extra: &[Arc<Tensor>],
    threads: usize,
) -> R<Tensor> {
    let [n, h, w, c] = rank4(x, "input")?;
    let [kh, kw, fc, co] = rank4(f, "filter")?;
    if fc != c {
        return Err(format!("filter expects {fc} input channels, input has {c}"));
    }
    let xs = floats(x)?;
    let fs = floats(f)?;
    let e = explicit(a.padding);
    let (oh, pt) = out_dim(h, kh, a.strides[0], a.dilations[0], a.padding, e[0], e[1])?;
    let (ow, pl) = out_dim(w, kw, a.strides[1], a.dilations[1], a.padding, e[2], e[3])?;
    let mut out = vec![0f32; n * oh * ow * co];
    let k = kh * kw * c;
    let pointwise =
        kh == 1 && kw == 1 && a.strides == [1, 1] && pt == 0 && pl == 0 && oh == h && ow == w;
    if pointwise {
        // A 1×1 convolution is one product of the pixels (rows) with the filter.
        gemm(n * h * w, co, c, xs, c, 1, fs, co, 1, &mut out, threads);
    } else {
        // im2col a band of output rows at a time so the column matrix stays in cache.
        let band = (262_144 / (ow * k).max(1)).clamp(1, oh);
        let mut col = vec![0f32; band * ow * k];
        for b in 0..n {
            let img = &xs[b * h * w * c..(b + 1) * h * w * c];
            let mut y0 = 0;
            while y0 < oh {
                let rows = band.min(oh - y0);
                for r in 0..rows {
                    let oy = y0 + r;
                    for ox in 0..ow {
                        let dst = &mut col[(r * ow + ox) * k..(r * ow + ox + 1) * k];
                        for ky in 0..kh {
                            let iy =
                                (oy * a.strides[0] + ky * a.dilations[0]) as isize - pt as isize;
                            for kx in 0..kw {
                                let ix = (ox * a.strides[1] + kx * a.dilations[1]) as isize
                                    - pl as isize;
                                let d = &mut dst[(ky * kw + kx) * c..(ky * kw + kx + 1) * c];
                                if iy < 0 || iy >= h as isize || ix < 0 || ix >= w as isize {
                                    d.fill(0.0);
                                } else {
                                    let s = (iy as usize * w + ix as usize) * c;
                                    d.copy_from_slice(&img[s..s + c]);
                                }
                            }
                        }
                    }
                }
                let o = ((b * oh + y0) * ow) * co;
                gemm(
                    rows * ow,
                    co,
                    k,
                    &col,
                    k,
                    1,
                    fs,
                    co,
                    1,
                    &mut out[o..o + rows * ow * co],
                    threads,
                );
                y0 += rows;
            }
        }
    }
    let mut t = f32_tensor(vec![n, oh, ow, co], out);
    apply_epilogue(&mut t, epi, extra)?;
    Ok(t)
}

fn depthwise(
    x: &Tensor,
    f: &Tensor,
    a: &ConvAttr,
    epi: Epilogue,
    extra: &[Arc<Tensor>],
) -> R<Tensor> {
    let [n, h, w, c] = rank4(x, "input")?;
    let [kh, kw, fc, m] = rank4(f, "filter")?;
    if fc != c {
        return Err(format!("filter expects {fc} input channels, input has {c}"));
    }
    let xs = floats(x)?;
    let fs = floats(f)?;
    let e = explicit(a.padding);
    let (oh, pt) = out_dim(h, kh, a.strides[0], a.dilations[0], a.padding, e[0], e[1])?;
    let (ow, pl) = out_dim(w, kw, a.strides[1], a.dilations[1], a.padding, e[2], e[3])?;
    let co = c * m;
    let mut out = vec![0f32; n * oh * ow * co];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let o = ((b * oh + oy) * ow + ox) * co;
                let dst = &mut out[o..o + co];
                for ky in 0..kh {
                    let iy = (oy * a.strides[0] + ky * a.dilations[0]) as isize - pt as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = (ox * a.strides[1] + kx * a.dilations[1]) as isize - pl as isize;
                        if ix < 0 || ix >= w as isize {
                            continue;
                        }
                        let s = ((b * h + iy as usize) * w + ix as usize) * c;
                        let src = &xs[s..s + c];
                        let fw = &fs[(ky * kw + kx) * co..(ky * kw + kx + 1) * co];
                        if m == 1 {
                            for ((d, &v), &wt) in dst.iter_mut().zip(src).zip(fw) {
                                *d += v * wt;
                            }
                        } else {
                            for (ci, &v) in src.iter().enumerate() {
                                for j in 0..m {
                                    dst[ci * m + j] += v * fw[ci * m + j];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let mut t = f32_tensor(vec![n, oh, ow, co], out);
    apply_epilogue(&mut t, epi, extra)?;
    Ok(t)
}

/// Conv2DBackpropInput: the transposed convolution producing `sizes` from `dy`.
fn conv_transpose(
    sizes: &Tensor,
    f: &Tensor,
    dy: &Tensor,
    a: &ConvAttr,
    threads: usize,
) -> R<Tensor> {
    let s = ints(sizes)?;
    let [n, h, w, co] = match s.as_slice() {
        &[n, h, w, c] if n > 0 && h > 0 && w > 0 && c > 0 => {
            [n as usize, h as usize, w as usize, c as usize]
        }
        _ => return Err(format!("input_sizes {s:?} must be 4 positive values")),
    };
    let [kh, kw, fco, ci] = rank4(f, "filter")?;
    let [dn, dh, dw, dc] = rank4(dy, "out_backprop")?;
    if fco != co || ci != dc || dn != n {
        return Err(format!(
            "filter {:?}, out_backprop {:?} and input_sizes {s:?} disagree",
            f.shape, dy.shape
        ));
    }
    let e = explicit(a.padding);
    let (eh, pt) = out_dim(h, kh, a.strides[0], 1, a.padding, e[0], e[1])?;
    let (ew, pl) = out_dim(w, kw, a.strides[1], 1, a.padding, e[2], e[3])?;
    if (eh, ew) != (dh, dw) {
        return Err(format!(
            "out_backprop is {dh}×{dw}, the forward convolution gives {eh}×{ew}"
        ));
    }
    let fs = floats(f)?;
    let ds = floats(dy)?;
    let kk = kh * kw * co;
    let mut col = vec![0f32; dh * dw * kk];
    let mut out = vec![0f32; n * h * w * co];
    for b in 0..n {
        // col[p, (ky,kx,o)] = Σ_i dy[p, i] · filter[ky,kx,o,i]
        let d = &ds[b * dh * dw * ci..(b + 1) * dh * dw * ci];
        gemm(dh * dw, kk, ci, d, ci, 1, fs, 1, ci, &mut col, threads);
        let img = &mut out[b * h * w * co..(b + 1) * h * w * co];
        for y in 0..dh {
            for x in 0..dw {
                let p = y * dw + x;
                for ky in 0..kh {
                    let oy = (y * a.strides[0] + ky) as isize - pt as isize;
                    if oy < 0 || oy >= h as isize {
                        continue;
                    }
                    for kx in 0..kw {
                        let ox = (x * a.strides[1] + kx) as isize - pl as isize;
                        if ox < 0 || ox >= w as isize {
                            continue;
                        }
                        let dst = &mut img[(oy as usize * w + ox as usize) * co..][..co];
                        let src = &col[p * kk + (ky * kw + kx) * co..][..co];
                        for (o, &v) in dst.iter_mut().zip(src) {
                            *o += v;
                        }
                    }
                }
            }
        }
    }
    Ok(f32_tensor(vec![n, h, w, co], out))
}

fn matmul_op(
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    epi: Epilogue,
    extra: &[Arc<Tensor>],
    threads: usize,
) -> R<Tensor> {
    let (&[ar, ac], &[br, bc]) = (a.shape.as_slice(), b.shape.as_slice()) else {
        return Err(format!(
            "MatMul needs rank-2 operands, got {:?} and {:?}",
            a.shape, b.shape
        ));
    };
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let (k2, n) = if tb { (bc, br) } else { (br, bc) };
    if k != k2 {
        return Err(format!(
            "inner dimensions differ: {:?} · {:?}",
            a.shape, b.shape
        ));
    }
    let (a_rs, a_cs) = if ta { (1, ac) } else { (ac, 1) };
    let (b_rs, b_cs) = if tb { (1, bc) } else { (bc, 1) };
    let mut out = vec![0f32; m * n];
    gemm(
        m,
        n,
        k,
        floats(a)?,
        a_rs,
        a_cs,
        floats(b)?,
        b_rs,
        b_cs,
        &mut out,
        threads,
    );
    let mut t = f32_tensor(vec![m, n], out);
    apply_epilogue(&mut t, epi, extra)?;
    Ok(t)
}

// ---------------------------------------------------------------- element-wise

fn broadcast_shape(a: &[usize], b: &[usize]) -> R<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!("shapes {a:?} and {b:?} do not broadcast"));
        };
    }
    Ok(out)
}

/// Element strides of `shape` read as `out` (0 along broadcast dimensions).
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let r = out.len();
    let mut strides = vec![0; r];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        let oi = i + r - shape.len();
        strides[oi] = if shape[i] == 1 { 0 } else { s };
        s *= shape[i];
    }
    strides
}

#[inline]
fn bin(op: BinOp, a: f32, b: f32) -> f32 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Max => a.max(b),
        BinOp::Min => a.min(b),
    }
}

#[inline]
fn bin_i(op: BinOp, a: i32, b: i32) -> R<i32> {
    Ok(match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::Div => {
            if b == 0 {
                return Err("integer division by zero".into());
            }
            a / b
        }
        BinOp::Max => a.max(b),
        BinOp::Min => a.min(b),
    })
}

/// Visits `out` in order, handing each innermost run to `f(out_offset, a_offset, b_offset,
/// len)` along with the inner strides of a and b.
fn broadcast_walk(
    out: &[usize],
    sa: &[usize],
    sb: &[usize],
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    let r = out.len();
    if r == 0 {
        f(0, 0, 0, 1);
        return;
    }
    let inner = out[r - 1];
    let outer: usize = out[..r - 1].iter().product();
    let mut idx = vec![0usize; r - 1];
    let (mut oa, mut ob) = (0usize, 0usize);
    for o in 0..outer {
        f(o * inner, oa, ob, inner);
        for d in (0..r - 1).rev() {
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < out[d] {
                break;
            }
            oa -= sa[d] * out[d];
            ob -= sb[d] * out[d];
            idx[d] = 0;
        }
    }
}

fn binary(a: Arc<Tensor>, b: &Tensor, op: BinOp) -> R<Tensor> {
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    match (&a.data, &b.data) {
        (Data::F32(_), Data::F32(bv)) => {
            // Reuse a's buffer when it already has the output's shape.
            let mut x = if a.shape == shape {
                own(a)
            } else {
                (*a).clone()
            };
            let c = shape.last().copied().unwrap_or(1);
            let per_channel = b.len() == c && b.shape.last() == Some(&c) && c > 1;
            if x.shape == shape && (b.len() == 1 || b.shape == shape || per_channel) {
                let Data::F32(xv) = &mut x.data else {
                    unreachable!()
                };
                if per_channel && b.shape != shape {
                    for row in xv.chunks_exact_mut(c) {
                        row.iter_mut()
                            .zip(bv)
                            .for_each(|(v, &w)| *v = bin(op, *v, w));
                    }
                } else if b.len() == 1 {
                    let s = bv[0];
                    xv.iter_mut().for_each(|v| *v = bin(op, *v, s));
                } else {
                    xv.iter_mut()
                        .zip(bv)
                        .for_each(|(v, &w)| *v = bin(op, *v, w));
                }
                return Ok(x);
            }
            let av = floats(&x)?;
            let sa = broadcast_strides(&x.shape, &shape);
            let sb = broadcast_strides(&b.shape, &shape);
            let (ia, ib) = (sa[shape.len() - 1], sb[shape.len() - 1]);
            let mut out = vec![0f32; shape.iter().product()];
            broadcast_walk(&shape, &sa, &sb, |o, oa, ob, len| {
                for i in 0..len {
                    out[o + i] = bin(op, av[oa + i * ia], bv[ob + i * ib]);
                }
            });
            Ok(f32_tensor(shape, out))
        }
        (Data::I32(av), Data::I32(bv)) => {
            let sa = broadcast_strides(&a.shape, &shape);
            let sb = broadcast_strides(&b.shape, &shape);
            let r = shape.len();
            let (ia, ib) = if r == 0 {
                (0, 0)
            } else {
                (sa[r - 1], sb[r - 1])
            };
            let mut out = vec![0i32; shape.iter().product()];
            let mut err = None;
            broadcast_walk(&shape, &sa, &sb, |o, oa, ob, len| {
                for i in 0..len {
                    match bin_i(op, av[oa + i * ia], bv[ob + i * ib]) {
                        Ok(v) => out[o + i] = v,
                        Err(e) => err = Some(e),
                    }
                }
            });
            if let Some(e) = err {
                return Err(e);
            }
            Ok(Tensor {
                shape,
                data: Data::I32(out),
            })
        }
        _ => Err(format!(
            "operands have different dtypes ({} and {})",
            a.dtype(),
            b.dtype()
        )),
    }
}

fn unary(v: &mut [f32], u: UnOp) {
    match u {
        UnOp::Act(a) => v.iter_mut().for_each(|x| *x = activate(*x, a)),
        UnOp::Square => v.iter_mut().for_each(|x| *x *= *x),
        UnOp::Sqrt => v.iter_mut().for_each(|x| *x = x.sqrt()),
        UnOp::Rsqrt => v.iter_mut().for_each(|x| *x = 1.0 / x.sqrt()),
        UnOp::Exp => v.iter_mut().for_each(|x| *x = x.exp()),
        UnOp::Neg => v.iter_mut().for_each(|x| *x = -*x),
    }
}

// ---------------------------------------------------------------- pooling and resizing

fn pool(x: &Tensor, max: bool, k: [usize; 2], s: [usize; 2], pad: Padding) -> R<Tensor> {
    let [n, h, w, c] = rank4(x, "input")?;
    let xs = floats(x)?;
    let (oh, pt) = out_dim(h, k[0], s[0], 1, pad, 0, 0)?;
    let (ow, pl) = out_dim(w, k[1], s[1], 1, pad, 0, 0)?;
    let mut out = vec![0f32; n * oh * ow * c];
    let mut acc = vec![0f32; c];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                acc.fill(if max { f32::NEG_INFINITY } else { 0.0 });
                let mut count = 0usize;
                for ky in 0..k[0] {
                    let iy = (oy * s[0] + ky) as isize - pt as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..k[1] {
                        let ix = (ox * s[1] + kx) as isize - pl as isize;
                        if ix < 0 || ix >= w as isize {
                            continue;
                        }
                        count += 1;
                        let src = &xs[((b * h + iy as usize) * w + ix as usize) * c..][..c];
                        if max {
                            acc.iter_mut().zip(src).for_each(|(a, &v)| *a = a.max(v));
                        } else {
                            acc.iter_mut().zip(src).for_each(|(a, &v)| *a += v);
                        }
                    }
                }
                let dst = &mut out[((b * oh + oy) * ow + ox) * c..][..c];
                if max {
                    dst.copy_from_slice(&acc);
                } else {
                    // TensorFlow averages over the window's pixels inside the image only.
                    let inv = 1.0 / count.max(1) as f32;
                    dst.iter_mut().zip(&acc).for_each(|(d, &a)| *d = a * inv);
                }
            }
        }
    }
    Ok(f32_tensor(vec![n, oh, ow, c], out))
}

/// Source coordinate of output index `i` (TensorFlow's convention, shared by TF.js).
fn source(i: usize, scale: f32, half_pixel: bool) -> f32 {
    if half_pixel {
        (i as f32 + 0.5) * scale - 0.5
    } else {
        i as f32 * scale
    }
}

fn resize_scale(input: usize, output: usize, align_corners: bool) -> f32 {
    if align_corners && output > 1 {
        (input - 1) as f32 / (output - 1) as f32
    } else {
        input as f32 / output as f32
    }
}

/// Resizes an NHWC float tensor to `oh × ow` with TensorFlow's ResizeBilinear or
/// ResizeNearestNeighbor semantics (`align_corners`, `half_pixel_centers`).
pub fn resize(
    x: &Tensor,
    oh: usize,
    ow: usize,
    bilinear: bool,
    align_corners: bool,
    half_pixel: bool,
) -> R<Tensor> {
    let [n, h, w, c] = rank4(x, "input")?;
    let xs = floats(x)?;
    let sy = resize_scale(h, oh, align_corners);
    let sx = resize_scale(w, ow, align_corners);
    let mut out = vec![0f32; n * oh * ow * c];
    if bilinear {
        let taps = |i: usize, scale: f32, size: usize| {
            let f = source(i, scale, half_pixel);
            let lo = f.floor();
            let l = (lo.max(0.0) as usize).min(size - 1);
            let u = (f.ceil().max(0.0) as usize).min(size - 1);
            (l, u, f - lo)
        };
        let xt: Vec<(usize, usize, f32)> = (0..ow).map(|i| taps(i, sx, w)).collect();
        for b in 0..n {
            for oy in 0..oh {
                let (y0, y1, fy) = taps(oy, sy, h);
                for (ox, &(x0, x1, fx)) in xt.iter().enumerate() {
                    let p = |y: usize, xx: usize| &xs[((b * h + y) * w + xx) * c..][..c];
                    let (tl, tr, bl, br) = (p(y0, x0), p(y0, x1), p(y1, x0), p(y1, x1));
                    let dst = &mut out[((b * oh + oy) * ow + ox) * c..][..c];
                    for ch in 0..c {
                        let top = tl[ch] + (tr[ch] - tl[ch]) * fx;
                        let bot = bl[ch] + (br[ch] - bl[ch]) * fx;
                        dst[ch] = top + (bot - top) * fy;
                    }
                }
            }
        }
    } else {
        let near = |i: usize, scale: f32, size: usize| {
            let f = if half_pixel {
                (i as f32 + 0.5) * scale
            } else {
                i as f32 * scale
            };
            let j = if align_corners { f.round() } else { f.floor() };
            (j.max(0.0) as usize).min(size - 1)
        };
        for b in 0..n {
            for oy in 0..oh {
                let iy = near(oy, sy, h);
                for ox in 0..ow {
                    let ix = near(ox, sx, w);
                    out[((b * oh + oy) * ow + ox) * c..][..c]
                        .copy_from_slice(&xs[((b * h + iy) * w + ix) * c..][..c]);
                }
            }
        }
    }
    Ok(f32_tensor(vec![n, oh, ow, c], out))
}

// ---------------------------------------------------------------- layout

fn reshape_dims(len: usize, shape: &[i64]) -> R<Vec<usize>> {
    let known: i64 = shape.iter().filter(|&&d| d >= 0).product();
    let unknown = shape.iter().filter(|&&d| d < 0).count();
    if unknown > 1 || shape.iter().any(|&d| d < -1) {
        return Err(format!("invalid shape {shape:?}"));
    }
    let out: Vec<usize> = shape
        .iter()
        .map(|&d| {
            if d < 0 {
                if known == 0 {
                    0
                } else {
                    len / known as usize
                }
            } else {
                d as usize
            }
        })
        .collect();
    if out.iter().product::<usize>() != len {
        return Err(format!("cannot reshape {len} elements to {shape:?}"));
    }
    Ok(out)
}

fn concat(xs: &[Arc<Tensor>], a: i64) -> R<Tensor> {
    let first = xs.first().ok_or("nothing to concatenate")?;
    let rank = first.shape.len();
    let ax = axis(a, rank)?;
    let mut shape = first.shape.clone();
    shape[ax] = 0;
    for t in xs {
        if t.shape.len() != rank
            || t.dtype() != first.dtype()
            || t.shape
                .iter()
                .enumerate()
                .any(|(i, &d)| i != ax && d != first.shape[i])
        {
            return Err(format!(
                "cannot concatenate {:?} ({}) with {:?} ({}) on axis {ax}",
                first.shape,
                first.dtype(),
                t.shape,
                t.dtype()
            ));
        }
        shape[ax] += t.shape[ax];
    }
    let outer: usize = shape[..ax].iter().product();
    fn go<T: Copy>(parts: &[(&[T], usize)], outer: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(parts.iter().map(|p| p.0.len()).sum());
        for o in 0..outer {
            for (v, chunk) in parts {
                out.extend_from_slice(&v[o * chunk..(o + 1) * chunk]);
            }
        }
        out
    }
    let chunk = |t: &Tensor| t.shape[ax..].iter().product::<usize>();
    let data = match &first.data {
        Data::F32(_) => Data::F32(go(
            &xs.iter()
                .map(|t| (t.as_f32().unwrap_or_default(), chunk(t)))
                .collect::<Vec<_>>(),
            outer,
        )),
        Data::I32(_) => Data::I32(go(
            &xs.iter()
                .map(|t| (t.as_i32().unwrap_or_default(), chunk(t)))
                .collect::<Vec<_>>(),
            outer,
        )),
        Data::Bool(_) => {
            let parts: Vec<(&[bool], usize)> = xs
                .iter()
                .map(|t| match &t.data {
                    Data::Bool(v) => (v.as_slice(), chunk(t)),
                    _ => (&[][..], 0),
                })
                .collect();
            Data::Bool(go(&parts, outer))
        }
    };
    Ok(Tensor { shape, data })
}

pub(crate) fn transpose(x: &Tensor, perm: &[i64]) -> R<Tensor> {
    let r = x.shape.len();
    if perm.len() != r {
        return Err(format!("perm {perm:?} does not fit rank {r}"));
    }
    let mut seen = vec![false; r];
    let perm: Vec<usize> = perm
        .iter()
        .map(|&p| {
            let p = axis(p, r)?;
            if std::mem::replace(&mut seen[p], true) {
                return Err(format!("perm repeats axis {p}"));
            }
            Ok(p)
        })
        .collect::<R<_>>()?;
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let mut in_strides = vec![1usize; r];
    for i in (0..r.saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * x.shape[i + 1];
    }
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    // An identity prefix followed by a rotation of the remaining axes is a batch of matrix
    // transposes ([rows, cols] → [cols, rows]), the NCHW ↔ NHWC case: done in cache blocks.
    let p0 = perm
        .iter()
        .enumerate()
        .take_while(|(i, &p)| *i == p)
        .count();
    if p0 < r {
        let j = perm[p0] - p0;
        let rotation = (p0..r).all(|i| perm[i] == p0 + (i - p0 + j) % (r - p0));
        if rotation && j > 0 {
            let batch: usize = x.shape[..p0].iter().product();
            let rows: usize = x.shape[p0..p0 + j].iter().product();
            let cols: usize = x.shape[p0 + j..].iter().product();
            let data = any_dtype!(x, |v| transpose_blocks(v, batch, rows, cols));
            return Ok(Tensor { shape, data });
        }
    }
    fn go<T: Copy + Default>(v: &[T], shape: &[usize], strides: &[usize]) -> Vec<T> {
        let total: usize = shape.iter().product();
        let mut out = Vec::with_capacity(total);
        if shape.is_empty() {
            out.extend_from_slice(v);
            return out;
        }
        let zeros = vec![0usize; shape.len()];
        broadcast_walk(shape, strides, &zeros, |_, off, _, len| {
            let s = strides[shape.len() - 1];
            out.extend((0..len).map(|i| v[off + i * s]));
        });
        out
    }
    let data = any_dtype!(x, |v| go(v, &shape, &strides));
    Ok(Tensor { shape, data })
}

fn pad(x: &Tensor, p: &[i64], value: f32) -> R<Tensor> {
    let r = x.shape.len();
    if p.len() != 2 * r || p.iter().any(|&v| v < 0) {
        return Err(format!(
            "paddings {p:?} do not fit rank {r} (negative padding is not supported)"
        ));
    }
    let shape: Vec<usize> = (0..r)
        .map(|i| x.shape[i] + p[2 * i] as usize + p[2 * i + 1] as usize)
        .collect();
    fn go<T: Copy>(v: &[T], src: &[usize], shape: &[usize], p: &[i64], fill: T) -> Vec<T> {
        let mut out = vec![fill; shape.iter().product()];
        let r = src.len();
        if r == 0 || v.is_empty() {
            out.copy_from_slice(v);
            return out;
        }
        let mut ostr = vec![1usize; r];
        for i in (0..r - 1).rev() {
            ostr[i] = ostr[i + 1] * shape[i + 1];
        }
        let base: usize = (0..r).map(|i| p[2 * i] as usize * ostr[i]).sum();
        let inner = src[r - 1];
        let zeros = vec![0usize; r];
        let mut row = 0;
        broadcast_walk(src, &ostr, &zeros, |_, off, _, len| {
            out[base + off..base + off + len].copy_from_slice(&v[row * inner..row * inner + len]);
            row += 1;
        });
        out
    }
    let data = match &x.data {
        Data::F32(v) => Data::F32(go(v, &x.shape, &shape, p, value)),
        Data::I32(v) => Data::I32(go(v, &x.shape, &shape, p, value as i32)),
        Data::Bool(v) => Data::Bool(go(v, &x.shape, &shape, p, value != 0.0)),
    };
    Ok(Tensor { shape, data })
}

fn split(x: &Tensor, ax: usize, sizes: &[usize]) -> R<Vec<Tensor>> {
    let outer: usize = x.shape[..ax].iter().product();
    let inner: usize = x.shape[ax + 1..].iter().product();
    let mut outs = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for &s in sizes {
        let mut shape = x.shape.clone();
        shape[ax] = s;
        let data = any_dtype!(x, |v| {
            let mut out = Vec::with_capacity(outer * s * inner);
            for o in 0..outer {
                let base = (o * x.shape[ax] + start) * inner;
                out.extend_from_slice(&v[base..base + s * inner]);
            }
            out
        });
        outs.push(Tensor { shape, data });
        start += s;
    }
    Ok(outs)
}

fn sparse_to_dense(
    indices: &Tensor,
    shape: &Tensor,
    values: &Tensor,
    default: &Tensor,
) -> R<Tensor> {
    let dims: Vec<usize> = ints(shape)?
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative output dimension {d}")))
        .collect::<R<_>>()?;
    let idx = ints(indices)?;
    let r = dims.len();
    let (count, per) = match indices.shape.len() {
        0 => (1, 1),
        1 if r == 1 => (indices.shape[0], 1),
        1 => (1, indices.shape[0]),
        2 => (indices.shape[0], indices.shape[1]),
        _ => {
            return Err(format!(
                "indices of rank {} are not supported",
                indices.shape.len()
            ))
        }
    };
    if count > 0 && per != r {
        return Err(format!("indices have {per} coordinates for rank {r}"));
    }
    let mut strides = vec![1usize; r];
    for i in (0..r.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1];
    }
    let total: usize = dims.iter().product();
    let mut offsets = Vec::with_capacity(count);
    for j in 0..count {
        let mut off = 0;
        for d in 0..per {
            let v = idx[j * per + d];
            if v < 0 || v as usize >= dims[d] {
                return Err(format!("index {v} out of range for dimension {}", dims[d]));
            }
            off += v as usize * strides[d];
        }
        offsets.push(off);
    }
    fn go<T: Copy>(vals: &[T], def: &[T], total: usize, offsets: &[usize]) -> R<Vec<T>> {
        let d = *def.first().ok_or("empty default_value")?;
        let mut out = vec![d; total];
        for (j, &o) in offsets.iter().enumerate() {
            out[o] = if vals.len() == 1 {
                vals[0]
            } else {
                *vals.get(j).ok_or("fewer values than indices")?
            };
        }
        Ok(out)
    }
    let data = match (&values.data, &default.data) {
        (Data::F32(v), Data::F32(d)) => Data::F32(go(v, d, total, &offsets)?),
        (Data::I32(v), Data::I32(d)) => Data::I32(go(v, d, total, &offsets)?),
        (Data::Bool(v), Data::Bool(d)) => Data::Bool(go(v, d, total, &offsets)?),
        _ => return Err("values and default_value have different dtypes".into()),
    };
    Ok(Tensor { shape: dims, data })
}

/// `batch` row-major `rows × cols` matrices transposed, in 32×32 blocks.
fn transpose_blocks<T: Copy + Default>(v: &[T], batch: usize, rows: usize, cols: usize) -> Vec<T> {
    const B: usize = 32;
    let mut out = vec![T::default(); v.len()];
    for b in 0..batch {
        let src = &v[b * rows * cols..(b + 1) * rows * cols];
        let dst = &mut out[b * rows * cols..(b + 1) * rows * cols];
        for r0 in (0..rows).step_by(B) {
            for c0 in (0..cols).step_by(B) {
                for r in r0..(r0 + B).min(rows) {
                    for c in c0..(c0 + B).min(cols) {
                        dst[c * rows + r] = src[r * cols + c];
                    }
                }
            }
        }
    }
    out
}

/// Gathers `(start, count, step)` per axis, dropping the axes in `drop` (each of extent 1).
fn gather_slices(x: &Tensor, spec: &[(i64, i64, i64)], r: usize, drop: &[usize]) -> R<Tensor> {
    let full: Vec<usize> = spec.iter().map(|s| s.1 as usize).collect();
    let mut strides = vec![1i64; r];
    for i in (0..r.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * x.shape[i + 1] as i64;
    }
    let total: usize = full.iter().product();
    let offsets: Vec<usize> = (0..total)
        .map(|lin| {
            let (mut rem, mut off) = (lin, 0i64);
            for d in (0..r).rev() {
                let i = (rem % full[d]) as i64;
                rem /= full[d];
                off += (spec[d].0 + i * spec[d].2) * strides[d];
            }
            off as usize
        })
        .collect();
    let shape: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(d, _)| !drop.contains(d))
        .map(|(_, &n)| n)
        .collect();
    let data = any_dtype!(x, |v| offsets.iter().map(|&o| v[o]).collect());
    Ok(Tensor { shape, data })
}
