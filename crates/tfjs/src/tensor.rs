//! Dense tensors, row-major (the last dimension is contiguous), as TF.js stores them.

/// The element storage of a [`Tensor`].
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// 32-bit floats (TF.js `float32`).
    F32(Vec<f32>),
    /// 32-bit integers (TF.js `int32`; shapes, axes, paddings).
    I32(Vec<i32>),
    /// Booleans (TF.js `bool`).
    Bool(Vec<bool>),
}

/// A dense row-major tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The elements; their count is the product of `shape`.
    pub data: Data,
}

impl Tensor {
    /// A float tensor; `None` when the element count does not match the shape.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Option<Self> {
        (shape.iter().product::<usize>() == data.len()).then_some(Self {
            shape,
            data: Data::F32(data),
        })
    }

    /// An integer tensor; `None` when the element count does not match the shape.
    pub fn i32(shape: Vec<usize>, data: Vec<i32>) -> Option<Self> {
        (shape.iter().product::<usize>() == data.len()).then_some(Self {
            shape,
            data: Data::I32(data),
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dtype's TF.js name.
    pub fn dtype(&self) -> &'static str {
        match self.data {
            Data::F32(_) => "float32",
            Data::I32(_) => "int32",
            Data::Bool(_) => "bool",
        }
    }

    /// The float elements, if this is a float tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The integer elements, if this is an integer tensor.
    pub fn as_i32(&self) -> Option<&[i32]> {
        match &self.data {
            Data::I32(v) => Some(v),
            _ => None,
        }
    }
}
