//! Weights on disk.
//! - A HuggingFace encoder folder (`config.json` + `model.safetensors` or `pytorch_model.bin`)
//!   fills the `bert.` variables. Keys with or without the `bert.` prefix are accepted
//!   (BertModel vs BertForPreTraining exports), and old `LayerNorm.gamma`/`beta` names map to
//!   `weight`/`bias`. A missing tensor or a shape mismatch is an error naming the tensor.
//! - A CBRRel run directory stands alone: `model.safetensors` (all variables) + `config.json`.

use std::collections::HashMap;
use std::path::Path;

use tch::nn::VarStore;
use tch::Tensor;

use super::config::BertConfig;
use super::ModelError;

/// Read every tensor of a weights file (safetensors, or a PyTorch pickle `.bin`).
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>, ModelError> {
    let tensors = match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => Tensor::read_safetensors(path),
        _ => Tensor::loadz_multi(path),
    }
    .map_err(|e| ModelError::Weights {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(tensors.into_iter().collect())
}

/// The weights file of a HF model folder.
pub fn hf_weights_file(dir: &Path) -> Result<std::path::PathBuf, ModelError> {
    ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ModelError::Config(format!(
                "{}: neither model.safetensors nor pytorch_model.bin",
                dir.display()
            ))
        })
}

/// Load a HF encoder folder: its config and, into `vs`, the `bert.` variables.
pub fn load_hf_encoder(vs: &mut VarStore, dir: &Path) -> Result<usize, ModelError> {
    let file = hf_weights_file(dir)?;
    let tensors = read_tensors(&file)?;
    let mut loaded = 0;
    let variables = vs.variables();
    let mut names: Vec<&String> = variables
        .keys()
        .filter(|k| k.starts_with("bert."))
        .collect();
    names.sort();
    for name in names {
        let var = &variables[name];
        let short = &name["bert.".len()..];
        let legacy = short
            .replace("LayerNorm.weight", "LayerNorm.gamma")
            .replace("LayerNorm.bias", "LayerNorm.beta");
        let candidates = [
            short.to_string(),
            name.clone(),
            legacy.clone(),
            format!("bert.{legacy}"),
        ];
        let Some(src) = candidates.iter().find_map(|k| tensors.get(k)) else {
            return Err(ModelError::MissingTensor {
                name: short.to_owned(),
                path: file.clone(),
            });
        };
        if src.size() != var.size() {
            return Err(ModelError::ShapeMismatch {
                name: short.to_owned(),
                expected: var.size(),
                found: src.size(),
                path: file.clone(),
            });
        }
        tch::no_grad(|| {
            let mut v = var.shallow_clone();
            v.copy_(&src.to_kind(var.kind()).to_device(var.device()));
        });
        loaded += 1;
    }
    Ok(loaded)
}

/// The encoder config of a HF folder.
pub fn hf_config(dir: &Path) -> Result<BertConfig, ModelError> {
    BertConfig::from_file(&dir.join("config.json"))
}

/// Save every variable of `vs` (or the `override_values`, e.g. EMA weights, by name).
pub fn save_weights(
    vs: &VarStore,
    override_values: Option<&HashMap<String, Tensor>>,
    path: &Path,
) -> Result<(), ModelError> {
    let variables = vs.variables();
    let mut names: Vec<&String> = variables.keys().collect();
    names.sort();
    let named: Vec<(String, Tensor)> = names
        .into_iter()
        .map(|n| {
            let t = override_values
                .and_then(|o| o.get(n))
                .unwrap_or(&variables[n]);
            (n.clone(), t.to_device(tch::Device::Cpu).contiguous())
        })
        .collect();
    crate::atomic::write_via_path(path, |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|e| ModelError::Weights {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Load every variable of `vs` from a safetensors file; each must be there with its shape.
pub fn load_weights(vs: &mut VarStore, path: &Path) -> Result<(), ModelError> {
    let tensors = read_tensors(path)?;
    for (name, var) in vs.variables() {
        let src = tensors
            .get(&name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.clone(),
                path: path.to_owned(),
            })?;
        if src.size() != var.size() {
            return Err(ModelError::ShapeMismatch {
                name,
                expected: var.size(),
                found: src.size(),
                path: path.to_owned(),
            });
        }
        tch::no_grad(|| {
            let mut v = var.shallow_clone();
            v.copy_(&src.to_kind(var.kind()).to_device(var.device()));
        });
    }
    Ok(())
}
