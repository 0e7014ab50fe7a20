//! The ONNX engine (tract), behind a small interface that never panics.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::error::{Error, Result};

type Plan = Arc<TypedRunnableModel>;

/// An optimized tract plan with named inputs and outputs. Send + Sync; each
/// run has its own state, so one engine serves many threads.
pub(crate) struct Engine {
    plan: Plan,
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

impl Engine {
    /// Parse, name inputs/outputs and optimize the model.
    pub(crate) fn load(model: &[u8], inputs: &[&str], outputs: &[&str], path: &Path) -> Result<Self> {
        let loaded = catch_unwind(AssertUnwindSafe(|| -> Result<Plan> {
            let mut reader = model;
            let mut graph = tract_onnx::onnx()
                .model_for_read(&mut reader)
                .map_err(|e| Error::corrupt(path, format!("tract cannot load the model: {e:#}")))?;
            graph.set_input_names(inputs).map_err(|e| {
                Error::mismatch(
                    path,
                    format!("model inputs differ from the preprocessor's {inputs:?}: {e:#}"),
                )
            })?;
            graph
                .select_outputs_by_name(outputs)
                .map_err(|e| Error::mismatch(path, format!("model lacks outputs {outputs:?}: {e:#}")))?;
            // A graph tract cannot type or plan (an unknown operator, inconsistent shapes) is
            // broken in itself, as onnxruntime judges it at load: corrupt, like the Python runtime.
            let optimized = graph
                .into_optimized()
                .map_err(|e| Error::corrupt(path, format!("tract cannot prepare the model: {e:#}")))?;
            optimized
                .into_runnable()
                .map_err(|e| Error::corrupt(path, format!("tract cannot plan the model: {e:#}")))
        }));
        match loaded {
            Ok(plan) => Ok(Engine { plan: plan? }),
            Err(panic) => Err(Error::corrupt(
                path,
                format!("tract failed on the model: {}", panic_message(panic)),
            )),
        }
    }

    /// Run on the given inputs; outputs in the order named at load time.
    pub(crate) fn run(&self, inputs: TVec<TValue>) -> Result<TVec<TValue>> {
        match catch_unwind(AssertUnwindSafe(|| self.plan.run(inputs))) {
            Ok(result) => result.map_err(|e| Error::Inference(format!("{e:#}"))),
            Err(panic) => Err(Error::Inference(panic_message(panic))),
        }
    }
}

/// A row-major float32 view of an output, with its shape.
pub(crate) fn floats(value: &TValue) -> Result<(Vec<usize>, Vec<f32>)> {
    let shape = value.shape().to_vec();
    let view = value
        .to_plain_array_view::<f32>()
        .map_err(|e| Error::Inference(format!("unexpected output type: {e:#}")))?;
    Ok((shape, view.iter().copied().collect()))
}

/// An int64 tensor of the given shape.
pub(crate) fn int64_tensor(shape: &[usize], data: Vec<i64>) -> Result<TValue> {
    Tensor::from_shape(shape, &data)
        .map(|t| t.into_tvalue())
        .map_err(|e| Error::Inference(format!("{e:#}")))
}

/// A float32 tensor of the given shape.
pub(crate) fn f32_tensor(shape: &[usize], data: Vec<f32>) -> Result<TValue> {
    Tensor::from_shape(shape, &data)
        .map(|t| t.into_tvalue())
        .map_err(|e| Error::Inference(format!("{e:#}")))
}
