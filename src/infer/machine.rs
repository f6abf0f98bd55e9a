//! What this process runs on (`cbrrel info`): the libtorch it actually loaded, and what that
//! libtorch sees. The version comes from the loaded library, not from the build, because a
//! binary with an rpath into one venv can still pick up another libtorch through the loader.

use std::fmt;
use std::path::Path;

use serde::Serialize;

/// The machine as libtorch sees it; serialises as `cbrrel info --format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cbrrel: &'static str,
    pub libtorch: String,
    pub libtorch_lib: String,
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn_available: bool,
    pub mkl: bool,
    pub openmp: bool,
    pub cpu_threads: i32,
    /// Whether the CPU does bf16 dot products in hardware (`--precision bf16` pays there).
    pub cpu_native_bf16: bool,
}

impl Machine {
    /// Ask the loaded libtorch.
    pub fn probe() -> Machine {
        let (libtorch, libtorch_lib) = loaded_libtorch();
        Machine {
            cbrrel: env!("CARGO_PKG_VERSION"),
            libtorch,
            libtorch_lib,
            cuda_available: tch::Cuda::is_available(),
            cuda_devices: tch::Cuda::device_count(),
            cudnn_available: tch::Cuda::cudnn_is_available(),
            mkl: tch::utils::has_mkl(),
            openmp: tch::utils::has_openmp(),
            cpu_threads: tch::get_num_threads(),
            cpu_native_bf16: super::precision::cpu_has_native_bf16(),
        }
    }
}

/// The few lines people read; the JSON form has the rest.
impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cbrrel {}", self.cbrrel)?;
        writeln!(f, "libtorch {} ({})", self.libtorch, self.libtorch_lib)?;
        writeln!(f, "cuda available: {}", self.cuda_available)?;
        writeln!(f, "cuda devices: {}", self.cuda_devices)?;
        writeln!(f, "cpu threads: {}", self.cpu_threads)?;
        writeln!(f, "cpu native bf16: {}", self.cpu_native_bf16)
    }
}

/// Version and folder of the libtorch this process loaded: found through /proc/self/maps and
/// the `version.py` (pip torch) or `build-version` (libtorch zip) beside its lib folder.
pub fn loaded_libtorch() -> (String, String) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let Some(lib) = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("libtorch_cpu.so"))
    else {
        return (
            "unknown".into(),
            "libtorch_cpu.so not found in /proc/self/maps".into(),
        );
    };
    let dir = Path::new(lib).parent().unwrap_or(Path::new("/"));
    let root = dir.parent().unwrap_or(dir);
    let from_py = std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("__version__"))
                .and_then(|l| l.split(['\'', '"']).nth(1).map(str::to_owned))
        });
    let from_zip = || {
        std::fs::read_to_string(root.join("build-version"))
            .ok()
            .map(|s| s.trim().to_owned())
    };
    (
        from_py
            .or_else(from_zip)
            .unwrap_or_else(|| "unknown".into()),
        dir.display().to_string(),
    )
}
