//! The policy's f32 matrix products: OpenBLAS when the machine has it, candle's own GEMM
//! kernel otherwise.
//!
//! Why: on the policy's shapes (512–2048 × 576 × 1536) candle 0.11's `Tensor::matmul` (the
//! `gemm` crate) reaches about a quarter of what OpenBLAS does with the same two threads
//! (DESIGN.md, "Facts measured later"), and training is nothing but those products.
//!
//! **How "available" is decided: at run time.** The first product tries to load OpenBLAS with
//! `libloading` — Debian's pthread build (`/usr/lib/<arch>-linux-gnu/openblas-pthread/`, which
//! `scripts/setup.sh` installs), else whatever `libopenblas.so.0` the loader finds — and every
//! product falls back to candle's kernel (the same `gemm` call `Tensor::matmul` makes) when it
//! cannot. Run-time loading rather than a default-on cargo feature with a build-script probe
//! because:
//! - the crate builds and runs everywhere with no feature to turn off and no link step that
//!   fails on a machine without the library, and a binary built before `setup.sh` installed
//!   OpenBLAS picks it up without a rebuild;
//! - the library's environment can be set before it initialises: OpenBLAS reads its thread
//!   count and CPU kernel choice once, in its load-time constructor. Debian 12's OpenBLAS
//!   0.3.21 predates Zen 4 and runs its AVX2 kernels there, so on a CPU with AVX-512 (F, BW,
//!   DQ, VL, CD) and no `OPENBLAS_CORETYPE` set, the SkylakeX kernels are requested;
//! - one process can run both kernels (tests compare them: [`with_candle_kernel`]).
//!
//! `DTR1_BLAS=candle` (or `off`) disables OpenBLAS; `DTR1_BLAS_LIB=/path/libopenblas.so`
//! loads that file instead of searching.
//!
//! **Threads.** OpenBLAS gets as many threads as candle uses (`RAYON_NUM_THREADS`, else the
//! core count): the policy calls it from one thread at a time, between rayon-parallel ops, so
//! the two pools take turns on the cores instead of competing for them — which needs
//! OpenBLAS's idle workers to sleep at once rather than spin (`OPENBLAS_THREAD_TIMEOUT=4`
//! unless set). The pthread variant
//! rather than the OpenMP one so that no second OpenMP runtime spins beside rayon.

use std::cell::Cell;
use std::os::raw::c_int;
use std::sync::OnceLock;

use candle_core::{CpuStorage, Layout, Shape, Storage, Tensor};

/// Which kernel the products run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// OpenBLAS's `cblas_sgemm`, loaded at run time.
    OpenBlas,
    /// candle's own kernel (the `gemm` crate, what `Tensor::matmul` runs).
    Candle,
}

type Sgemm = unsafe extern "C" fn(
    cblas_sys::CBLAS_LAYOUT,
    cblas_sys::CBLAS_TRANSPOSE,
    cblas_sys::CBLAS_TRANSPOSE,
    c_int,
    c_int,
    c_int,
    f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    f32,
    *mut f32,
    c_int,
);

struct OpenBlas {
    sgemm: Sgemm,
    /// What the library says about itself: version, kernel, threads, file.
    about: String,
    /// Kept so the function pointers stay valid for the life of the process.
    _lib: libloading::Library,
}

/// The loaded library, or why there is none.
fn library() -> &'static std::result::Result<OpenBlas, String> {
    static LIB: OnceLock<std::result::Result<OpenBlas, String>> = OnceLock::new();
    LIB.get_or_init(load)
}

fn load() -> std::result::Result<OpenBlas, String> {
    if let Ok(v) = std::env::var("DTR1_BLAS") {
        if matches!(v.as_str(), "candle" | "off" | "0" | "none") {
            return Err(format!("disabled by DTR1_BLAS={v}"));
        }
    }
    let candidates: Vec<String> = match std::env::var("DTR1_BLAS_LIB") {
        Ok(p) => vec![p],
        Err(_) => vec![
            format!(
                "/usr/lib/{}-linux-gnu/openblas-pthread/libopenblas.so.0",
                std::env::consts::ARCH
            ),
            "libopenblas.so.0".into(),
            "libopenblas.so".into(),
        ],
    };
    let threads = candle_core::utils::get_num_threads().max(1);
    // Read once by the library's constructor, so set before loading; a user's own setting wins.
    if std::env::var_os("OPENBLAS_NUM_THREADS").is_none() {
        std::env::set_var("OPENBLAS_NUM_THREADS", threads.to_string());
    }
    // Idle OpenBLAS workers spin (with sched_yield) for 2^28 cycles by default, taking a core
    // from the rayon-parallel and single-threaded candle ops between products: measured under
    // load ≈ 5 on 2 cores, the 8 × 512 forward+backward took 39.8 s so, 29.0 s with workers
    // that sleep at once (2^4 cycles), 31.6 s on candle's kernel.
    if std::env::var_os("OPENBLAS_THREAD_TIMEOUT").is_none() {
        std::env::set_var("OPENBLAS_THREAD_TIMEOUT", "4");
    }
    if std::env::var_os("OPENBLAS_CORETYPE").is_none() && has_avx512() {
        std::env::set_var("OPENBLAS_CORETYPE", "SkylakeX");
    }
    let mut errors = Vec::new();
    for path in &candidates {
        // SAFETY: loading OpenBLAS runs its initialiser, which only sets up its own state.
        let lib = match unsafe { libloading::Library::new(path) } {
            Ok(l) => l,
            Err(e) => {
                errors.push(format!("{path}: {e}"));
                continue;
            }
        };
        // SAFETY: the symbols are OpenBLAS's C API with these signatures (cblas.h).
        unsafe {
            let sgemm = match lib.get::<Sgemm>(b"cblas_sgemm\0") {
                Ok(f) => *f,
                Err(e) => {
                    errors.push(format!("{path}: {e}"));
                    continue;
                }
            };
            if let Ok(set) = lib.get::<unsafe extern "C" fn(c_int)>(b"openblas_set_num_threads\0") {
                set(threads as c_int);
            }
            let text = |sym: &[u8]| -> Option<String> {
                let f = lib
                    .get::<unsafe extern "C" fn() -> *const std::os::raw::c_char>(sym)
                    .ok()?;
                let p = f();
                (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
            };
            let config = text(b"openblas_get_config\0").unwrap_or_default();
            let version = config
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            let core = text(b"openblas_get_corename\0").unwrap_or_else(|| "?".into());
            let n = lib
                .get::<unsafe extern "C" fn() -> c_int>(b"openblas_get_num_threads\0")
                .map(|f| f())
                .unwrap_or(threads as c_int);
            let about = format!(
                "{} ({core} kernels, {n} threads, {path})",
                if version.is_empty() {
                    "OpenBLAS"
                } else {
                    &version
                }
            );
            return Ok(OpenBlas {
                sgemm,
                about,
                _lib: lib,
            });
        }
    }
    Err(format!("OpenBLAS not found ({})", errors.join("; ")))
}

/// True when the CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels use.
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512cd")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

thread_local! {
    static FORCE_CANDLE: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with every product on this thread on candle's kernel, OpenBLAS or not (tests
/// compare the two; candle runs a forward and its backward on the calling thread).
pub fn with_candle_kernel<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCE_CANDLE.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FORCE_CANDLE.with(|c| c.replace(true)));
    f()
}

/// The kernel products on this thread run on.
pub fn backend() -> Backend {
    if FORCE_CANDLE.with(Cell::get) || library().is_err() {
        Backend::Candle
    } else {
        Backend::OpenBlas
    }
}

/// One line naming the kernel in use and, for OpenBLAS, its version, CPU kernel, threads and
/// file; for candle's kernel, why OpenBLAS is not used.
pub fn describe() -> String {
    match (backend(), library()) {
        (Backend::OpenBlas, Ok(l)) => l.about.clone(),
        (_, Err(why)) => format!("candle's gemm kernel ({why})"),
        (Backend::Candle, Ok(_)) => "candle's gemm kernel (forced on this thread)".into(),
    }
}

/// A strided view of an f32 matrix: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `(rows, cols)` block.
    pub(crate) fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The view of a 2-D CPU tensor's storage; `None` unless BLAS can read it in place (one
    /// unit stride, rows that do not overlap — so no broadcast views — and f32).
    pub(crate) fn of_storage(s: &'a CpuStorage, l: &Layout) -> Option<Self> {
        Self::of_slice(s.as_slice::<f32>().ok()?, l)
    }

    /// [`MatRef::of_storage`] on a plain slice.
    pub(crate) fn of_slice(data: &'a [f32], l: &Layout) -> Option<Self> {
        let [rows, cols] = <[usize; 2]>::try_from(l.dims()).ok()?;
        let [rs, cs] = <[usize; 2]>::try_from(l.stride()).ok()?;
        let (rs, cs) = unit_strides(rows, cols, rs, cs)?;
        let data = data.get(l.start_offset()..)?;
        let m = Self {
            data,
            rows,
            cols,
            rs,
            cs,
        };
        (rows == 0 || cols == 0 || m.last() < data.len()).then_some(m)
    }

    /// `Aᵀ`.
    pub(crate) fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    fn last(&self) -> usize {
        (self.rows - 1) * self.rs + (self.cols - 1) * self.cs
    }

    /// `(transposed, leading dimension)` for row-major BLAS.
    fn blas(&self) -> (cblas_sys::CBLAS_TRANSPOSE, c_int) {
        if self.cs == 1 {
            (
                cblas_sys::CBLAS_TRANSPOSE::CblasNoTrans,
                self.rs.max(1) as c_int,
            )
        } else {
            (
                cblas_sys::CBLAS_TRANSPOSE::CblasTrans,
                self.cs.max(1) as c_int,
            )
        }
    }
}

/// The strides `(rs, cs)` of a `(rows, cols)` view as BLAS takes them — a plain (`cs = 1`,
/// rows apart by at least a row) or transposed (`rs = 1`) row-major block — or `None`.
fn unit_strides(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<(usize, usize)> {
    // A dimension of size 1 never steps, so its stride is free: pick the one that makes the
    // view a plain or a transposed block.
    let (rs, cs) = match (rows, cols) {
        (1, _) if cs == 1 => (cols, 1),
        (1, _) => (1, cs),
        (_, 1) if rs == 1 => (1, rows),
        (_, 1) => (rs, 1),
        _ => (rs, cs),
    };
    let plain = cs == 1 && rs >= cols;
    let transposed = rs == 1 && cs >= rows;
    (plain || transposed).then_some((rs, cs))
}

/// `C ← α·A·B + β·C` for a row-major `C (A.rows, B.cols)`; `β = 0` ignores C's contents.
pub(crate) fn gemm(
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: &mut [f32],
) -> candle_core::Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k || c.len() != m * n {
        candle_core::bail!(
            "gemm: ({m}, {k}) × ({}, {n}) into {} values",
            b.rows,
            c.len()
        );
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        c.iter_mut()
            .for_each(|v| *v = if beta == 0.0 { 0.0 } else { *v * beta });
        return Ok(());
    }
    if let (Backend::OpenBlas, Ok(lib)) = (backend(), library()) {
        if [m, n, k].iter().all(|&d| d <= c_int::MAX as usize) {
            let ((ta, lda), (tb, ldb)) = (a.blas(), b.blas());
            // SAFETY: the views were bounds-checked when built (`of_storage`, `dense`), `c`
            // holds m·n values, and all dimensions fit in a C int.
            unsafe {
                (lib.sgemm)(
                    cblas_sys::CBLAS_LAYOUT::CblasRowMajor,
                    ta,
                    tb,
                    m as c_int,
                    n as c_int,
                    k as c_int,
                    alpha,
                    a.data.as_ptr(),
                    lda,
                    b.data.as_ptr(),
                    ldb,
                    beta,
                    c.as_mut_ptr(),
                    n as c_int,
                );
            }
            return Ok(());
        }
    }
    let threads = candle_core::utils::get_num_threads();
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: as above; the `gemm` crate computes dst ← alpha·dst + beta·lhs·rhs (its names
    // are the other way round from BLAS's) and reads dst only when told to.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            beta != 0.0,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            beta,
            alpha,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}

/// `C ← α·A·B + β·C` for 2-D f32 CPU tensors (any strides: transposed and sliced views are
/// read in place, anything else is copied first).
pub(crate) fn gemm_tensors(
    alpha: f32,
    a: &Tensor,
    b: &Tensor,
    beta: f32,
    c: &mut [f32],
) -> candle_core::Result<()> {
    // A tensor whose layout the kernel cannot read in place is copied to a contiguous one
    // first; the product then reads both operands from their storage once.
    let readable = |t: &Tensor| -> candle_core::Result<Tensor> {
        let (st, l) = t.storage_and_layout();
        let ok = matches!(&*st, Storage::Cpu(cs) if MatRef::of_storage(cs, l).is_some());
        drop(st);
        if ok {
            Ok(t.clone())
        } else {
            t.contiguous()
        }
    };
    let (a, b) = (readable(a)?, readable(b)?);
    let (sa, la) = a.storage_and_layout();
    let (sb, lb) = b.storage_and_layout();
    let (Storage::Cpu(ca), Storage::Cpu(cb)) = (&*sa, &*sb) else {
        candle_core::bail!("policy products run on the CPU");
    };
    match (MatRef::of_storage(ca, la), MatRef::of_storage(cb, lb)) {
        (Some(ma), Some(mb)) => gemm(alpha, ma, mb, beta, c),
        _ => candle_core::bail!(
            "policy products need 2-D f32 tensors, got {:?} and {:?}",
            a.dims(),
            b.dims()
        ),
    }
}

/// `A·B` for 2-D f32 CPU tensors `(m, k)` and `(k, n)`, on OpenBLAS when loaded, else on
/// candle's kernel. No autograd: the custom ops in [`crate::ops`] call it and write their own
/// backward passes. Transposed views (`w.t()`) are read in place.
pub fn matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let (m, _) = a.dims2()?;
    let (_, n) = b.dims2()?;
    let mut c = vec![0f32; m * n];
    gemm_tensors(1.0, a, b, 0.0, &mut c)?;
    Tensor::from_vec(c, (m, n), a.device())
}

/// Per matrix of a batch, `C_i = A_i·B_i` for CPU tensors `(…, m, k)` and `(…, k, n)` with
/// the same leading dimensions, any strides; returns the contiguous `(…, m, n)` values. The
/// last two dimensions of each operand must be BLAS-readable ([`readable`]).
pub(crate) fn batched(
    ca: &CpuStorage,
    la: &Layout,
    cb: &CpuStorage,
    lb: &Layout,
) -> candle_core::Result<(Vec<f32>, Vec<usize>)> {
    let (da, db) = (la.dims(), lb.dims());
    let r = da.len();
    if r < 2 || db.len() != r || da[..r - 2] != db[..r - 2] || da[r - 1] != db[r - 2] {
        candle_core::bail!("batched matmul: shapes {da:?} and {db:?}");
    }
    let (m, n) = (da[r - 2], db[r - 1]);
    let count: usize = da[..r - 2].iter().product();
    let mut out = vec![0f32; count * m * n];
    let (sa, sb) = (la.stride(), lb.stride());
    let (xa, xb) = (ca.as_slice::<f32>()?, cb.as_slice::<f32>()?);
    for (i, c) in out.chunks_exact_mut((m * n).max(1)).enumerate().take(count) {
        // Offsets of matrix i: its multi-index over the leading dimensions, last fastest.
        let (mut rest, mut oa, mut ob) = (i, la.start_offset(), lb.start_offset());
        for d in (0..r - 2).rev() {
            let j = rest % da[d];
            rest /= da[d];
            oa += j * sa[d];
            ob += j * sb[d];
        }
        let view = |x, off, dims: &[usize], st: &[usize]| {
            let l = Layout::new(Shape::from(&dims[r - 2..]), st[r - 2..].to_vec(), off);
            MatRef::of_slice(x, &l)
        };
        let (Some(a), Some(b)) = (view(xa, oa, da, sa), view(xb, ob, db, sb)) else {
            candle_core::bail!("batched matmul: strides {sa:?} and {sb:?} are not BLAS-readable");
        };
        gemm(1.0, a, b, 0.0, c)?;
    }
    let mut dims = da[..r - 2].to_vec();
    dims.extend([m, n]);
    Ok((out, dims))
}

/// True when the last two dimensions of `l` form a plain or transposed row-major block (what
/// [`batched`] reads in place).
pub(crate) fn readable(l: &Layout) -> bool {
    let (d, s) = (l.dims(), l.stride());
    let r = d.len();
    r >= 2 && unit_strides(d[r - 2], d[r - 1], s[r - 2], s[r - 1]).is_some()
}

/// `A·B` per matrix of a batch, `(…, m, k) × (…, k, n)` with equal leading dimensions, on
/// the same kernel as [`matmul`]; no autograd ([`crate::ops::bmm`] has the backward).
pub fn batched_matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let a = if readable(a.layout()) {
        a.clone()
    } else {
        a.contiguous()?
    };
    let b = if readable(b.layout()) {
        b.clone()
    } else {
        b.contiguous()?
    };
    let (sa, la) = a.storage_and_layout();
    let (sb, lb) = b.storage_and_layout();
    let (Storage::Cpu(ca), Storage::Cpu(cb)) = (&*sa, &*sb) else {
        candle_core::bail!("policy products run on the CPU");
    };
    let (v, dims) = batched(ca, la, cb, lb)?;
    Tensor::from_vec(v, dims, a.device())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_of_transposed_and_sliced_tensors_multiply_like_candle() {
        let a = Tensor::arange(0f32, 60.0, &candle_core::Device::Cpu)
            .unwrap()
            .reshape((6, 10))
            .unwrap();
        let b = Tensor::arange(0f32, 40.0, &candle_core::Device::Cpu)
            .unwrap()
            .reshape((4, 10))
            .unwrap();
        // Aᵀ-shaped, offset and row views of the same storage.
        for (x, y) in [
            (a.clone(), b.t().unwrap()),
            (a.narrow(0, 2, 3).unwrap(), b.t().unwrap()),
            (b.t().unwrap().t().unwrap(), a.t().unwrap()),
            (a.t().unwrap(), a.clone()),
            (a.narrow(0, 1, 1).unwrap(), b.t().unwrap()),
            // A broadcast (stride-0) operand is copied, not read in place.
            (
                a.narrow(0, 0, 1).unwrap().broadcast_as((5, 10)).unwrap(),
                b.t().unwrap(),
            ),
        ] {
            let want = x.matmul(&y).unwrap().to_vec2::<f32>().unwrap();
            for got in [
                matmul(&x, &y).unwrap(),
                with_candle_kernel(|| matmul(&x, &y).unwrap()),
            ] {
                assert_eq!(got.to_vec2::<f32>().unwrap(), want);
            }
        }
    }
}
