//! Link-time set-up for libtorch (see ../shared/docs/GPU.md and DEVELOPERS.md):
//! - an rpath into the torch/lib folder torch-sys built against, so `cbrrel` starts from any
//!   directory without a user-set LD_LIBRARY_PATH;
//! - libtorch_cuda / libc10_cuda kept in DT_NEEDED with --no-as-needed: nothing in our code
//!   references their symbols, so the linker would drop them and `tch::Cuda::is_available()`
//!   would then be false even on a GPU machine.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB not set: no rpath, no torch_cuda link");
        return;
    };
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
