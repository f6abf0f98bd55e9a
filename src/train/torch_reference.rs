//! The PyTorch reference (`pipeline/torch_reference.py`, issue 11 §4), run from Rust: the
//! golden tests (tests/torch_reference.rs) compare its probabilities with the Rust model's on the same
//! batches, and `make bench-model` (benches/model_speed.rs) times it beside the Rust model.
//! Batches travel as one safetensors file written by `infer::batch::write_batches`, so both
//! implementations read the very same tensors; the model is the run directory's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tch::Tensor;

use crate::infer::Precision;

/// Where the reference script and the Python that runs it are.
#[derive(Debug, Clone)]
pub struct TorchReference {
    pub python: PathBuf,
    pub script: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("{python}: {source} (run `make setup` to create the venv)")]
    Spawn {
        python: PathBuf,
        source: std::io::Error,
    },
    #[error("{script} {command} failed ({status}):\n{stderr}")]
    Failed {
        script: PathBuf,
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("reading the reference's output: {0}")]
    Output(String),
}

/// What `bench` measured on the Python side (one JSON line of the script).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReferenceTiming {
    pub seconds: f64,
    /// Segments per second (`infer`) or steps per second (`train`).
    pub per_second: f64,
    /// Seconds per stage, with `--profile`.
    #[serde(default)]
    pub stages: HashMap<String, f64>,
    /// Triples predicted per pass over the batches (`infer`).
    #[serde(default)]
    pub triples: Option<usize>,
}

/// What `bench` times: prediction or the model's stages alone, with the weights in the
/// given precision (the script's `--dtype`), or training steps (f32) as PyTorch is usually
/// written (`Train(false)`: its default AdamW, FGM on the whole embedding matrix) or with the
/// Rust side's two training levers (`Train(true)`: `AdamW(fused=True)` and FGM on the batch's
/// rows, the script's `--adamw fused --fgm rows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchMode {
    Infer(Precision),
    Stages(Precision),
    Train(bool),
}

impl TorchReference {
    /// The repository's: `$CBRREL_PYTHON` or `<root>/.venv/bin/python` (the venv `make setup`
    /// creates, with torch, safetensors and numpy), and `<root>/pipeline/torch_reference.py`.
    pub fn in_repo(root: &Path) -> TorchReference {
        TorchReference {
            python: std::env::var_os("CBRREL_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(".venv/bin/python")),
            script: root.join("pipeline/torch_reference.py"),
        }
    }

    fn run(&self, args: &[&str], threads: usize) -> Result<String, ReferenceError> {
        let out = Command::new(&self.python)
            .arg(&self.script)
            .args(args)
            // The same thread count as the Rust side: libtorch's pools read these too.
            .env("OMP_NUM_THREADS", threads.to_string())
            .env("MKL_NUM_THREADS", threads.to_string())
            .output()
            .map_err(|source| ReferenceError::Spawn {
                python: self.python.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(ReferenceError::Failed {
                script: self.script.clone(),
                command: args.join(" "),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Subject and object probabilities of each batch of `batches` (see the script's `probs`),
    /// by name: `b{i}.subject_start` [B, L], … `b{i}.object_end` [N, L, R].
    pub fn probs(
        &self,
        run: &Path,
        batches: &Path,
        scratch: &Path,
    ) -> Result<HashMap<String, Tensor>, ReferenceError> {
        let out = scratch.join("reference-probs.safetensors");
        self.run(
            &[
                "probs",
                "--run",
                &run.display().to_string(),
                "--batches",
                &batches.display().to_string(),
                "--out",
                &out.display().to_string(),
            ],
            1,
        )?;
        let tensors = Tensor::read_safetensors(&out)
            .map_err(|e| ReferenceError::Output(format!("{}: {e}", out.display())))?;
        Ok(tensors.into_iter().collect())
    }

    /// Time `mode` on `batches` with `threads` threads, `repeat` passes.
    pub fn bench(
        &self,
        run: &Path,
        batches: &Path,
        threads: usize,
        mode: BenchMode,
        repeat: usize,
        profile: bool,
    ) -> Result<ReferenceTiming, ReferenceError> {
        let mut args = vec![
            "bench".to_string(),
            "--run".into(),
            run.display().to_string(),
            "--batches".into(),
            batches.display().to_string(),
            "--threads".into(),
            threads.to_string(),
            "--mode".into(),
            match mode {
                BenchMode::Infer(_) => "infer",
                BenchMode::Stages(_) => "stages",
                BenchMode::Train(_) => "train",
            }
            .into(),
            "--repeat".into(),
            repeat.to_string(),
        ];
        match mode {
            BenchMode::Infer(p) | BenchMode::Stages(p) => {
                args.extend(["--dtype".into(), p.name().into()])
            }
            BenchMode::Train(levers) => args.extend([
                "--adamw".into(),
                if levers { "fused" } else { "plain" }.into(),
                "--fgm".into(),
                if levers { "rows" } else { "dense" }.into(),
            ]),
        }
        if profile {
            args.push("--profile".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stdout = self.run(&args, threads)?;
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .ok_or_else(|| ReferenceError::Output(format!("no JSON line in {stdout:?}")))?;
        serde_json::from_str(line).map_err(|e| ReferenceError::Output(format!("{e}: {line}")))
    }
}
