//! Link-time set-up for libtorch (see ../shared/docs/GPU.md and DEVELOPERS.md):
//! - an rpath into the torch/lib folder torch-sys built against, so `cbrrel` starts from any
//!   directory without a user-set LD_LIBRARY_PATH;
//! - libtorch_cuda / libc10_cuda kept in DT_NEEDED with --no-as-needed: nothing in our code
//!   references their symbols, so the linker would drop them and `tch::Cuda::is_available()`
//!   would then be false even on a GPU machine;
//! - src/train/adamw.cpp compiled against that libtorch's headers (the fused AdamW kernel,
//!   which tch 0.24 does not bind), with the flags torch-sys compiles its own C++ with —
//!   the C++11 ABI flag decided as torch-sys decides it (asked of the venv's torch with
//!   LIBTORCH_USE_PYTORCH, else LIBTORCH_CXX11_ABI, default 1), so a shim built against an old
//!   pre-cxx11 libtorch links against the same std::string as libtorch.
use std::path::Path;

/// `_GLIBCXX_USE_CXX11_ABI` of the libtorch torch-sys builds against: "1" or "0".
fn cxx11_abi() -> String {
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_none() {
        return std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    }
    // The interpreter torch-sys runs: `python` inside a virtual environment, else `python3`.
    let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
        "python"
    } else {
        "python3"
    };
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("running {python} to ask torch for its C++ ABI: {e}"));
    let abi = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && (abi == "0" || abi == "1"),
        "{python} did not say torch's C++ ABI ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    abi
}

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-changed=src/train/adamw.cpp");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect(
        "DEP_TCH_LIBTORCH_LIB not set: torch-sys found no libtorch (build with \
         LIBTORCH_USE_PYTORCH=1 and the venv's python on PATH, as the Makefile does)",
    );
    // torch/lib → torch/include (a pip wheel and a libtorch archive are laid out alike).
    let include = Path::new(&lib).join("../include");
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", cxx11_abi()))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("src/train/adamw.cpp")
        .compile("cbrrel_adamw");
    // The shim calls into libtorch_cpu and c10 directly: name them after the archive.
    println!("cargo:rustc-link-search=native={lib}");
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    let cuda_libs: Vec<&str> = ["torch_cuda", "c10_cuda"]
        .into_iter()
        .filter(|name| Path::new(&lib).join(format!("lib{name}.so")).exists())
        .collect();
    if !cuda_libs.is_empty() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        for name in cuda_libs {
            println!("cargo:rustc-link-arg=-l{name}");
        }
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
